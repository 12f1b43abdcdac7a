build-o2a/obj/spool/scan.o: spool/scan.c spool/spool_int.h spool/spool.h
spool/spool_int.h:
spool/spool.h:
