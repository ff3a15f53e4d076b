/* harness.c -- see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AIW_TEST_PYTHON
#define AIW_TEST_PYTHON "/usr/bin/python3"
#endif
#ifndef AIW_TEST_SERVER
#define AIW_TEST_SERVER "tests/refservice/ai_worker_server.py"
#endif

extern char **environ;

refservice g_srv = {.pid = -1, .stdout_fd = -1, .lifeline_fd = -1};
refservice g_srv_nochat = {.pid = -1, .stdout_fd = -1, .lifeline_fd = -1};

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int test_slow(void) {
  const char *s = getenv("AIW_TEST_SLOW");
  return s != NULL && *s != '\0' && strcmp(s, "0") != 0;
}

int64_t hang_bound_ms(int64_t base) { return test_slow() ? base * 10 : base; }

void expect_within(int64_t t0, int64_t bound_ms, const char *what) {
  int64_t took = now_ms() - t0;
  ck_assert_msg(took < bound_ms, "%s took %lld ms (bound %lld ms)", what, (long long)took, (long long)bound_ms);
}

void threads_start(pthread_t *th, int n, void *(*fn)(void *), void *args, size_t arg_size) {
  for (int i = 0; i < n; i++) {
    int rc = pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * arg_size);
    ck_assert_msg(rc == 0, "pthread_create %d: %s", i, strerror(rc));
  }
}

void threads_join(pthread_t *th, int n) {
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
}

static void *interrupter_main(void *arg) {
  interrupter *it = arg;
  if (it->wait)
    while (sem_wait(&it->go) != 0) {
    }
  it->fired_at = now_ms();
  if (it->token != NULL) aiw_cancel_token_cancel(it->token);
  if (it->client != NULL) aiw_client_close(it->client);
  return NULL;
}

void interrupter_start(interrupter *it, aiw_cancel_token *token, aiw_client *client, int wait) {
  memset(it, 0, sizeof *it);
  it->token = token;
  it->client = client;
  it->wait = wait;
  ck_assert_int_eq(sem_init(&it->go, 0, 0), 0);
  threads_start(&it->thread, 1, interrupter_main, it, 0);
}

void interrupter_signal(interrupter *it) { sem_post(&it->go); }

void interrupter_join(interrupter *it) {
  pthread_join(it->thread, NULL);
  sem_destroy(&it->go);
}

void unique_id(char *buf, size_t size, const char *prefix) {
  static unsigned counter;
  snprintf(buf, size, "%s-%ld-%u", prefix, (long)getpid(), __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST));
}

int refservice_start(refservice *rs, const char *const *extra_args) {
  memset(rs, 0, sizeof *rs);
  rs->pid = -1;
  rs->stdout_fd = -1;
  rs->lifeline_fd = -1;
  snprintf(rs->events, sizeof rs->events, "%s/aiw-events-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  int efd = mkstemp(rs->events);
  if (efd < 0) {
    perror("mkstemp");
    return -1;
  }
  close(efd);

  const char *server = getenv("AIW_TEST_SERVER") ? getenv("AIW_TEST_SERVER") : AIW_TEST_SERVER;
  const char *argv[32];
  int n = 0;
  argv[n++] = AIW_TEST_PYTHON;
  argv[n++] = server;
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n++] = "--events";
  argv[n++] = rs->events;
  argv[n++] = "--exit-with-stdin";
  for (int i = 0; extra_args != NULL && extra_args[i] != NULL && n < 31; i++) argv[n++] = extra_args[i];
  argv[n] = NULL;

  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) {
    perror("pipe");
    return -1;
  }
  /* The server's stdin is a pipe only we write to: if this process dies
   * (a sanitizer abort, a crash), the server reads EOF and exits instead of
   * outliving us and holding the suite's output pipe open. */
  int lifeline[2];
  if (pipe2(lifeline, O_CLOEXEC) != 0) {
    perror("pipe");
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, lifeline[0], STDIN_FILENO);
  /* The server must see SIGTERM whatever this process blocks or ignores
   * (gRPC threads, valgrind). */
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, deflt;
  sigemptyset(&none);
  sigemptyset(&deflt);
  sigaddset(&deflt, SIGTERM);
  sigaddset(&deflt, SIGINT);
  sigaddset(&deflt, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &deflt);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawn(&pid, AIW_TEST_PYTHON, &fa, &attr, (char *const *)argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(pfd[1]);
  close(lifeline[0]);
  if (rc != 0) {
    fprintf(stderr, "harness: cannot start %s: %s\n", AIW_TEST_PYTHON, strerror(rc));
    close(pfd[0]);
    close(lifeline[1]);
    return -1;
  }
  rs->lifeline_fd = lifeline[1];
  rs->pid = pid;
  rs->stdout_fd = pfd[0];

  /* Read the LISTENING line (up to 60 s: python start-up under load). */
  char line[128];
  size_t len = 0;
  int64_t deadline = now_ms() + 60000;
  while (len < sizeof line - 1) {
    int64_t left = deadline - now_ms();
    if (left <= 0) break;
    struct pollfd p = {.fd = rs->stdout_fd, .events = POLLIN};
    int pr = poll(&p, 1, (int)left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    ssize_t r = read(rs->stdout_fd, line + len, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (line[len] == '\n') {
      line[len] = '\0';
      int port = 0;
      if (sscanf(line, "LISTENING %d", &port) == 1 && port > 0) {
        rs->port = port;
        snprintf(rs->target, sizeof rs->target, "127.0.0.1:%d", port);
        return 0;
      }
      fprintf(stderr, "harness: unexpected server output: %s\n", line);
      break;
    }
    len++;
  }
  fprintf(stderr, "harness: reference service did not report LISTENING\n");
  refservice_stop(rs);
  return -1;
}

int refservice_stop(refservice *rs) {
  int result = -1;
  if (rs->pid > 0) {
    kill(rs->pid, SIGTERM);
    int64_t deadline = now_ms() + 10000;
    int status = 0;
    for (;;) {
      pid_t w = waitpid(rs->pid, &status, WNOHANG);
      if (w == rs->pid) {
        result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (w < 0 && errno != EINTR) break;
      if (now_ms() > deadline) {
        fprintf(stderr, "harness: reference service ignored SIGTERM; killing it\n");
        kill(rs->pid, SIGKILL);
        waitpid(rs->pid, &status, 0);
        break;
      }
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    rs->pid = -1;
  }
  if (rs->stdout_fd >= 0) close(rs->stdout_fd);
  rs->stdout_fd = -1;
  if (rs->lifeline_fd >= 0) close(rs->lifeline_fd);
  rs->lifeline_fd = -1;
  if (rs->events[0] != '\0') unlink(rs->events);
  rs->events[0] = '\0';
  return result;
}

static void setup_one(refservice *rs, const char *const *extra) {
  if (refservice_start(rs, extra) != 0) {
    fprintf(stderr, "harness: FATAL: cannot start the reference service\n");
    exit(EXIT_FAILURE);
  }
}

static void teardown_one(refservice *rs) {
  int st = refservice_stop(rs);
  if (st != 0) fprintf(stderr, "harness: warning: reference service exit status %d\n", st);
}

void srv_setup(void) { setup_one(&g_srv, NULL); }
void srv_teardown(void) { teardown_one(&g_srv); }

void srv_nochat_setup(void) {
  static const char *const extra[] = {"--no-chat", NULL};
  setup_one(&g_srv_nochat, extra);
}
void srv_nochat_teardown(void) { teardown_one(&g_srv_nochat); }

/* A client to target with these limits (0: the library's default). */
static aiw_client *limited_client(const char *target, size_t max_recv, size_t max_send) {
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_ptr_nonnull(o);
  if (max_recv != 0) ck_assert_int_eq(aiw_client_options_set_max_receive_size(o, max_recv), AIW_OK);
  if (max_send != 0) ck_assert_int_eq(aiw_client_options_set_max_send_size(o, max_send), AIW_OK);
  aiw_client *c = NULL;
  aiw_error err;
  aiw_code rc = aiw_client_new(target, o, &c, &err);
  aiw_client_options_free(o);
  ck_assert_msg(rc == AIW_OK, "aiw_client_new(%s): %s: %s", target, aiw_code_name(rc), err.message);
  ck_assert_ptr_nonnull(c);
  return c;
}

aiw_client *test_client(const char *target, size_t max_recv) { return limited_client(target, max_recv, 0); }

aiw_client *send_limited_client(const char *target, size_t max_send) { return limited_client(target, 0, max_send); }

aiw_client *g_client;

void client_setup(void) { g_client = test_client(g_srv.target, 0); }
void client_big_setup(void) { g_client = test_client(g_srv.target, 64u << 20); }
void client_teardown(void) {
  aiw_client_free(g_client);
  g_client = NULL;
}

TCase *server_tcase(Suite *s, const char *name, int timeout_s, void (*client_up)(void)) {
  TCase *tc = tcase_create(name);
  tcase_add_unchecked_fixture(tc, srv_setup, srv_teardown);
  if (client_up != NULL) tcase_add_checked_fixture(tc, client_up, client_teardown);
  tcase_set_timeout(tc, timeout_s);
  suite_add_tcase(s, tc);
  return tc;
}

void unlistened_target(char *target, size_t size, int *fd) {
  *fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(*fd, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t alen = sizeof a;
  ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&a, &alen), 0);
  snprintf(target, size, "127.0.0.1:%d", ntohs(a.sin_port));
}

aiw_call_options *test_opts(int64_t timeout_ms, const char *request_id) {
  aiw_call_options *o = aiw_call_options_new();
  ck_assert_ptr_nonnull(o);
  if (timeout_ms > 0) ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, timeout_ms), AIW_OK);
  if (request_id != NULL) {
    aiw_error err;
    ck_assert_int_eq(aiw_call_options_add_metadata(o, "x-request-id", request_id, &err), AIW_OK);
  }
  return o;
}

void expect_outcome(const refservice *rs, const char *request_id, const char *want, int timeout_ms) {
  char outcome[64];
  ck_assert_msg(events_wait(rs, request_id, outcome, sizeof outcome, timeout_ms) == 0, "no events line for %s",
                request_id);
  ck_assert_msg(strcmp(outcome, want) == 0, "%s: outcome %s, want %s", request_id, outcome, want);
}

int events_wait(const refservice *rs, const char *request_id, char *out, size_t outsz, int timeout_ms) {
  char needle[200];
  snprintf(needle, sizeof needle, "\"request_id\": \"%s\"", request_id);
  int64_t deadline = now_ms() + hang_bound_ms(timeout_ms);
  for (;;) {
    FILE *f = fopen(rs->events, "r");
    if (f != NULL) {
      char line[8192];
      while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, needle) == NULL) continue;
        const char *o = strstr(line, "\"outcome\": \"");
        if (o == NULL) continue;
        o += strlen("\"outcome\": \"");
        size_t n = strcspn(o, "\"");
        if (n >= outsz) n = outsz - 1;
        memcpy(out, o, n);
        out[n] = '\0';
        fclose(f);
        return 0;
      }
      fclose(f);
    }
    if (now_ms() > deadline) return -1;
    struct timespec ts = {0, 20 * 1000 * 1000}; /* poll the log: the server writes it asynchronously */
    nanosleep(&ts, NULL);
  }
}

/* ------------------------------------------------------- reference vectors */

/* `embedding.py --serve`, next to the server script: one per process, started
 * by the first ref_vector call. Check forks each test (CK_FORK, test-c): a
 * forked process finds the parent's helper (owner != getpid()), leaves it to
 * the parent and starts its own. The pipes are close-on-exec, so no other
 * child (a reference service) holds them; the helper ends at EOF on its
 * stdin: at exit (emb_at_exit closes it and reaps the helper), or when this
 * process dies and the kernel closes it. */
static struct {
  pthread_mutex_t mu;
  pid_t owner;      /* the process that started the helper */
  pid_t pid;        /* the helper, or -1 */
  int to_fd;        /* write end of its stdin (ours: O_NONBLOCK) */
  int from_fd;      /* read end of its stdout (ours: O_NONBLOCK) */
  pid_t atexit_for; /* the process that registered emb_at_exit */
  char *line;       /* the last answer */
  size_t cap;
} g_emb = {PTHREAD_MUTEX_INITIALIZER, 0, -1, -1, -1, 0, NULL, 0};

/* Forgets the helper (under g_emb.mu): closes our ends; when it is this
 * process's, waits for it (it exits at EOF), killing it first if `kill_it`. */
static void emb_close(int kill_it) {
  if (g_emb.to_fd >= 0) close(g_emb.to_fd);
  if (g_emb.from_fd >= 0) close(g_emb.from_fd);
  g_emb.to_fd = g_emb.from_fd = -1;
  if (g_emb.pid > 0 && g_emb.owner == getpid()) {
    if (kill_it) kill(g_emb.pid, SIGKILL);
    while (waitpid(g_emb.pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  g_emb.pid = -1;
}

static void emb_at_exit(void) {
  /* A thread still in a request (exit from a failing test): leave the
   * helper to the kernel's closing of our pipes. */
  if (pthread_mutex_trylock(&g_emb.mu) != 0) return;
  emb_close(0);
  free(g_emb.line);
  g_emb.line = NULL;
  g_emb.cap = 0;
  pthread_mutex_unlock(&g_emb.mu);
}

/* Starts the helper (under g_emb.mu). NULL or what failed. */
static const char *emb_start(void) {
  if (g_emb.atexit_for != getpid()) {
    if (atexit(emb_at_exit) != 0) return "atexit failed";
    g_emb.atexit_for = getpid();
  }
  const char *server = getenv("AIW_TEST_SERVER") ? getenv("AIW_TEST_SERVER") : AIW_TEST_SERVER;
  const char *slash = strrchr(server, '/');
  char script[4096];
  snprintf(script, sizeof script, "%.*sembedding.py", slash != NULL ? (int)(slash - server + 1) : 0, server);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return "pipe failed";
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return "pipe failed";
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, deflt;
  sigemptyset(&none);
  sigemptyset(&deflt);
  sigaddset(&deflt, SIGTERM);
  sigaddset(&deflt, SIGINT);
  sigaddset(&deflt, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &deflt);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const char *argv[] = {AIW_TEST_PYTHON, script, "--serve", NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, AIW_TEST_PYTHON, &fa, &attr, (char *const *)argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    fprintf(stderr, "harness: cannot start %s %s --serve: %s\n", AIW_TEST_PYTHON, script, strerror(rc));
    close(in[1]);
    close(out[0]);
    return "cannot start the embedding helper";
  }
  g_emb.owner = getpid();
  g_emb.pid = pid;
  g_emb.to_fd = in[1];
  g_emb.from_fd = out[0];
  fcntl(g_emb.to_fd, F_SETFL, fcntl(g_emb.to_fd, F_GETFL) | O_NONBLOCK);
  fcntl(g_emb.from_fd, F_SETFL, fcntl(g_emb.from_fd, F_GETFL) | O_NONBLOCK);
  return NULL;
}

/* Waits until fd is ready for `events` or the deadline passes: 0 or -1. */
static int emb_wait(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return -1;
    struct pollfd p = {.fd = fd, .events = events};
    int pr = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
    if (pr > 0) return 0;
    if (pr < 0 && errno != EINTR) return -1;
  }
}

/* Writes all of buf to the helper (under g_emb.mu), with SIGPIPE blocked in
 * this thread: a helper that died gives EPIPE, not the signal. 0 or -1. */
static int emb_write(const char *buf, size_t n, int64_t deadline) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigpending(&pending);
  int was_pending = sigismember(&pending, SIGPIPE);
  int result = 0;
  while (n > 0) {
    ssize_t w = write(g_emb.to_fd, buf, n);
    if (w > 0) {
      buf += w;
      n -= (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && errno == EAGAIN && emb_wait(g_emb.to_fd, POLLOUT, deadline) == 0) {
      continue;
    } else {
      if (w < 0 && errno == EPIPE && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
      }
      result = -1;
      break;
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return result;
}

/* Reads one answer line into g_emb.line, NUL-terminated (under g_emb.mu). */
static int emb_read_line(int64_t deadline) {
  size_t len = 0;
  for (;;) {
    if (g_emb.cap - len < 65536) {
      size_t cap = g_emb.cap + 65536 + g_emb.cap / 2;
      char *p = realloc(g_emb.line, cap);
      if (p == NULL) return -1;
      g_emb.line = p;
      g_emb.cap = cap;
    }
    ssize_t r = read(g_emb.from_fd, g_emb.line + len, g_emb.cap - len - 1);
    if (r > 0) {
      char *nl = memchr(g_emb.line + len, '\n', (size_t)r);
      len += (size_t)r;
      if (nl != NULL) {
        if (nl != g_emb.line + len - 1) return -1; /* more than the answer */
        *nl = '\0';
        return 0;
      }
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && errno == EAGAIN && emb_wait(g_emb.from_fd, POLLIN, deadline) == 0) {
      continue;
    } else {
      return -1; /* EOF: the helper died; or the deadline */
    }
  }
}

/* Asks the helper (under g_emb.mu) for one vector; parses the answer. */
static const char *emb_request(const void *data, size_t len, int visual, float **out, size_t *n) {
  if (g_emb.pid > 0 && g_emb.owner != getpid()) emb_close(0); /* the parent's (a forked test) */
  if (g_emb.pid <= 0) {
    const char *why = emb_start();
    if (why != NULL) return why;
  }
  const char *kind = visual ? "visual " : "semantic ";
  size_t klen = strlen(kind), size = klen + 2 * len + 1;
  char *req = malloc(size);
  if (req == NULL) return "out of memory";
  memcpy(req, kind, klen);
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    req[klen + 2 * i] = hex[p[i] >> 4];
    req[klen + 2 * i + 1] = hex[p[i] & 15];
  }
  req[size - 1] = '\n';
  int64_t deadline = now_ms() + hang_bound_ms(60000); /* the first: python start-up under load */
  int rc = emb_write(req, size, deadline);
  free(req);
  if (rc != 0 || emb_read_line(deadline) != 0) {
    fprintf(stderr, "harness: the embedding helper (pid %ld) %s\n", (long)g_emb.pid,
            now_ms() >= deadline ? "did not answer in time" : "failed (exited?)");
    emb_close(1); /* the next request starts a new one */
    return "the embedding helper failed";
  }
  if (strncmp(g_emb.line, "error:", 6) == 0) {
    fprintf(stderr, "harness: the embedding helper answered: %s\n", g_emb.line);
    return "the embedding helper refused the request";
  }
  size_t count = 1;
  for (const char *c = g_emb.line; *c != '\0'; c++) count += *c == ' ';
  float *v = malloc(count * sizeof *v);
  if (v == NULL) return "out of memory";
  const char *c = g_emb.line;
  for (size_t i = 0; i < count; i++) {
    char *end;
    errno = 0;
    v[i] = strtof(c, &end); /* the double's decimal, rounded to float32: the service's float */
    if (end == c || errno != 0 || (*end != ' ' && *end != '\0') || (*end == '\0') != (i == count - 1)) {
      fprintf(stderr, "harness: the embedding helper's answer is not a vector: %.200s\n", g_emb.line);
      free(v);
      return "the embedding helper's answer is not a vector";
    }
    c = end + 1;
  }
  *out = v;
  *n = count;
  return NULL;
}

const char *ref_vector(const void *data, size_t len, int visual, float **out, size_t *n) {
  *out = NULL;
  *n = 0;
  pthread_mutex_lock(&g_emb.mu);
  const char *why = emb_request(data, len, visual, out, n);
  pthread_mutex_unlock(&g_emb.mu);
  return why;
}
