/*
 * test_keys.c - unit tests of store/ that need no memcached: SHA-256
 * known-answer vectors (padding boundaries, incremental feed), key
 * component encoding (no separator, control or space survives; round
 * trip), and key building (the 250-byte rule, the longest component
 * hashed to "~" + 32 hex, refusals of what cannot fit).
 */
#include "tlib.h"
#include "tlib_store.h"
#include "store.h"
#include "sha256.h"

/* SHA-256 known-answer vectors, incl. padding boundaries and incremental feed. */
static void test_sha256(void)
{
    static const struct { size_t n_a; const char *hex; } va[] = {
        { 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
        { 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
        { 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
        { 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
        { 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
        { 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
        { 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
    };
    char hex[65], a[128], name[64];
    tlib_sha_hex("", 0, hex);
    T_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256 empty");
    tlib_sha_hex("abc", 3, hex);
    T_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 abc");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tlib_sha_hex(m, strlen(m), hex);
    T_STREQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "sha256 448-bit");
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof va / sizeof va[0]; i++) {
        tlib_sha_hex(a, va[i].n_a, hex);
        snprintf(name, sizeof name, "sha256 %zu x 'a'", va[i].n_a);
        T_STREQ(hex, va[i].hex, name);
    }
    tlsrpt_sha256_ctx c;
    unsigned char dig[32];
    tlsrpt_sha256_init(&c);
    for (int i = 0; i < 1000000 / 125; i++)
        tlsrpt_sha256_update(&c, a, 125);       /* odd chunking across blocks */
    tlsrpt_sha256_final(&c, dig);
    tlsrpt_hex(hex, dig, 32);
    T_STREQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "sha256 million a");
}

/* Component encoding: every byte, no separators or controls survive, round trip. */
static void test_component(void)
{
    char raw[256], enc[800], dec[300];
    int bad = 0, n;
    for (int i = 1; i < 256; i++)
        raw[i - 1] = (char)i;
    raw[255] = 0;
    n = tlsrpt_key_component(enc, sizeof enc, raw);
    T_CHECK(n > 0 && (size_t)n == strlen(enc), "component length returned");
    for (const char *p = enc; *p; p++)
        if (*p == ' ' || *p == '\r' || *p == '\n' || *p == ':' || *p == '~' || (unsigned char)*p < 0x21
            || (unsigned char)*p > 0x7e)
            bad++;
    T_INTEQ(bad, 0, "component has no space/CR/LF/colon/control/tilde");
    n = tlsrpt_key_decode(dec, sizeof dec, enc);
    T_CHECK(n == 255 && memcmp(dec, raw, 256) == 0, "component decode round trip of all bytes");
    tlsrpt_key_component(enc, sizeof enc, "Google Inc.:x\r\n%~");
    T_STREQ(enc, "Google%20Inc.%3Ax%0D%0A%25%7E", "component upper-case %XX");
    tlsrpt_key_component(enc, sizeof enc, "a-b_c.D9");
    T_STREQ(enc, "a-b_c.D9", "component keeps [A-Za-z0-9._-]");
    T_INTEQ(tlsrpt_key_component(enc, 4, "a b"), -1, "component -1 when it does not fit");
    T_INTEQ(tlsrpt_key_component(enc, 4, "abc"), 3, "component exact fit");
    T_INTEQ(tlsrpt_key_decode(dec, sizeof dec, "~0123"), -1, "decode refuses hashed component");
    T_INTEQ(tlsrpt_key_decode(dec, sizeof dec, "%G1"), -1, "decode refuses bad escape");
    T_INTEQ(tlsrpt_key_decode(dec, sizeof dec, "ab%4"), -1, "decode refuses short escape");
    T_INTEQ(tlsrpt_key_decode(dec, sizeof dec, "a b"), -1, "decode refuses raw space");
}

/* Key building: join, exact 250 limit, longest component hashed with "~" + 32 hex. */
static void test_key_build(void)
{
    char key[512], big[400], hex[65], want[40];
    const char *c4[] = { "d", "example.com", "2026-05-11", "ok" };
    int n = tlsrpt_key_build(key, sizeof key, "tlsrpt:", c4, 4);
    T_STREQ(key, "tlsrpt:d:example.com:2026-05-11:ok", "key build joins with ':'");
    T_INTEQ(n, (int)strlen(key), "key build returns length");
    /* prefix 7 + "d:" 2 + X + ":" + "ok" 2 = 250 when X = 238 */
    memset(big, 'x', 238);
    big[238] = 0;
    const char *c3[] = { "d", big, "ok" };
    n = tlsrpt_key_build(key, sizeof key, "tlsrpt:", c3, 3);
    T_CHECK(n == 250 && strchr(key, '~') == NULL, "key of exactly 250 bytes kept");
    memset(big, 'x', 239);
    big[239] = 0;
    n = tlsrpt_key_build(key, sizeof key, "tlsrpt:", c3, 3);
    tlib_sha_hex(big, 239, hex);
    snprintf(want, sizeof want, "~%.32s", hex);
    T_CHECK(n > 0 && n <= 250, "key of 251 bytes shortened");
    T_CHECK(strstr(key, want) != NULL && strncmp(key, "tlsrpt:d:~", 10) == 0,
            "longest component replaced by ~ + 32 hex of SHA-256");
    memset(big, 'y', 300);
    big[300] = 0;
    const char *c5[] = { "d", big, "2026-05-11", big, "fail" };
    n = tlsrpt_key_build(key, sizeof key, "tlsrpt:", c5, 5);
    T_CHECK(n > 0 && n <= 250 && strchr(key, ' ') == NULL, "two long components both hashed");
    char prefix[300];
    memset(prefix, 'p', 260);
    prefix[260] = 0;
    T_INTEQ(tlsrpt_key_build(key, sizeof key, prefix, c4, 4), -1, "over-long prefix refused");
    T_INTEQ(tlsrpt_key_build(key, 10, "tlsrpt:", c4, 4), -1, "small output buffer refused");
}

/* Offline checks only. */
int main(void)
{
    test_sha256();
    test_component();
    test_key_build();
    T_MAIN_END();
}
