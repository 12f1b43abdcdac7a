/*
 * keys_auth.c - the DKIM keys of tlsrpt-milter.conf (RFC 8460 section 3:
 * only authentic reports count): Authentication, OnUnauthenticated,
 * Reporters, DkimTimeout, DkimKeyFile, DkimRequireTlsrptService and
 * DkimNameservers, their setters and printers for the table in keys.c, and
 * their mapping onto auth/'s tlsrpt_auth_conf.
 *
 * Checked on the key's line, by the rule of auth/ itself: a Reporters entry
 * must be an organisational domain (tlsrpt_org_domain: "mail.google.com" is
 * refused with the one to use), DkimNameservers a list auth/ accepts (asked
 * by building a throwaway tlsrpt_auth_lib with it, which sends nothing),
 * DkimKeyFile an absolute path. Whether the key file can be read and parsed
 * is a check of the machine (milter/check.c, at -n and at every start or
 * reload), as for the socket directory.
 * Limits: TM_CONF_MAX_REPORTERS entries; DkimTimeout 1..TM_CONF_MAX_DKIM_TIMEOUT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "keydefs.h"

static const char *const auth_names[] = { "none", "dkim", NULL };
static const char *const unauth_names[] = { "deliver", "discard", NULL };
static const char *const yesno_names[] = { "no", "yes", NULL };

/* Authentication dkim | none. */
int tm_set_authentication(tm_config *c, const char *v, char *m)
{
    return tm_kp_set_enum("Authentication", auth_names, v, &c->authentication, m);
}

/* OnUnauthenticated deliver | discard. */
int tm_set_on_unauth(tm_config *c, const char *v, char *m)
{
    return tm_kp_set_enum("OnUnauthenticated", unauth_names, v, &c->on_unauth, m);
}

/* DkimRequireTlsrptService no | yes. */
int tm_set_dkim_require(tm_config *c, const char *v, char *m)
{
    return tm_kp_set_enum("DkimRequireTlsrptService", yesno_names, v, &c->dkim_require_tlsrpt, m);
}

/* DkimTimeout: seconds for all key lookups of one mail. */
int tm_set_dkim_timeout(tm_config *c, const char *v, char *m)
{
    if (tm_kp_parse_int(v, 1, TM_CONF_MAX_DKIM_TIMEOUT, &c->dkim_timeout_s) != 0)
        return tm_kp_bad_number("DkimTimeout", v, "seconds 1..300", m);
    return 0;
}

/* One Reporters entry: an organisational domain, normalized into out. */
static int reporter_check(const char *tok, char *out, size_t outlen, char *m)
{
    char org[300];
    tlsrpt_normalize_domain(tok, out, outlen);
    int rc = out[0] ? tlsrpt_org_domain(out, org, sizeof org) : -1;
    if (rc == -2) {
        snprintf(m, TM_MSG_MAX, "bad value for Reporters: '%.200s' is a public suffix, not an "
                 "organisational domain", tok);
        return -1;
    }
    if (rc != 0) {
        snprintf(m, TM_MSG_MAX, "bad value for Reporters: '%.200s' (expected an organisational "
                 "domain such as google.com)", tok);
        return -1;
    }
    if (strcmp(org, out) != 0) {
        snprintf(m, TM_MSG_MAX, "bad value for Reporters: '%.150s' is not an organisational "
                 "domain (use '%.150s': a signer's subdomains are its organisation)", tok, org);
        return -1;
    }
    return 0;
}

/* Reporters: signer organisational domains, space/comma separated, may repeat. */
int tm_set_reporters(tm_config *c, const char *v, char *m)
{
    char tok[300], norm[300];
    int toolong;
    const char *p = v;
    while ((p = tm_kp_next_token(p, tok, sizeof tok, &toolong)) != NULL) {
        if (toolong) {
            snprintf(m, TM_MSG_MAX, "bad value for Reporters: an entry longer than 299 bytes");
            return -1;
        }
        if (reporter_check(tok, norm, sizeof norm, m) != 0 ||
            tm_kp_list_add(&c->reporters, &c->n_reporters, TM_CONF_MAX_REPORTERS, norm, m) != 0)
            return -1;
    }
    return 0;
}

/* DkimKeyFile: an absolute path, or empty for DNS. */
int tm_set_dkim_key_file(tm_config *c, const char *v, char *m)
{
    if (*v && *v != '/') {
        snprintf(m, TM_MSG_MAX, "bad value for DkimKeyFile: '%.200s' (expected an absolute "
                 "path, or nothing for keys from DNS)", v);
        return -1;
    }
    return tm_kp_set_str(&c->dkim_key_file, v, m);
}

/* DkimNameservers: what auth/ accepts (asked through a throwaway lib), or empty. */
int tm_set_dkim_nameservers(tm_config *c, const char *v, char *m)
{
    if (*v) {
        char err[256] = "";
        tlsrpt_auth_conf ac;
        memset(&ac, 0, sizeof ac);
        ac.nameservers = v;
        tlsrpt_auth_lib *lib = tlsrpt_auth_lib_new(&ac, err, sizeof err);
        if (!lib) {
            snprintf(m, TM_MSG_MAX, "bad value for DkimNameservers: %s", err);
            return -1;
        }
        tlsrpt_auth_lib_free(lib);
    }
    return tm_kp_set_str(&c->dkim_nameservers, v, m);
}

/* Printers of the DKIM keys. */
void tm_pr_authentication(FILE *f, const char *n, const tm_config *c)
{
    tm_kp_put(f, n, tm_kp_enum_name(auth_names, c->authentication));
}

void tm_pr_on_unauth(FILE *f, const char *n, const tm_config *c)
{
    tm_kp_put(f, n, tm_kp_enum_name(unauth_names, c->on_unauth));
}

void tm_pr_reporters(FILE *f, const char *n, const tm_config *c)
{
    tm_kp_put_list(f, n, c->reporters, c->n_reporters, 1);
}

void tm_pr_dkim_timeout(FILE *f, const char *n, const tm_config *c)
{
    fprintf(f, "%s %d\n", n, c->dkim_timeout_s);
}

void tm_pr_dkim_key_file(FILE *f, const char *n, const tm_config *c)
{
    tm_kp_put(f, n, c->dkim_key_file);
}

void tm_pr_dkim_require(FILE *f, const char *n, const tm_config *c)
{
    tm_kp_put(f, n, tm_kp_enum_name(yesno_names, c->dkim_require_tlsrpt));
}

void tm_pr_dkim_nameservers(FILE *f, const char *n, const tm_config *c)
{
    tm_kp_put(f, n, c->dkim_nameservers);
}

/* The DKIM defaults (tm_config_init); -1 on no memory. */
int tm_auth_defaults(tm_config *cfg)
{
    cfg->authentication = TM_AUTH_DKIM;
    cfg->on_unauth = TM_UNAUTH_DELIVER;
    cfg->dkim_timeout_s = TLSRPT_AUTH_DEFAULT_TIMEOUT;
    cfg->dkim_require_tlsrpt = 0;
    cfg->dkim_key_file = strdup("");
    cfg->dkim_nameservers = strdup("");
    return cfg->dkim_key_file && cfg->dkim_nameservers ? 0 : -1;
}

/* Free what the DKIM keys own (tm_config_free). */
void tm_auth_free(tm_config *cfg)
{
    tm_kp_list_free(cfg->reporters, cfg->n_reporters);
    free(cfg->dkim_key_file);
    free(cfg->dkim_nameservers);
}

/* Fill a DKIM configuration from cfg (config.h). */
void tm_config_auth_conf(const tm_config *cfg, tlsrpt_auth_conf *ac)
{
    memset(ac, 0, sizeof *ac);
    ac->timeout_s = cfg->dkim_timeout_s;
    ac->key_file = cfg->dkim_key_file && cfg->dkim_key_file[0] ? cfg->dkim_key_file : NULL;
    ac->nameservers = cfg->dkim_nameservers && cfg->dkim_nameservers[0] ? cfg->dkim_nameservers
                      : NULL;
    ac->require_tlsrpt_service = cfg->dkim_require_tlsrpt;
    ac->reporters = (const char *const *)cfg->reporters;
    ac->n_reporters = cfg->n_reporters;
}

/* The key an auth/ start error is about (config.h). */
int tm_config_auth_key(const tm_config *cfg)
{
    if (cfg->dkim_key_file && cfg->dkim_key_file[0])
        return TM_K_DKIM_KEY_FILE;
    if (cfg->dkim_nameservers && cfg->dkim_nameservers[0])
        return TM_K_DKIM_NAMESERVERS;
    return TM_K_AUTHENTICATION;
}
