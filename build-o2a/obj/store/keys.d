build-o2a/obj/store/keys.o: store/keys.c store/store_int.h store/store.h \
 parser/tlsrpt.h store/sha256.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
store/sha256.h:
