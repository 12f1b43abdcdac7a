build-o2a/obj/parser/mime.o: parser/mime.c parser/decoder_int.h \
 parser/stages.h parser/tlsrpt.h
parser/decoder_int.h:
parser/stages.h:
parser/tlsrpt.h:
