build-o2a/obj/store/burst.o: store/burst.c store/store_int.h \
 store/store.h parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
