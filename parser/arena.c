/*
 * arena.c - the memory of one decoded report: every string and array of a
 * tlsrpt_report, and the report itself, come from one arena of 64 KiB
 * blocks and go with one tlsrpt_report_free. A report of 10,000
 * failure-details is ~100,000 strings: one malloc each cost more than
 * decoding them.
 * Limits: a request larger than a block gets a block of its own; the total
 * is bounded by the decoded report size (max_report_bytes) times a small
 * factor. Errors: NULL on out of memory (or a size overflow).
 */
#include "stages.h"
#include <stdlib.h>

#define ARENA_BLOCK 65536
#define ARENA_ALIGN 16

struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct tlsrpt_arena {
    struct arena_block *head;
    size_t bytes;               /* malloc'd for blocks, headers included */
};

/* A new, empty arena. */
tlsrpt_arena *arena_new(void)
{
    return calloc(1, sizeof(tlsrpt_arena));
}

/* n zeroed bytes, aligned; NULL on out of memory. */
void *arena_alloc(tlsrpt_arena *a, size_t n)
{
    struct arena_block *b = a->head;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0 || n > SIZE_MAX / 2)
        return n == 0 ? arena_alloc(a, 1) : NULL;
    if (!b || b->size - b->used < n) {
        size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        if (!(b = malloc(sizeof *b + size)))
            return NULL;
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        a->bytes += sizeof *b + size;
    }
    void *p = b->data + b->used;
    b->used += n;
    return memset(p, 0, n);
}

/* Bytes the arena holds (NULL: 0). */
size_t arena_size(const tlsrpt_arena *a)
{
    return a ? sizeof *a + a->bytes : 0;
}

/* Free every block and the arena. */
void arena_free(tlsrpt_arena *a)
{
    if (!a)
        return;
    for (struct arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}
