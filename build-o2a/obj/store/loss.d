build-o2a/obj/store/loss.o: store/loss.c store/store_int.h store/store.h \
 parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
