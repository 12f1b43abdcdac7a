/*
 * test_budget.c - milter/budget.c, the decoders' memory budget: a reservation that fits
 * runs at once; one that can never fit fails at once; one that fits once another call's
 * reservation ends waits for it (and no longer); one that does not fit in time fails
 * after TM_MEM_WAIT_MS; a stop ends a wait at once; a charge that takes the sum over
 * the budget is reported; a release gives everything back; the heap trim gives freed
 * pages back after a burst. Includes milter/budget.c directly (its state is static).
 */
#include "../../milter/budget.c"
#include "tlib.h"
#include <string.h>

#define MB ((size_t)1 << 20)

static atomic_int g_stop;

/* The stopping() callback of the tests. */
static int stop_flag(void)
{
    return atomic_load(&g_stop);
}

/* A second mail that holds a reservation for hold_ms, then charges est. */
struct holder {
    tm_mem mm;
    size_t reserve, est;
    int hold_ms;
    pthread_t t;
};

/* Thread body: reserve, hold, charge. */
static void *hold_main(void *arg)
{
    struct holder *h = arg;
    struct timespec d = { h->hold_ms / 1000, (long)(h->hold_ms % 1000) * 1000000L };
    nanosleep(&d, NULL);
    tm_mem_charge(&h->mm, h->est, 100 * MB, NULL);
    return NULL;
}

/* Start a holder that has already reserved (so the test's call sees it at once). */
static void holder_start(struct holder *h, size_t reserve, size_t est, int hold_ms)
{
    memset(&h->mm, 0, sizeof h->mm);
    h->reserve = reserve;
    h->est = est;
    h->hold_ms = hold_ms;
    T_INTEQ(tm_mem_enter(&h->mm, reserve, 100 * MB, NULL, NULL), 0, "holder: its reservation fits");
    pthread_create(&h->t, NULL, hold_main, h);
}

/* Reservations and charges, no waiting. */
static void test_sums(void)
{
    tm_mem a, b;
    tm_mem_why why;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    T_INTEQ(tm_mem_enter(&a, 60 * MB, 100 * MB, NULL, &why), 0, "sums: 60 of 100 fits");
    T_INTEQ(tm_mem_in_use(), 60 * MB, "sums: in use = the reservation");
    T_INTEQ(tm_mem_charge(&a, 5 * MB, 100 * MB, &why), 0, "sums: charge 5 after the call");
    T_INTEQ(tm_mem_in_use(), 5 * MB, "sums: in use = the charge");
    T_INTEQ(tm_mem_enter(&a, 95 * MB, 100 * MB, NULL, &why), 0, "sums: its own charge + 95 fits");
    T_INTEQ(tm_mem_charge(&a, 30 * MB, 100 * MB, &why), 0, "sums: charge 30");
    T_INTEQ(tm_mem_charge(&b, 70 * MB, 100 * MB, &why), 0, "sums: a second mail charged 70: 100");
    T_INTEQ(tm_mem_charge(&b, 71 * MB, 100 * MB, &why), -1, "sums: 101 of 100 is over");
    T_INTEQ(why.budget, 100 * MB, "sums: why.budget");
    T_INTEQ(why.in_use, 101 * MB, "sums: why.in_use");
    T_INTEQ(tm_mem_enter(&b, 30 * MB, 100 * MB, NULL, &why), -1,
            "sums: 71 charged + 30 can never fit in 100: refused at once");
    T_INTEQ(why.waited_ms, 0, "sums: ... without waiting");
    tm_mem_release(&a);
    tm_mem_release(&b);
    T_INTEQ(tm_mem_in_use(), 0, "sums: release gives everything back");
    T_CHECK(a.peak == 100 * MB && b.peak == 71 * MB, "sums: each mail's peak kept");
}

