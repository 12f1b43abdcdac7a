build-o2a/obj/parser/decoder.o: parser/decoder.c parser/decoder_int.h \
 parser/stages.h parser/tlsrpt.h
parser/decoder_int.h:
parser/stages.h:
parser/tlsrpt.h:
