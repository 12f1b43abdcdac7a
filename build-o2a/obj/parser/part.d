build-o2a/obj/parser/part.o: parser/part.c parser/decoder_int.h \
 parser/stages.h parser/tlsrpt.h
parser/decoder_int.h:
parser/stages.h:
parser/tlsrpt.h:
