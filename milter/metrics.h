/*
 * metrics.h - the milter's own figures, written as a Prometheus textfile
 * (MetricsFile, every MetricsInterval seconds and at the stop) for
 * node_exporter's textfile collector. README "Monitoring" lists every metric.
 *
 * The event calls (tm_metrics_*) may come from any thread at any time, before
 * tm_metrics_start and after tm_metrics_stop too: they are lock-free atomic
 * adds and never block a mail. Only the writer thread touches the file
 * (temporary file in the same directory, then rename: a reader never sees a
 * half-written file). Figures count since the process started
 * (tlsrpt_milter_start_time_seconds), across reloads.
 * Reason labels come from a fixed table (metrics.c); any other token is
 * counted as "other", so no string from a mail ever becomes a label.
 */
#ifndef TM_METRICS_H
#define TM_METRICS_H

#include <time.h>
#include "config.h"

/* DKIM results of judged reports. */
enum tm_dkim_result { TM_DKIM_PASS = 0, TM_DKIM_FAIL, TM_DKIM_NONE };

/* Start the writer for cfg's MetricsFile (none when empty: nothing is written, the
   figures are still kept). 0, or -1 with errno when the thread cannot start. */
int tm_metrics_start(const tm_config *cfg);
/* A reload installed cfg (generation id): take its MetricsFile / MetricsInterval. */
void tm_metrics_configure(const tm_config *cfg, unsigned long generation);
/* A reload failed (counted, the file keeps the old generation). */
void tm_metrics_reload_failed(void);
/* Write the file a last time and end the writer thread (at most one write: fast). */
void tm_metrics_stop(void);

/* A report candidate began (its decoder was created); *t0 gets the start time. */
void tm_metrics_mail_start(struct timespec *t0);
/* A report candidate got its end-of-message answer: time since t0 (zero: not timed). */
void tm_metrics_mail_done(const struct timespec *t0);
/* One report part counted / found a duplicate. */
void tm_metrics_counted(void);
void tm_metrics_duplicate(void);
/* One report part (or a whole mail that gave no report) not counted, by reason token. */
void tm_metrics_not_counted(const char *reason);
/* memcached failed for a report (store-unavailable, store-partial). */
void tm_metrics_store_error(void);
/* The archive could not be written or read (archive branch). */
void tm_metrics_archive_error(void);
/* Archive entries waiting to be counted (archive branch): a value, or a function the
   writer calls at each write (NULL: use the value). fn must be thread-safe and fast. */
void tm_metrics_set_pending(unsigned long n);
void tm_metrics_set_pending_fn(unsigned long (*fn)(void));
/* One judged report's DKIM result (enum tm_dkim_result). */
void tm_metrics_dkim(int result);
/* A report mail answered with a temporary failure: "memory-budget", "stopping",
   "store-unavailable" (other tokens: "other"). */
void tm_metrics_tempfail(const char *why);

/* The exposition text into f (for the writer and the unit test). -1 on a write error. */
int tm_metrics_write(FILE *f);

#endif
