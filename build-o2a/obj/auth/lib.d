build-o2a/obj/auth/lib.o: auth/lib.c auth/auth_int.h \
 /usr/include/opendkim/dkim.h auth/auth.h
auth/auth_int.h:
/usr/include/opendkim/dkim.h:
auth/auth.h:
