build-o2a/obj/spool/pending.o: spool/pending.c spool/spool_int.h \
 spool/spool.h
spool/spool_int.h:
spool/spool.h:
