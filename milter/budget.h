/*
 * budget.h - MaxDecodeMemory: one budget for the decoders of all mails in flight
 * (issue 13.1), and giving memory back after a burst.
 *
 * Every report mail is charged what its decoder holds between calls
 * (tlsrpt_memory_estimate after each call). A call that may decode (a body
 * chunk, the end of the message) can grow the decoder up to one mail's bound
 * (tm_decode_mail_bound: a 16 KiB step of a gzip bomb inflates to megabytes
 * inside one call, out of sight of any estimate), so before it the mail
 * reserves the difference: the call runs only when the charges of all mails
 * plus the reservations of the calls running now plus its own fit in the
 * budget, else it waits (the others' calls end within milliseconds) up to
 * TM_MEM_WAIT_MS, or less when the milter is stopping. So the decoders
 * together never hold more than the budget, whatever the mails (within the
 * estimate's accuracy, README "Decoder limits"); MaxDecodeMemory holds at
 * least one mail's bound (config.c), so a mail alone always fits. A call
 * that waited too long, or a mail whose charge takes the sum over the budget
 * (many mails holding kept reports), gets a temporary failure (451): the
 * sender retries, nothing is lost.
 *
 * Ownership: a tm_mem lives in the mail's tm_msg; tm_mem_release gives its
 * charge back (the message reset). Thread-safe: one mutex and condition
 * variable for the sums; nothing slow runs under the lock.
 * Memory back: glibc keeps the heap pages a decoder freed resident (a value
 * bomb's tree, freed when the decoder stops at MaxJsonValues, stays in its
 * thread's malloc arena), so after every decoding call tm_mem_trim_check
 * reads the RSS and calls malloc_trim when it exceeds the idle RSS plus what
 * the decoders hold and may take now by more than TM_MEM_TRIM_STEP: the RSS
 * stays near the budget's use during a burst and goes back near idle after
 * it. Memory that a trim cannot give back raises the idle mark.
 */
#ifndef TM_BUDGET_H
#define TM_BUDGET_H

#include <stddef.h>

#define TM_MEM_WAIT_MS 2000                 /* longest wait for room in the budget */
#define TM_MEM_TRIM_STEP ((size_t)8 << 20)  /* RSS excess that makes a trim worth it */

/* One mail's share of the budget. */
typedef struct tm_mem {
    size_t charged;             /* its decoder's estimate after its last call */
    size_t reserved;            /* reserved for the call running now (0 between calls) */
    size_t peak;                /* highest charge + reservation of this mail */
} tm_mem;

/* Why a call did not fit (for the log line). */
typedef struct tm_mem_why {
    size_t budget, in_use, need;  /* MaxDecodeMemory, charged + reserved of all, wanted */
    long waited_ms;
    int stopped;                /* the wait ended because the milter is stopping */
} tm_mem_why;

/* Before a call that may decode: reserve bytes for it, waiting for room up to
   TM_MEM_WAIT_MS (or until stopping() says so). 0, or -1 with *why filled. */
int tm_mem_enter(tm_mem *mm, size_t reserve, size_t budget, int (*stopping)(void),
                 tm_mem_why *why);
/* After a call (entered or not): drop the reservation, charge estimate. Returns 0, or
   -1 when the decoders of all mails now hold more than budget (*why filled). */
int tm_mem_charge(tm_mem *mm, size_t estimate, size_t budget, tm_mem_why *why);
/* The mail ends: give its charge back. */
void tm_mem_release(tm_mem *mm);
/* Bytes charged and reserved by all mails now. */
size_t tm_mem_in_use(void);
/* At start (after the configuration, before the first mail): note the idle RSS. */
void tm_mem_init(void);
/* After a decoding call or a mail's end: trim the heap when the RSS exceeds the idle RSS
   plus what the decoders hold and may take by more than TM_MEM_TRIM_STEP. */
void tm_mem_trim_check(void);

#endif
