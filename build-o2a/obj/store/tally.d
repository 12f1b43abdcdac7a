build-o2a/obj/store/tally.o: store/tally.c store/store_int.h \
 store/store.h parser/tlsrpt.h store/tally.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
store/tally.h:
