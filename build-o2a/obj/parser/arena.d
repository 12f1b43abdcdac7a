build-o2a/obj/parser/arena.o: parser/arena.c parser/stages.h \
 parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
