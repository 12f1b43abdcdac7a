build-o2a/obj/parser/report.o: parser/report.c parser/stages.h \
 parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
