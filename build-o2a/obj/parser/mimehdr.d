build-o2a/obj/parser/mimehdr.o: parser/mimehdr.c parser/stages.h \
 parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
