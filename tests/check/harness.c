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

uint32_t ref_fnv1a32(const void *data, size_t len) {
  const unsigned char *p = data;
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x01000193u;
  }
  return h;
}

void ref_vector(uint32_t seed, float *out, size_t n) {
  uint32_t x = seed != 0 ? seed : 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = (float)(((double)(int64_t)(x % 20001u) - 10000.0) / 10000.0);
  }
}
