build-o2a/obj/parser/zip.o: parser/zip.c parser/stages.h parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
