build-o2a/obj/config/keys_auth.o: config/keys_auth.c config/keydefs.h \
 config/config.h parser/tlsrpt.h store/store.h auth/auth.h
config/keydefs.h:
config/config.h:
parser/tlsrpt.h:
store/store.h:
auth/auth.h:
