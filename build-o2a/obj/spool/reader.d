build-o2a/obj/spool/reader.o: spool/reader.c spool/spool_int.h \
 spool/spool.h
spool/spool_int.h:
spool/spool.h:
