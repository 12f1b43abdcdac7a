build-o2a/obj/spool/writer.o: spool/writer.c spool/spool_int.h \
 spool/spool.h
spool/spool_int.h:
spool/spool.h:
