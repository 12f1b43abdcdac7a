build-o2a/obj/store/count.o: store/count.c store/store_int.h \
 store/store.h parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
