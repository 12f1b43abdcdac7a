/*
 * budget.c - the decoders' memory budget and the heap trim after a burst (see
 * budget.h for the rules).
 *
 * State: the sums of all mails' charges and of the running calls'
 * reservations, under one mutex; a condition variable wakes the calls that
 * wait for room whenever a reservation or a charge goes down. Waits are
 * bounded (TM_MEM_WAIT_MS, checked in TM_MEM_TICK_MS steps so that a stop is
 * seen). The RSS is read from /proc/self/statm (no allocation).
 * Errors: none of these calls fails otherwise; an unreadable statm means no
 * trim.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "budget.h"

#define TM_MEM_TICK_MS 10

static pthread_mutex_t b_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t b_cond = PTHREAD_COND_INITIALIZER;
static size_t b_charged;            /* sum of the mails' charges */
static size_t b_reserved;           /* sum of the running calls' reservations */
static size_t b_idle_rss;           /* RSS of the milter with no decoder memory */
static atomic_int b_trimming;

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
static long since_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Fill a why. Under the lock. */
static void why_fill(tm_mem_why *why, size_t budget, size_t need, long waited, int stopped)
{
    if (!why)
        return;
    why->budget = budget;
    why->in_use = b_charged + b_reserved;
    why->need = need;
    why->waited_ms = waited;
    why->stopped = stopped;
}

/* Note a mail's peak. */
static void note_peak(tm_mem *mm)
{
    if (mm->charged + mm->reserved > mm->peak)
        mm->peak = mm->charged + mm->reserved;
}

/* Reserve room for a decoding call (budget.h). */
int tm_mem_enter(tm_mem *mm, size_t reserve, size_t budget, int (*stopping)(void),
                 tm_mem_why *why)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&b_lock);
    for (;;) {
        size_t used = b_charged + b_reserved;
        if (used <= budget && reserve <= budget - used)
            break;
        long waited = since_ms(&t0);
        int stop = stopping && stopping();
        int never = reserve > budget || mm->charged > budget - reserve;  /* not even alone */
        if (stop || never || waited >= TM_MEM_WAIT_MS) {
            why_fill(why, budget, reserve, waited, stop);
            pthread_mutex_unlock(&b_lock);
            return -1;
        }
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += TM_MEM_TICK_MS * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&b_cond, &b_lock, &dl);
    }
    b_reserved += reserve;
    mm->reserved = reserve;
    note_peak(mm);
    pthread_mutex_unlock(&b_lock);
    return 0;
}

/* Drop the reservation and charge the estimate (budget.h). */
int tm_mem_charge(tm_mem *mm, size_t estimate, size_t budget, tm_mem_why *why)
{
    pthread_mutex_lock(&b_lock);
    int wake = mm->reserved > 0 || estimate < mm->charged;
    b_reserved -= mm->reserved;
    mm->reserved = 0;
    b_charged = b_charged - mm->charged + estimate;
    mm->charged = estimate;
    note_peak(mm);
    int over = b_charged > budget;
    if (over)
        why_fill(why, budget, estimate, 0, 0);
    if (wake)
        pthread_cond_broadcast(&b_cond);
    pthread_mutex_unlock(&b_lock);
    return over ? -1 : 0;
}

/* Give a mail's charge back (budget.h). */
void tm_mem_release(tm_mem *mm)
{
    if (mm->charged == 0 && mm->reserved == 0)
        return;
    pthread_mutex_lock(&b_lock);
    b_charged -= mm->charged;
    b_reserved -= mm->reserved;
    mm->charged = mm->reserved = 0;
    pthread_cond_broadcast(&b_cond);
    pthread_mutex_unlock(&b_lock);
}

/* Charged and reserved by all mails (budget.h). */
size_t tm_mem_in_use(void)
{
    pthread_mutex_lock(&b_lock);
    size_t n = b_charged + b_reserved;
    pthread_mutex_unlock(&b_lock);
    return n;
}

/* The process's resident set in bytes, 0 when unknown. */
static size_t rss_bytes(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long size, res;
    if (sscanf(buf, "%lu %lu", &size, &res) != 2)
        return 0;
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* Note the idle RSS (budget.h). */
void tm_mem_init(void)
{
    size_t rss = rss_bytes();
    pthread_mutex_lock(&b_lock);
    b_idle_rss = rss;
    pthread_mutex_unlock(&b_lock);
}

/* Trim the heap when freed pages stay resident (budget.h). */
void tm_mem_trim_check(void)
{
    if (atomic_exchange(&b_trimming, 1))
        return;                                 /* another thread is at it */
    size_t rss = rss_bytes();
    pthread_mutex_lock(&b_lock);
    size_t used = b_charged + b_reserved, idle = b_idle_rss;
    pthread_mutex_unlock(&b_lock);
    if (rss > 0 && rss > idle + used + TM_MEM_TRIM_STEP) {
        malloc_trim(0);
        size_t after = rss_bytes();
        pthread_mutex_lock(&b_lock);
        used = b_charged + b_reserved;
        if (after > b_idle_rss + used + TM_MEM_TRIM_STEP / 2)
            b_idle_rss = after - used;          /* what the trim could not give back */
        pthread_mutex_unlock(&b_lock);
    }
    atomic_store(&b_trimming, 0);
}
