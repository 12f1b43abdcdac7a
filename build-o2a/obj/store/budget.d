build-o2a/obj/store/budget.o: store/budget.c store/store_int.h \
 store/store.h parser/tlsrpt.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
