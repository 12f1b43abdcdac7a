build-o2a/obj/store/index.o: store/index.c store/store_int.h \
 store/store.h parser/tlsrpt.h store/sha256.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
store/sha256.h:
