build-o2a/obj/tests/unit/tlib_dkim.o: tests/unit/tlib_dkim.c \
 tests/unit/tlib.h tests/unit/tlib_dkim.h auth/auth.h
tests/unit/tlib.h:
tests/unit/tlib_dkim.h:
auth/auth.h:
