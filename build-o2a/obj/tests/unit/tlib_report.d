build-o2a/obj/tests/unit/tlib_report.o: tests/unit/tlib_report.c \
 tests/unit/tlib_report.h parser/tlsrpt.h
tests/unit/tlib_report.h:
parser/tlsrpt.h:
