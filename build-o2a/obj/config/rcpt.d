build-o2a/obj/config/rcpt.o: config/rcpt.c config/config.h \
 parser/tlsrpt.h store/store.h auth/auth.h config/rcpt.h
config/config.h:
parser/tlsrpt.h:
store/store.h:
auth/auth.h:
config/rcpt.h:
