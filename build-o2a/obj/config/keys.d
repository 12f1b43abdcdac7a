build-o2a/obj/config/keys.o: config/keys.c config/keydefs.h \
 config/config.h parser/tlsrpt.h store/store.h auth/auth.h config/rcpt.h
config/keydefs.h:
config/config.h:
parser/tlsrpt.h:
store/store.h:
auth/auth.h:
config/rcpt.h:
