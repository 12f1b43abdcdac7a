build-o2a/obj/store/ixwrite.o: store/ixwrite.c store/store_int.h \
 store/store.h parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
