build-o2a/obj/parser/payload.o: parser/payload.c parser/stages.h \
 parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
