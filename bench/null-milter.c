/*
 * null-milter.c - the do-nothing peer of tlsrpt-milter for `make bench`: a
 * minimal libmilter filter that asks for every event the real milter asks
 * for (envelope, headers, body) and accepts every message unchanged.
 *
 * usage: null-milter SOCKET      (unix:/path or inet:PORT@HOST)
 * Runs in the foreground until SIGTERM/SIGINT (libmilter stops smfi_main).
 * Limits: libmilter's defaults (threads per connection). Errors: exit 1
 * when the socket cannot be set up.
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Every per-event callback: carry on with the next event. */
static sfsistat cb_continue_env(SMFICTX *ctx, char **argv)
{
    (void)ctx;
    (void)argv;
    return SMFIS_CONTINUE;
}

/* Header callback: ignore the header. */
static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    (void)ctx;
    (void)name;
    (void)value;
    return SMFIS_CONTINUE;
}

/* Body callback: ignore the chunk. */
static sfsistat cb_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return SMFIS_CONTINUE;
}

/* Connection callback: nothing to set up. */
static sfsistat cb_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void)ctx;
    (void)host;
    (void)addr;
    return SMFIS_CONTINUE;
}

/* End of headers, DATA, close: nothing to do. */
static sfsistat cb_eoh(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

/* End of message: accept it as is. */
static sfsistat cb_eom(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_ACCEPT;
}

int main(int argc, char **argv)
{
    struct smfiDesc desc = {
        .xxfi_name = "null-milter",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = 0,
        .xxfi_connect = cb_connect,
        .xxfi_envfrom = cb_continue_env,
        .xxfi_envrcpt = cb_continue_env,
        .xxfi_header = cb_header,
        .xxfi_eoh = cb_eoh,
        .xxfi_body = cb_body,
        .xxfi_eom = cb_eom,
        .xxfi_close = cb_eoh,
        .xxfi_data = cb_eoh,
    };

    if (argc != 2) {
        fputs("usage: null-milter unix:/path|inet:PORT@HOST\n", stderr);
        return 2;
    }
    if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE) {
        fputs("null-milter: cannot set up the socket\n", stderr);
        return 1;
    }
    if (argv[1][0] == 'u' || argv[1][0] == 'l')
        (void)smfi_opensocket(1);
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
