build-o2a/obj/store/rebuild.o: store/rebuild.c store/store_int.h \
 store/store.h parser/tlsrpt.h store/tally.h store/rbio.h
store/store_int.h:
store/store.h:
parser/tlsrpt.h:
store/tally.h:
store/rbio.h:
