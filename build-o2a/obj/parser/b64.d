build-o2a/obj/parser/b64.o: parser/b64.c parser/stages.h parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
