build-o2a/obj/tests/unit/tlib_store.o: tests/unit/tlib_store.c \
 tests/unit/tlib_store.h parser/tlsrpt.h store/store.h store/sha256.h
tests/unit/tlib_store.h:
parser/tlsrpt.h:
store/store.h:
store/sha256.h:
