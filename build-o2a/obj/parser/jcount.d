build-o2a/obj/parser/jcount.o: parser/jcount.c parser/stages.h \
 parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
