build-o2a/obj/parser/utf8.o: parser/utf8.c parser/stages.h \
 parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
