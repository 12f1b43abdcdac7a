build-o2a/obj/store/chain.o: store/chain.c store/store_int.h \
 store/store.h parser/tlsrpt.h store/sha256.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
store/sha256.h:
