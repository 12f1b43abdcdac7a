build-o2a/obj/parser/json.o: parser/json.c parser/stages.h \
 parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