/* Waiting: for another call's reservation, until the timeout, until a stop. */
static void test_waits(void)
{
    tm_mem a;
    tm_mem_why why;
    struct holder h;
    struct timespec t0;
    memset(&a, 0, sizeof a);

    holder_start(&h, 60 * MB, 1 * MB, 300);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T_INTEQ(tm_mem_enter(&a, 50 * MB, 100 * MB, NULL, &why), 0,
            "wait: 50 fits once the other call's 60 ends");
    long ms = since_ms(&t0);
    T_CHECK(ms >= 250 && ms < 1500, "wait: ... it waited for that call, not longer");
    pthread_join(h.t, NULL);
    tm_mem_release(&h.mm);
    tm_mem_charge(&a, 0, 100 * MB, NULL);

    holder_start(&h, 60 * MB, 1 * MB, TM_MEM_WAIT_MS + 1000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T_INTEQ(tm_mem_enter(&a, 50 * MB, 100 * MB, NULL, &why), -1,
            "wait: refused when the other call does not end in time");
    ms = since_ms(&t0);
    T_CHECK(ms >= TM_MEM_WAIT_MS && ms < TM_MEM_WAIT_MS + 500, "wait: ... after TM_MEM_WAIT_MS");
    T_CHECK(why.waited_ms >= TM_MEM_WAIT_MS && !why.stopped, "wait: ... why says how long");
    T_INTEQ(why.in_use, 60 * MB, "wait: ... and what was in use");
    pthread_join(h.t, NULL);
    tm_mem_release(&h.mm);

    holder_start(&h, 60 * MB, 1 * MB, 1000);
    atomic_store(&g_stop, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T_INTEQ(tm_mem_enter(&a, 50 * MB, 100 * MB, stop_flag, &why), -1, "wait: a stop ends it");
    T_CHECK(since_ms(&t0) < 200 && why.stopped, "wait: ... at once, saying so");
    atomic_store(&g_stop, 0);
    pthread_join(h.t, NULL);
    tm_mem_release(&h.mm);
    tm_mem_release(&a);
    T_INTEQ(tm_mem_in_use(), 0, "wait: nothing left in use");
}

/* The trim: 64 MB of small blocks freed below a block still in use (so free() cannot
   shrink the heap by itself); the RSS goes back near where it was only with the trim. */
static void test_trim(void)
{
    enum { N = 64 * 1024 };
    static char *p[N];
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's allocator replaces glibc's malloc (freed blocks wait in its quarantine):
       malloc_trim has nothing to give back there, so the trim is checked by the plain
       build only */
    T_SKIP("trim: the trim gives the freed pages back", "ASan's allocator, not glibc's");
    (void)p;
    return;
#endif
    mallopt(M_ARENA_MAX, 1);
    tm_mem_init();
    size_t before = rss_bytes();
    for (int i = 0; i < N; i++) {
        p[i] = malloc(1000);
        if (p[i])
            memset(p[i], 1, 1000);
    }
    size_t full = rss_bytes();
    for (int i = 0; i < N - 1; i++)             /* the last one stays: the heap's top in use */
        free(p[i]);
    size_t freed = rss_bytes();
    tm_mem_trim_check();
    size_t after = rss_bytes();
    printf("# trim: RSS %zu kB, %zu kB with 64 MB of small blocks, %zu kB freed, %zu kB after "
           "the trim\n", before >> 10, full >> 10, freed >> 10, after >> 10);
    T_CHECK(full > before + 50 * MB, "trim: the blocks were resident");
    T_CHECK(freed > before + 50 * MB, "trim: freed below a live block, they stay resident");
    T_CHECK(after < before + TM_MEM_TRIM_STEP, "trim: the trim gives the freed pages back");
    size_t again = rss_bytes();
    tm_mem_trim_check();
    T_CHECK(rss_bytes() <= again + MB, "trim: nothing to do when the RSS is near idle");
    free(p[N - 1]);
}

int main(void)
{
    test_sums();
    test_waits();
    test_trim();
    T_MAIN_END();
}
