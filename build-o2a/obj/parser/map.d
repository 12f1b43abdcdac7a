build-o2a/obj/parser/map.o: parser/map.c parser/stages.h parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
