build-o2a/obj/tests/unit/tlib_spool.o: tests/unit/tlib_spool.c \
 tests/unit/tlib.h tests/unit/tlib_spool.h spool/spool.h
tests/unit/tlib.h:
tests/unit/tlib_spool.h:
spool/spool.h:
