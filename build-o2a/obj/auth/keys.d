build-o2a/obj/auth/keys.o: auth/keys.c auth/auth_int.h \
 /usr/include/opendkim/dkim.h auth/auth.h
auth/auth_int.h:
/usr/include/opendkim/dkim.h:
auth/auth.h:
