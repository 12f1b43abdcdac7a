/*
 * jcount.c - a pre-tokenizer that counts JSON values as the report's bytes
 * stream, before json-c sees them, so that json-c's tree (which is what
 * costs memory: ~70 bytes for a number, ~770 for an empty object) never
 * grows past max_values whatever the JSON's shape.
 *
 * It tracks only what decides where values start: strings (double- or
 * single-quoted, as json-c reads both, with backslash escapes), comments
 * (json-c skips "/ * ... * /" and "// ..." between tokens), nesting, and
 * whether a string in an object is a member name. Every value counts with
 * a weight for what json-c allocates for it (measured, see README):
 * JV_OBJECT for an object (its hash table), JV_ARRAY for an array, JV_OTHER
 * for a string, number or literal, and JV_KEY for a member name (key copy
 * and hash entry). Where input is not JSON json-c stops it; until then both
 * read the same bytes the same way, so the count cannot be fooled into
 * missing values json-c builds. Counting stops once the top-level container
 * closes (json-c ignores the bytes after it too). Constant memory.
 * The memory estimate uses finer tallies than the limit: json-c's bytes per
 * kind (JB_*, measured with json-c 0.16 on x86-64 glibc), a member name
 * costing more past an object's 16th member (its hash table grows), the
 * string bytes, and the tokener's buffer for the longest string.
 * Errors: -1 from json_count_feed when the count passes max_values.
 */
#include "stages.h"

#define JV_OBJECT 12
#define JV_ARRAY 2
#define JV_OTHER 1
#define JV_KEY 1

/* Kinds tallied for the memory estimate, and json-c's bytes for each. */
enum { JK_OBJECT = 0, JK_ARRAY, JK_STRING, JK_SCALAR, JK_KEY, JK_KEY_BIG };
static const size_t jk_bytes[6] = { 780, 150, 80, 72, 40, 130 };
static const size_t jk_weight[6] = { JV_OBJECT, JV_ARRAY, JV_OTHER, JV_OTHER, JV_KEY, JV_KEY };
#define HASH_INLINE 16          /* members an object's first hash table holds */

enum { JC_TOKEN = 0, JC_STRING, JC_ESCAPE, JC_SCALAR, JC_SLASH, JC_BLOCK, JC_BLOCK_STAR, JC_LINE };

/* A value (or member name) of kind k starts: count it. */
static void value(json_count *c, int k)
{
    c->values += jk_weight[k];
    c->n[k]++;
}

/* A member name starts in the innermost object: cheap while its hash table holds it. */
static int key_kind(json_count *c)
{
    unsigned d = c->depth - 1;
    if (c->depth == 0 || d >= JCOUNT_MEMBERS)
        return JK_KEY_BIG;
    if (c->members[d] <= HASH_INLINE)
        c->members[d]++;
    return c->members[d] <= HASH_INLINE ? JK_KEY : JK_KEY_BIG;
}

/* Open a container level (kind kept for the first JCOUNT_LEVELS levels). */
static void push(json_count *c, int is_obj)
{
    if (c->depth < JCOUNT_MEMBERS)
        c->members[c->depth] = 0;
    if (c->depth < JCOUNT_LEVELS) {
        unsigned char bit = (unsigned char)(1u << (c->depth % 8));
        c->obj[c->depth / 8] = is_obj ? c->obj[c->depth / 8] | bit : c->obj[c->depth / 8] & ~bit;
    }
    c->depth++;
}

/* Is the innermost open container an object? */
static int in_object(const json_count *c)
{
    unsigned d = c->depth - 1;
    return c->depth > 0 && d < JCOUNT_LEVELS && (c->obj[d / 8] >> (d % 8) & 1);
}

/* A byte between tokens (or ending a number or literal). */
static void token(json_count *c, unsigned char ch)
{
    switch (ch) {
    case ' ': case '\t': case '\r': case '\n':
        break;
    case '{':
        value(c, JK_OBJECT);
        push(c, 1);
        c->want_key = 1;
        break;
    case '[':
        value(c, JK_ARRAY);
        push(c, 0);
        c->want_key = 0;
        break;
    case '}': case ']':
        if (c->depth > 0 && --c->depth == 0)
            c->ended = 1;
        c->want_key = 0;
        break;
    case ',':
        c->want_key = (unsigned char)in_object(c);
        break;
    case ':':
        c->want_key = 0;
        break;
    case '"': case '\'':
        value(c, c->want_key ? key_kind(c) : JK_STRING);
        c->want_key = 0;
        c->quote = ch;
        c->str_len = 0;
        c->st = JC_STRING;
        break;
    case '/':
        c->st = JC_SLASH;
        break;
    default:                                    /* a number or literal starts */
        value(c, JK_SCALAR);
        c->st = JC_SCALAR;
        break;
    }
}

/* Bytes that end a number or literal (json-c's token delimiters), and that may end a string. */
static const unsigned char delim[256] = {
    [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, [','] = 1, [':'] = 1, [']'] = 1, ['}'] = 1,
    ['['] = 1, ['{'] = 1, ['"'] = 1, ['\''] = 1, ['/'] = 1,
};

/* Bytes >= 0x80 in b[0, n), eight at a time. */
static size_t high_bytes(const unsigned char *b, size_t n)
{
    size_t i = 0, k = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        k += (size_t)((((w & 0x8080808080808080ull) >> 7) * 0x0101010101010101ull) >> 56);
    }
    for (; i < n; i++)
        k += b[i] >> 7;
    return k;
}

/* Bytes inside a string: skip to its quote or a backslash (memchr); returns bytes used. */
static size_t string_bytes(json_count *c, const unsigned char *b, size_t n)
{
    const unsigned char *q = memchr(b, c->quote, n);
    size_t i = q ? (size_t)(q - b) : n;
    const unsigned char *bs = memchr(b, '\\', i);
    if (bs)
        i = (size_t)(bs - b);
    c->str_high += high_bytes(b, i);
    c->str_len += i;
    c->str_bytes += i;
    if (i < n) {
        c->st = b[i] == '\\' ? JC_ESCAPE : JC_TOKEN;
        if (c->st == JC_TOKEN && c->str_len > c->str_max)
            c->str_max = c->str_len;
        i++;
    }
    return i;
}

/* Count buf (see file comment). */
int json_count_feed(json_count *c, const char *buf, size_t len)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len && !c->ended) {
        unsigned char ch = b[i];
        switch (c->st) {
        case JC_STRING:
            i += string_bytes(c, b + i, len - i);
            continue;
        case JC_ESCAPE:                         /* \uXXXX: the hex digits are plain bytes */
            c->str_len++;
            c->str_bytes++;
            c->st = JC_STRING;
            break;
        case JC_SCALAR:
            while (i < len && !delim[b[i]])
                i++;                            /* the rest of a number or literal */
            if (i == len)
                continue;
            c->st = JC_TOKEN;
            token(c, b[i]);
            break;
        case JC_SLASH:                          /* json-c fails on a lone '/' */
            c->st = ch == '*' ? JC_BLOCK : ch == '/' ? JC_LINE : JC_TOKEN;
            if (c->st == JC_TOKEN)
                token(c, ch);
            break;
        case JC_BLOCK:
        case JC_BLOCK_STAR:
            c->st = ch == '*' ? JC_BLOCK_STAR : c->st == JC_BLOCK_STAR && ch == '/' ? JC_TOKEN : JC_BLOCK;
            break;
        case JC_LINE:
            if (ch == '\n')
                c->st = JC_TOKEN;
            break;
        default:
            token(c, ch);
            break;
        }
        i++;
        if (c->max_values && c->values > c->max_values)
            return -1;
    }
    return c->max_values && c->values > c->max_values ? -1 : 0;
}
/* Estimated bytes of json-c's tree and tokener for what was counted: bytes per kind,
   the string bytes (json-c's copies), and the tokener's buffer, which grows to the
   longest string rounded up to a power of two. */
size_t json_count_memory(const json_count *c)
{
    size_t longest = c->str_len > c->str_max ? c->str_len : c->str_max, pb = 32, n = 0;
    while (pb < longest && pb < SIZE_MAX / 4)
        pb *= 2;
    for (int k = 0; k < 6; k++)
        n += c->n[k] * jk_bytes[k];
    return n + c->str_bytes + pb;
}

/* Estimated bytes the report mapped from what was counted may take in its arena:
   each string once (its bytes >= 0x80 up to three times, repaired), 8 bytes of
   alignment and pointer per string, 96 per object (a failure entry). */
size_t json_count_arena(const json_count *c)
{
    return c->str_bytes + 2 * c->str_high + 8 * c->n[JK_STRING] + 96 * c->n[JK_OBJECT];
}
