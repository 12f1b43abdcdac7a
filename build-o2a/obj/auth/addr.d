build-o2a/obj/auth/addr.o: auth/addr.c auth/auth_int.h \
 /usr/include/opendkim/dkim.h auth/auth.h
auth/auth_int.h:
/usr/include/opendkim/dkim.h:
auth/auth.h:
