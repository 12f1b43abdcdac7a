build-o2a/obj/store/plan.o: store/plan.c store/store_int.h store/store.h \
 parser/tlsrpt.h store/sha256.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
store/sha256.h:
