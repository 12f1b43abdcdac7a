build-o2a/obj/store/pipe.o: store/pipe.c store/store_int.h store/store.h \
 parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
