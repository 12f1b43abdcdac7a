build-o2a/obj/config/keyparse.o: config/keyparse.c config/keydefs.h \
 config/config.h parser/tlsrpt.h store/store.h auth/auth.h
config/keydefs.h:
config/config.h:
parser/tlsrpt.h:
store/store.h:
auth/auth.h:
