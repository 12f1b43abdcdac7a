build-o2a/obj/tests/unit/tlib_memcached.o: tests/unit/tlib_memcached.c \
 tests/unit/tlib_memcached.h tests/unit/tlib.h
tests/unit/tlib_memcached.h:
tests/unit/tlib.h:
