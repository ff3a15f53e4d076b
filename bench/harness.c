/* harness.c -- see harness.h. */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static void usage(const char *prog) {
  fprintf(stderr, "usage: %s TARGET unary|stream|qunary|qstream CONC CALLS WARMUP\n", prog);
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
  a->queue = 0;
  if (strcmp(a->workload, "qunary") == 0 || strcmp(a->workload, "qstream") == 0) {
    a->queue = 1;
    a->workload++;
  }
  if (strcmp(a->workload, "unary") != 0 && strcmp(a->workload, "stream") != 0) usage(argv[0]);
  a->conc = (int)parse_long(argv[0], argv[3], 1);
  if (a->conc > 1024) usage(argv[0]);
  a->calls = parse_long(argv[0], argv[4], 1);
  a->warmup = parse_long(argv[0], argv[5], 0);
  if (a->calls < a->conc) usage(argv[0]);
}

/* `Name:  <number>` of /proc/self/status, or -1. */
static long proc_status(const char *name) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  size_t n = strlen(name);
  long v = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, name, n) == 0 && line[n] == ':') {
      v = strtol(line + n + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

void bench_meas_begin(bench_meas *m) {
  getrusage(RUSAGE_SELF, &m->r0);
  m->t0 = bench_now_s();
}

void bench_meas_end(bench_meas *m) {
  m->t1 = bench_now_s();
  getrusage(RUSAGE_SELF, &m->r1);
  m->threads = (int)proc_status("Threads");
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

void bench_print_result(const char *client, const char *workload, int conc, long calls, long chunks,
                        const bench_meas *m, double *lat, long n) {
  qsort(lat, (size_t)n, sizeof *lat, cmp_double);
  printf("RESULT client=%s workload=%s conc=%d calls=%ld chunks=%ld wall_s=%.6f cpu_user_s=%.6f "
         "cpu_sys_s=%.6f csw_vol=%ld csw_invol=%ld threads=%d rss_kb=%ld p50_us=%.1f p99_us=%.1f\n",
         client, workload, conc, calls, chunks, m->t1 - m->t0, tv_s(m->r1.ru_utime) - tv_s(m->r0.ru_utime),
         tv_s(m->r1.ru_stime) - tv_s(m->r0.ru_stime), m->r1.ru_nvcsw - m->r0.ru_nvcsw,
         m->r1.ru_nivcsw - m->r0.ru_nivcsw, m->threads, proc_status("VmHWM"), percentile(lat, n, 0.50) * 1e6,
         percentile(lat, n, 0.99) * 1e6);
  fflush(stdout);
}

/* ---- threads making blocking calls ------------------------------------ */

typedef struct worker {
  pthread_t tid;
  int index;
  long warmup;
  long calls;
  double *lat; /* calls entries */
  long chunks;
  int failed;
  char msg[256];
  bench_unary_fn ufn;
  bench_stream_fn sfn;
  void *ctx;
  pthread_barrier_t *ready; /* all warmed up (workers + main) */
  pthread_barrier_t *go;    /* main has read the clocks */
} worker;

static long one_call(worker *w) {
  if (w->ufn) return w->ufn(w->ctx, w->index, w->msg, sizeof w->msg) == 0 ? 0 : -1;
  return w->sfn(w->ctx, w->msg, sizeof w->msg);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  for (long i = 0; i < w->warmup && !w->failed; i++)
    if (one_call(w) < 0) w->failed = 1;
  pthread_barrier_wait(w->ready);
  pthread_barrier_wait(w->go);
  for (long i = 0; i < w->calls && !w->failed; i++) {
    double t0 = bench_now_s();
    long n = one_call(w);
    if (n < 0) {
      w->failed = 1;
      break;
    }
    w->lat[i] = bench_now_s() - t0;
    w->chunks += n;
  }
  return NULL;
}

static int run_threads(const char *client, const bench_args *a, bench_unary_fn ufn, bench_stream_fn sfn,
                       void *ctx) {
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
    w->ufn = ufn;
    w->sfn = sfn;
    w->ctx = ctx;
    w->ready = &ready;
    w->go = &go;
    if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(1);
    }
  }
  pthread_barrier_wait(&ready);
  bench_meas m;
  bench_meas_begin(&m);
  pthread_barrier_wait(&go);
  for (int t = 0; t < conc; t++) pthread_join(ws[t].tid, NULL);
  /* the workers have exited: count them as the peak they were */
  bench_meas_end(&m);
  m.threads += conc;
  int failed = 0;
  long chunks = 0;
  for (int t = 0; t < conc; t++) {
    chunks += ws[t].chunks;
    if (ws[t].failed) {
      if (!failed) printf("ERROR client=%s workload=%s thread=%d: %s\n", client, a->workload, t, ws[t].msg);
      failed = 1;
    }
  }
  if (!failed) bench_print_result(client, a->workload, conc, a->calls, chunks, &m, lat, a->calls);
  pthread_barrier_destroy(&ready);
  pthread_barrier_destroy(&go);
  free(ws);
  free(lat);
  return failed;
}

int bench_run_unary(const char *client, const bench_args *a, bench_unary_fn fn, void *ctx) {
  return run_threads(client, a, fn, NULL, ctx);
}

int bench_run_stream(const char *client, const bench_args *a, bench_stream_fn fn, void *ctx) {
  return run_threads(client, a, NULL, fn, ctx);
}
