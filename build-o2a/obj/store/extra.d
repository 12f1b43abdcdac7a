build-o2a/obj/store/extra.o: store/extra.c store/store_int.h \
 store/store.h parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
