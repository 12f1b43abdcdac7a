build-o2a/obj/store/memc.o: store/memc.c store/store_int.h store/store.h \
 parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
