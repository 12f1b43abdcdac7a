build-o2a/obj/tests/unit/tlib_util.o: tests/unit/tlib_util.c \
 tests/unit/tlib.h
tests/unit/tlib.h:
