build-o2a/obj/store/store.o: store/store.c store/store_int.h \
 store/store.h parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
