build-o2a/obj/spool/meta.o: spool/meta.c spool/spool_int.h spool/spool.h
spool/spool_int.h:
spool/spool.h:
