build-o2a/obj/parser/results.o: parser/results.c parser/decoder_int.h \
 parser/stages.h parser/tlsrpt.h
parser/decoder_int.h:
parser/stages.h:
parser/tlsrpt.h:
