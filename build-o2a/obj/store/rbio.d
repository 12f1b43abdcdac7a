build-o2a/obj/store/rbio.o: store/rbio.c store/rbio.h store/store_int.h \
 store/store.h parser/tlsrpt.h
store/rbio.h:
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
