build-o2a/obj/store/ops.o: store/ops.c store/store_int.h store/store.h \
 parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
