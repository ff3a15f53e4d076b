/* harness.c -- see harness.h. */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static void usage(const char *prog) {
  fprintf(stderr, "usage: %s TARGET unary|stream CONC CALLS WARMUP\n", prog);
  exit(2);
}

static long parse_long(const char *prog, const char *s, long min) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < min) usage(prog);
  return v;
}

void bench_parse_args(int argc, char **argv, bench_args *a) {
  if (argc != 6) usage(argv[0]);
  a->target = argv[1];
  a->workload = argv[2];
  if (strcmp(a->workload, "unary") != 0 && strcmp(a->workload, "stream") != 0) usage(argv[0]);
  a->conc = (int)parse_long(argv[0], argv[3], 1);
  if (a->conc > 1024) usage(argv[0]);
  a->calls = parse_long(argv[0], argv[4], 1);
  a->warmup = parse_long(argv[0], argv[5], 0);
  if (strcmp(a->workload, "stream") == 0 && a->conc != 1) usage(argv[0]);
  if (a->calls < a->conc) usage(argv[0]);
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *v, long n, double p) {
  long rank = (long)(p * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1];
}

static void print_result(const char *client, const bench_args *a, long calls, long chunks, double wall,
                         const struct rusage *r0, const struct rusage *r1, double *lat, long n) {
  qsort(lat, (size_t)n, sizeof *lat, cmp_double);
  printf("RESULT client=%s workload=%s conc=%d calls=%ld chunks=%ld wall_s=%.6f cpu_user_s=%.6f "
         "cpu_sys_s=%.6f p50_us=%.1f p99_us=%.1f\n",
         client, a->workload, a->conc, calls, chunks, wall, tv_s(r1->ru_utime) - tv_s(r0->ru_utime),
         tv_s(r1->ru_stime) - tv_s(r0->ru_stime), percentile(lat, n, 0.50) * 1e6, percentile(lat, n, 0.99) * 1e6);
  fflush(stdout);
}

/* ---- unary ----------------------------------------------------------- */

typedef struct worker {
  pthread_t tid;
  int index;
  long warmup;
  long calls;
  double *lat; /* calls entries */
  int failed;
  char msg[256];
  bench_unary_fn fn;
  void *ctx;
  pthread_barrier_t *ready; /* all warmed up (workers + main) */
  pthread_barrier_t *go;    /* main has read the clocks */
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  for (long i = 0; i < w->warmup && !w->failed; i++)
    if (w->fn(w->ctx, w->index, w->msg, sizeof w->msg) != 0) w->failed = 1;
  pthread_barrier_wait(w->ready);
  pthread_barrier_wait(w->go);
  for (long i = 0; i < w->calls && !w->failed; i++) {
    double t0 = now_s();
    if (w->fn(w->ctx, w->index, w->msg, sizeof w->msg) != 0) {
      w->failed = 1;
      break;
    }
    w->lat[i] = now_s() - t0;
  }
  return NULL;
}

int bench_run_unary(const char *client, const bench_args *a, bench_unary_fn fn, void *ctx) {
  int conc = a->conc;
  worker *ws = calloc((size_t)conc, sizeof *ws);
  double *lat = calloc((size_t)a->calls, sizeof *lat);
  if (!ws || !lat) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  pthread_barrier_t ready, go;
  pthread_barrier_init(&ready, NULL, (unsigned)conc + 1);
  pthread_barrier_init(&go, NULL, (unsigned)conc + 1);
  long off = 0;
  for (int t = 0; t < conc; t++) {
    worker *w = &ws[t];
    w->index = t;
    w->warmup = a->warmup;
    w->calls = a->calls / conc + (t < a->calls % conc ? 1 : 0);
    w->lat = lat + off;
    off += w->calls;
    w->fn = fn;
    w->ctx = ctx;
    w->ready = &ready;
    w->go = &go;
    if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(1);
    }
  }
  pthread_barrier_wait(&ready);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  double t0 = now_s();
  pthread_barrier_wait(&go);
  for (int t = 0; t < conc; t++) pthread_join(ws[t].tid, NULL);
  double wall = now_s() - t0;
  getrusage(RUSAGE_SELF, &r1);
  int failed = 0;
  for (int t = 0; t < conc; t++)
    if (ws[t].failed) {
      if (!failed) printf("ERROR client=%s workload=%s thread=%d: %s\n", client, a->workload, t, ws[t].msg);
      failed = 1;
    }
  if (!failed) print_result(client, a, a->calls, 0, wall, &r0, &r1, lat, a->calls);
  pthread_barrier_destroy(&ready);
  pthread_barrier_destroy(&go);
  free(ws);
  free(lat);
  return failed;
}

/* ---- stream ---------------------------------------------------------- */

int bench_run_stream(const char *client, const bench_args *a, bench_stream_fn fn, void *ctx) {
  char msg[256] = "";
  for (long i = 0; i < a->warmup; i++)
    if (fn(ctx, msg, sizeof msg) < 0) {
      printf("ERROR client=%s workload=stream warm-up: %s\n", client, msg);
      return 1;
    }
  double *lat = calloc((size_t)a->calls, sizeof *lat);
  if (!lat) return 1;
  long chunks = 0;
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  double t0 = now_s();
  for (long i = 0; i < a->calls; i++) {
    double s = now_s();
    long n = fn(ctx, msg, sizeof msg);
    if (n < 0) {
      printf("ERROR client=%s workload=stream: %s\n", client, msg);
      free(lat);
      return 1;
    }
    lat[i] = now_s() - s;
    chunks += n;
  }
  double wall = now_s() - t0;
  getrusage(RUSAGE_SELF, &r1);
  print_result(client, a, a->calls, chunks, wall, &r0, &r1, lat, a->calls);
  free(lat);
  return 0;
}
