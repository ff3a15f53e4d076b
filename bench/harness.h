/*
 * harness.h -- the measurement loop shared by the C (libaiw) and C++ (grpc++)
 * benchmark clients, so that both are timed by exactly the same code.
 *
 * A client supplies one function that makes one call (unary) or runs one
 * stream to its end; the harness runs the warm-up, starts the clock and
 * getrusage(RUSAGE_SELF), runs the measured calls on `conc` threads, stops
 * both and prints one line:
 *
 *   RESULT client=NAME workload=W conc=K calls=N chunks=C wall_s=S cpu_user_s=U cpu_sys_s=Y
 *          p50_us=P p99_us=Q
 *
 * bench/report.py derives CPU per call / per chunk, calls/s and the ratios.
 * Nothing here asserts a time.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One unary call. Returns 0 on success (response verified), -1 on failure
 * (the harness prints `msg`, if set, and fails the run). `thread` is the
 * index of the calling thread, 0..conc-1. */
typedef int (*bench_unary_fn)(void *ctx, int thread, char *msg, size_t msg_size);

/* One stream run to its end. Returns the number of messages received
 * (verified), or -1 on failure. */
typedef long (*bench_stream_fn)(void *ctx, char *msg, size_t msg_size);

typedef struct bench_args {
  const char *target;
  const char *workload; /* "unary" or "stream" */
  int conc;             /* threads for unary; 1 for stream */
  long calls;           /* measured calls (unary: total over all threads) or streams */
  long warmup;          /* warm-up calls per thread (unary) or streams */
} bench_args;

/* Parses `prog TARGET unary|stream CONC CALLS WARMUP`; exits 2 on a usage error. */
void bench_parse_args(int argc, char **argv, bench_args *a);

/* Runs the workload and prints the RESULT line (or an ERROR line). Returns
 * the process exit status: 0 on success, 1 if any call failed. */
int bench_run_unary(const char *client, const bench_args *a, bench_unary_fn fn, void *ctx);
int bench_run_stream(const char *client, const bench_args *a, bench_stream_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
