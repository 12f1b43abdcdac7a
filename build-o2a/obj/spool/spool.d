build-o2a/obj/spool/spool.o: spool/spool.c spool/spool_int.h \
 spool/spool.h
spool/spool_int.h:
spool/spool.h:
