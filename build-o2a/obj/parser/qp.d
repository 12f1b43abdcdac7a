build-o2a/obj/parser/qp.o: parser/qp.c parser/stages.h parser/tlsrpt.h
parser/stages.h:
parser/tlsrpt.h:
