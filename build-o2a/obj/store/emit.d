build-o2a/obj/store/emit.o: store/emit.c store/store_int.h store/store.h \
 parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
