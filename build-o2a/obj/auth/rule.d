build-o2a/obj/auth/rule.o: auth/rule.c auth/auth_int.h \
 /usr/include/opendkim/dkim.h auth/auth.h
auth/auth_int.h:
/usr/include/opendkim/dkim.h:
auth/auth.h:
