/*
 * harness.h -- the measurement code shared by the C benchmark clients
 * (libaiw, raw C core) and the C++ one (grpc++), so that all of them are
 * timed by exactly the same code.
 *
 * Two ways to drive a workload:
 * - bench_run_unary / bench_run_stream: `conc` threads, each making blocking
 *   calls (one unary call, or one stream run to its end) one after another.
 *   The client supplies the call; the harness runs the warm-up, reads the
 *   clocks, runs the measured calls, reads them again and prints the line.
 * - an event loop of the client's own (one thread, `conc` calls in flight on
 *   one completion queue): the client brackets its measured phase with
 *   bench_meas_begin / bench_meas_end and prints with bench_print_result.
 *
 * The line (one per run):
 *
 *   RESULT client=NAME workload=unary|stream conc=K calls=N chunks=C wall_s=S cpu_user_s=U
 *          cpu_sys_s=Y csw_vol=V csw_invol=I threads=T rss_kb=R p50_us=P p99_us=Q
 *
 * CPU and context switches from getrusage(RUSAGE_SELF) (all threads),
 * threads = `Threads:` of /proc/self/status at the end of the measured
 * phase, rss_kb = VmHWM (peak RSS of the process). bench/report.py derives
 * the per-call figures and the ratios. Nothing here asserts a time.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stddef.h>
#include <sys/resource.h>

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
  int queue;            /* 1: the workload was given as qunary / qstream (one thread, a queue) */
  int conc;             /* calls (streams) in flight */
  long calls;           /* measured calls or streams, over all in flight */
  long warmup;          /* warm-up calls per thread / per slot in flight */
} bench_args;

/* Parses `prog TARGET unary|stream|qunary|qstream CONC CALLS WARMUP`; exits 2
 * on a usage error. */
void bench_parse_args(int argc, char **argv, bench_args *a);

/* Runs the workload on `conc` threads and prints the RESULT line (or an
 * ERROR line). Returns the process exit status: 0 on success, 1 if any call
 * failed. */
int bench_run_unary(const char *client, const bench_args *a, bench_unary_fn fn, void *ctx);
int bench_run_stream(const char *client, const bench_args *a, bench_stream_fn fn, void *ctx);

/* For clients with an event loop of their own. */
typedef struct bench_meas {
  struct rusage r0, r1;
  double t0, t1;
  int threads;
} bench_meas;
double bench_now_s(void);
void bench_meas_begin(bench_meas *m);
void bench_meas_end(bench_meas *m);
/* Sorts lat[0..n) (seconds) and prints the RESULT line. */
void bench_print_result(const char *client, const char *workload, int conc, long calls, long chunks,
                        const bench_meas *m, double *lat, long n);

#ifdef __cplusplus
}
#endif

#endif
