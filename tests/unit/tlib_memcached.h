/*
 * tlib_memcached.h - a private memcached for the unit tests, and checks that
 * read values back from it. tlib_mc_spawn() runs memcached on 127.0.0.1 only
 * (PR_SET_PDEATHSIG kills it if the test dies); tlib_mc_cleanup_on_exit()
 * makes an atexit hook and SIGINT/SIGTERM/SIGSEGV/SIGABRT kill every one
 * still running. Limits: TLIB_MC_MAX processes at a time (spawn fails
 * beyond); a value read back is cut at the caller's buffer, an index set
 * at 4095 bytes and 256 members. The read-back helpers take the
 * memcached_st explicitly and print PASS/FAIL lines through tlib.h.
 */
#ifndef TLIB_MEMCACHED_H
#define TLIB_MEMCACHED_H
#include <stddef.h>
#include <sys/types.h>
#include <libmemcached/memcached.h>

#define TLIB_MC_MAX 4

/* Is there a memcached binary on PATH? */
int tlib_mc_have_binary(void);
/* A random port in 20000..59999 that can be bound on 127.0.0.1 now; -1 if none found. */
int tlib_mc_free_port(void);
/* Does something accept connections on 127.0.0.1:port? */
int tlib_mc_port_open(int port);
/* Start memcached on 127.0.0.1:port into *pid; 0 when it listens within 5 s, else -1 and *pid = 0. */
int tlib_mc_spawn(int port, pid_t *pid);
/* Start memcached on a free port (5 tries); 0 with *port and *pid set, else -1. */
int tlib_mc_start(int *port, pid_t *pid);
/* The same two with extra memcached arguments (NULL-terminated, at most 8; e.g. "-m", "4"). */
int tlib_mc_spawn_x(int port, pid_t *pid, const char *const *extra);
int tlib_mc_start_x(int *port, pid_t *pid, const char *const *extra);
/* One "stats" value (curr_items, evictions, uptime...) of 127.0.0.1:port, -1 when unknown. */
long long tlib_mc_stat(int port, const char *name);
/* Kill and reap the memcached in *pid (if any); *pid becomes 0. */
void tlib_mc_stop(pid_t *pid);
/* Kill every memcached still running at exit or on a fatal signal. */
void tlib_mc_cleanup_on_exit(void);
/* A test's private memcached: SKIP `what` without the binary, FAIL when it does not start;
   else 0 with *port, *pid and servers ("127.0.0.1:PORT") set and cleanup at exit armed. */
int tlib_mc_boot(const char *what, int *port, pid_t *pid, char *servers, size_t n);

/* Value of key as a string into buf (cut to n - 1 bytes); 1 when found. */
int tlib_mc_get_str(memcached_st *m, const char *key, char *buf, size_t n);
/* Numeric value of a counter, -1 when missing. */
long long tlib_mc_get_num(memcached_st *m, const char *key);
/* Check a counter's exact value (-1: must be missing). */
void tlib_mc_check_num(memcached_st *m, const char *key, long long want, const char *name);
/* Check an index set's members (order free, each once; blank want: must be missing). */
void tlib_mc_check_set(memcached_st *m, const char *key, const char *want, const char *name);
#endif
