build-o2a/obj/store/sha256.o: store/sha256.c store/sha256.h
store/sha256.h:
