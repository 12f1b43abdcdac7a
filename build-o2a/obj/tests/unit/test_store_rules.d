build-o2a/obj/tests/unit/test_store_rules.o: \
 tests/unit/test_store_rules.c tests/unit/tlib.h \
 tests/unit/tlib_memcached.h tests/unit/tlib_report.h parser/tlsrpt.h \
 tests/unit/tlib_store.h store/store.h
tests/unit/tlib.h:
tests/unit/tlib_memcached.h:
tests/unit/tlib_report.h:
parser/tlsrpt.h:
tests/unit/tlib_store.h:
store/store.h:
