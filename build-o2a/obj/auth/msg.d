build-o2a/obj/auth/msg.o: auth/msg.c auth/auth_int.h \
 /usr/include/opendkim/dkim.h auth/auth.h
auth/auth_int.h:
/usr/include/opendkim/dkim.h:
auth/auth.h:
