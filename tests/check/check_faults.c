/* check_faults.c -- suite "faults": the client against servers that fail.
 *
 *   restart     the reference service killed (SIGKILL) and restarted on the
 *               same port while calls run: every call ends OK or UNAVAILABLE
 *               before its deadline; the same client succeeds after the
 *               restart; wait-for-ready calls started during the outage ride
 *               it out and succeed.
 *   silent      a server that accepts TCP and never speaks: calls end
 *               DEADLINE_EXCEEDED at their deadline (blocking, stream,
 *               wait-for-ready, async with aiw_completion_deadline_expired 1).
 *   garbage     servers that answer with bytes that are not HTTP/2 (random
 *               bytes, an HTTP/1.1 response, an oversized frame, a SETTINGS
 *               frame followed by junk): calls end UNAVAILABLE or INTERNAL,
 *               well before their deadline.
 *   soak        a bounded soak (20 s; AIW_SOAK_SECONDS overrides, `make
 *               soak` runs it for 600 s) of mixed calls from several threads
 *               -- blocking, streams, async, raw, a client per call,
 *               wait-for-ready -- with the service restarted during it;
 *               threads (/proc/self/task), fds (/proc/self/fd) and VmRSS
 *               must be flat (a fixed slack) between the end of a warm-up
 *               and the end.
 *
 * The silent and garbage servers are threads of this process (loopback
 * listeners). Worker threads never ck_assert: they record the first
 * problem, checked after join. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai_service.pb-c.h"
#include "harness.h"

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ------------------------------------------------ the service, restarted */

/* Kills rs with SIGKILL (no grace: connections die with the process), reaps
 * it and releases its pipes and events file. */
static void srv_kill(refservice *rs) {
  ck_assert_int_gt(rs->pid, 0);
  ck_assert_int_eq(kill(rs->pid, SIGKILL), 0);
  int status = 0;
  while (waitpid(rs->pid, &status, 0) < 0 && errno == EINTR) {
  }
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the service ended with status 0x%x", status);
  rs->pid = -1;
  refservice_stop(rs);
}

/* Starts the service on `port` (the harness passes --port 0 first; the
 * last --port wins). Retries briefly while the port is still taken. */
static void srv_start_on(refservice *rs, int port) {
  char p[16];
  snprintf(p, sizeof p, "%d", port);
  const char *const extra[] = {"--port", p, NULL};
  for (int attempt = 0; attempt < 20; attempt++) {
    if (refservice_start(rs, extra) == 0) {
      ck_assert_int_eq(rs->port, port);
      return;
    }
    sleep_ms(250);
  }
  ck_abort_msg("cannot restart the reference service on port %d", port);
}

/* ------------------------------------------------------------- the load */

typedef struct load_worker {
  aiw_client *client;     /* shared; NULL: a new client per call (to target) */
  const char *target;
  int wfr;                /* wait-for-ready calls */
  int64_t timeout_ms;     /* of each call */
  const _Atomic int *stop; /* atomics: the test thread reads what workers write */
  int seq;                /* which op comes next */
  _Atomic int calls, ok, failed;
  _Atomic int64_t last_ok; /* now_ms() when the last OK call ended */
  char why[1024];         /* the first violation */
} load_worker;

static void violation(load_worker *w, const char *fmt, const char *op, aiw_code rc, const char *msg, long long took) {
  if (w->why[0] != '\0') return;
  snprintf(w->why, sizeof w->why, fmt, op, aiw_code_name(rc), msg, took);
}

/* Accounts for one call: `rc` must be OK, UNAVAILABLE (the server died) or
 * `also` (the op's own outcome, e.g. CALLBACK_ABORTED), `mismatch` NULL on
 * OK, and it must have ended by its deadline (plus slack). */
static void account(load_worker *w, const char *op, aiw_code rc, const aiw_error *err, const char *mismatch,
                    int64_t t0, aiw_code also) {
  int64_t took = now_ms() - t0;
  w->calls++;
  if (took > w->timeout_ms + hang_bound_ms(2000))
    violation(w, "%s ended %s (%s) after %lld ms, past its deadline", op, rc, err ? err->message : "", took);
  if (rc == AIW_OK || (also != AIW_OK && rc == also)) {
    if (mismatch != NULL) violation(w, "%s: %s, wrong answer: %s (%lld ms)", op, rc, mismatch, took);
    w->ok++;
    w->last_ok = now_ms();
    return;
  }
  w->failed++;
  if (rc != AIW_UNAVAILABLE) violation(w, "%s ended %s: %s (%lld ms)", op, rc, err ? err->message : "", took);
  sleep_ms(10); /* fail-fast calls fail at once while the server is down: do not spin */
}

static int chat_count(const aiw_chat_response *ch, void *ud) {
  (void)ch;
  ++*(int *)ud;
  return 0;
}

static int chat_abort_first(const aiw_chat_response *ch, void *ud) {
  (void)ch;
  ++*(int *)ud;
  return 1;
}

/* One call of the mix (op = seq % 6) on client c. */
static void load_once(load_worker *w, aiw_client *c, const aiw_call_options *o) {
  char text[64], buf[200];
  int op = w->seq++ % 6;
  snprintf(text, sizeof text, "soak-%d", w->seq);
  aiw_error err;
  int64_t t0 = now_ms();
  if (op == 0) { /* blocking GetEmbedding, checked */
    aiw_embedding_request *r = aiw_embedding_request_new();
    aiw_embedding_response *e = NULL;
    aiw_code rc = AIW_OUT_OF_MEMORY;
    if (r != NULL && aiw_embedding_request_set_text(r, text) == AIW_OK) rc = aiw_get_embedding(c, r, o, &e, &err);
    const char *why = rc == AIW_OK ? embedding_mismatch(e, text, strlen(text), 0, AIW_EMBEDDING_UNKNOWN,
                                                        buf, sizeof buf)
                                   : NULL;
    account(w, "GetEmbedding", rc, &err, why, t0, AIW_OK);
    aiw_embedding_response_free(e);
    aiw_embedding_request_free(r);
  } else if (op == 1) { /* a slow VectorSearch (in flight when the server dies) */
    aiw_search_request *r = aiw_search_request_new();
    aiw_search_response *s = NULL;
    aiw_code rc = AIW_OUT_OF_MEMORY;
    if (r != NULL && aiw_search_request_set_query(r, "!slow:100") == AIW_OK) rc = aiw_vector_search(c, r, o, &s, &err);
    const char *why = NULL;
    if (rc == AIW_OK && (aiw_search_response_total_count(s) != 12 || aiw_search_response_result_count(s) != 10))
      why = "not the default search";
    account(w, "VectorSearch(!slow:100)", rc, &err, why, t0, AIW_OK);
    aiw_search_response_free(s);
    aiw_search_request_free(r);
  } else if (op == 2 || op == 5) { /* a slow chat stream; op 5 aborts it on the first chunk */
    aiw_chat_request *r = aiw_chat_request_new();
    int n = 0;
    aiw_code rc = AIW_OUT_OF_MEMORY;
    if (r != NULL && aiw_chat_request_set_query(r, "!slow:20") == AIW_OK)
      rc = aiw_chat_stream(c, r, o, op == 2 ? chat_count : chat_abort_first, &n, &err);
    const char *why = NULL;
    if (rc == AIW_OK && n != 5) why = "not five chunks";
    if (rc == AIW_CALLBACK_ABORTED && n != 1) why = "chunks after the abort";
    account(w, op == 2 ? "ChatStream" : "ChatStream(aborted)", rc, &err, why, t0,
            op == 5 ? AIW_CALLBACK_ABORTED : AIW_OK);
    aiw_chat_request_free(r);
  } else if (op == 3) { /* three async GetEmbeddings on a queue of its own */
    aiw_queue *q = aiw_queue_new();
    aiw_embedding_request *r = aiw_embedding_request_new();
    int started = 0;
    if (q != NULL && r != NULL && aiw_embedding_request_set_text(r, text) == AIW_OK)
      for (int i = 0; i < 3; i++)
        if (aiw_get_embedding_start(c, r, o, q, NULL, &err) == AIW_OK) started++;
    if (started != 3) violation(w, "%s: %s%s, %lld started", "async start", AIW_OK, "", started);
    for (int i = 0; i < started; i++) {
      aiw_completion *comp = NULL;
      if (aiw_queue_wait(q, w->timeout_ms + hang_bound_ms(5000), &comp) != AIW_QUEUE_COMPLETION) {
        violation(w, "%s: %s%s no completion (%lld)", "async GetEmbedding", AIW_OK, "", i);
        break;
      }
      aiw_code rc = aiw_completion_code(comp);
      aiw_embedding_response *e = aiw_completion_take_embedding_response(comp);
      const char *why = rc == AIW_OK ? embedding_mismatch(e, text, strlen(text), 0,
                                                          AIW_EMBEDDING_UNKNOWN, buf, sizeof buf)
                                     : NULL;
      account(w, "async GetEmbedding", rc, aiw_completion_error(comp), why, t0, AIW_OK);
      aiw_embedding_response_free(e);
      aiw_completion_free(comp);
    }
    aiw_embedding_request_free(r);
    aiw_queue_free(q);
  } else { /* op 4: a raw call */
    AiService__EmbeddingRequest m = AI_SERVICE__EMBEDDING_REQUEST__INIT;
    m.content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_TEXT;
    m.text = text;
    uint8_t req[128];
    size_t len = protobuf_c_message_pack(&m.base, req);
    void *resp = NULL;
    size_t rlen = 0;
    aiw_code rc = aiw_raw_call(c, AIW_PATH_GET_EMBEDDING, req, len, o, &resp, &rlen, &err);
    const char *why = NULL;
    if (rc == AIW_OK) {
      AiService__EmbeddingResponse *e = ai_service__embedding_response__unpack(NULL, rlen, resp);
      if (e == NULL || !e->success || e->n_semantic_vector != 1024) why = "not the embedding";
      if (e != NULL) ai_service__embedding_response__free_unpacked(e, NULL);
    }
    account(w, "raw GetEmbedding", rc, &err, why, t0, AIW_OK);
    aiw_free(resp);
  }
}

static void *load_main(void *arg) {
  load_worker *w = arg;
  aiw_call_options *o = aiw_call_options_new();
  if (o == NULL || aiw_call_options_set_timeout_ms(o, w->timeout_ms) != AIW_OK ||
      aiw_call_options_set_wait_for_ready(o, w->wfr) != AIW_OK) {
    snprintf(w->why, sizeof w->why, "call options");
    aiw_call_options_free(o);
    return NULL;
  }
  while (!*w->stop) {
    if (w->client != NULL) {
      load_once(w, w->client, o);
      continue;
    }
    aiw_client *c = NULL;
    aiw_error err;
    aiw_code rc = aiw_client_new(w->target, NULL, &c, &err);
    if (rc != AIW_OK) {
      violation(w, "%s: %s %s (%lld)", "aiw_client_new", rc, err.message, 0);
      break;
    }
    load_once(w, c, o);
    aiw_client_free(c);
  }
  aiw_call_options_free(o);
  return NULL;
}

/* --------------------------------------------------------------- restart */

typedef struct wfr_call {
  aiw_client *client;
  int64_t timeout_ms;
  aiw_code rc;
  int64_t took;
  char why[1024];
} wfr_call;

/* One wait-for-ready GetEmbedding, started while the server is down. */
static void *wfr_main(void *arg) {
  wfr_call *w = arg;
  aiw_call_options *o = aiw_call_options_new();
  aiw_embedding_request *r = aiw_embedding_request_new();
  aiw_embedding_response *e = NULL;
  aiw_error err;
  int64_t t0 = now_ms();
  w->rc = AIW_OUT_OF_MEMORY;
  if (o != NULL && r != NULL && aiw_call_options_set_timeout_ms(o, w->timeout_ms) == AIW_OK &&
      aiw_call_options_set_wait_for_ready(o, 1) == AIW_OK && aiw_embedding_request_set_text(r, "outage") == AIW_OK)
    w->rc = aiw_get_embedding(w->client, r, o, &e, &err);
  w->took = now_ms() - t0;
  char buf[200];
  if (w->rc != AIW_OK)
    snprintf(w->why, sizeof w->why, "%s: %s", aiw_code_name(w->rc), err.message);
  else if (embedding_mismatch(e, "outage", 6, 0, AIW_EMBEDDING_UNKNOWN, buf, sizeof buf) != NULL)
    snprintf(w->why, sizeof w->why, "wrong answer: %s", buf);
  aiw_embedding_response_free(e);
  aiw_embedding_request_free(r);
  aiw_call_options_free(o);
  return NULL;
}

START_TEST(test_restart_mid_load) {
  enum { WORKERS = 6, WFR = 4 };
  refservice rs;
  ck_assert_int_eq(refservice_start(&rs, NULL), 0);
  int port = rs.port;
  char target[64];
  snprintf(target, sizeof target, "%s", rs.target);
  aiw_client *c = test_client(target, 0);
  expect_client_works(c);

  _Atomic int stop = 0;
  load_worker w[WORKERS];
  memset(w, 0, sizeof w);
  for (int i = 0; i < WORKERS; i++) {
    w[i].client = i == WORKERS - 1 ? NULL : c; /* the last one makes a client per call */
    w[i].target = target;
    w[i].timeout_ms = hang_bound_ms(3000);
    w[i].stop = &stop;
    w[i].seq = i;
  }
  pthread_t th[WORKERS];
  threads_start(th, WORKERS, load_main, w, sizeof w[0]);
  sleep_ms(test_slow() ? 3000 : 1000);
  int ok_before = 0;
  for (int i = 0; i < WORKERS; i++) ok_before += w[i].ok;

  /* Kill it mid-load; start wait-for-ready calls while it is down -- once
   * the client has seen the connection die: a call started in the moment
   * before, on the connection gRPC still thinks is up, fails UNAVAILABLE
   * ("Broken pipe") whatever its wait-for-ready (gRPC C core does not retry
   * a stream whose write failed). A fail-fast probe that fails shows it. */
  srv_kill(&rs);
  int64_t t_kill = now_ms();
  aiw_call_options *probe = test_opts(1000, NULL);
  aiw_embedding_request *pr = embed_req("probe", AIW_EMBEDDING_UNKNOWN);
  for (;;) {
    aiw_embedding_response *e = NULL;
    aiw_error err;
    aiw_code rc = aiw_get_embedding(c, pr, probe, &e, &err);
    aiw_embedding_response_free(e);
    ck_assert_msg(rc == AIW_OK || rc == AIW_UNAVAILABLE, "probe after the kill: %s: %s", aiw_code_name(rc),
                  err.message);
    if (rc == AIW_UNAVAILABLE) break;
    ck_assert_msg(now_ms() - t_kill < hang_bound_ms(5000), "calls still succeed after the kill");
  }
  aiw_embedding_request_free(pr);
  aiw_call_options_free(probe);
  sleep_ms(100);
  wfr_call wc[WFR];
  memset(wc, 0, sizeof wc);
  for (int i = 0; i < WFR; i++) {
    wc[i].client = c;
    wc[i].timeout_ms = hang_bound_ms(20000);
  }
  pthread_t wth[WFR];
  threads_start(wth, WFR, wfr_main, wc, sizeof wc[0]);
  sleep_ms(300);
  srv_start_on(&rs, port);
  int64_t t_up = now_ms();
  threads_join(wth, WFR);
  for (int i = 0; i < WFR; i++)
    ck_assert_msg(wc[i].why[0] == '\0', "wait-for-ready call %d (started during the outage) ended after %lld ms: %s",
                  i, (long long)wc[i].took, wc[i].why);

  /* Let the load go on against the new server, then stop it. */
  sleep_ms(test_slow() ? 4000 : 1500);
  stop = 1;
  threads_join(th, WORKERS);
  int ok = 0, failed = 0, ok_after = 0;
  for (int i = 0; i < WORKERS; i++) {
    ck_assert_msg(w[i].why[0] == '\0', "worker %d: %s", i, w[i].why);
    ok += w[i].ok;
    failed += w[i].failed;
    if (w[i].last_ok > t_up) ok_after++;
  }
  ck_assert_msg(ok_before > 0, "no call succeeded before the kill");
  ck_assert_msg(failed > 0, "no call failed: was the server killed mid-load? (%d OK)", ok);
  ck_assert_msg(ok_after == WORKERS, "only %d of %d workers had a call succeed after the restart", ok_after, WORKERS);
  /* The same client works. */
  expect_client_works(c);
  aiw_client_free(c);
  ck_assert_int_eq(refservice_stop(&rs), 0);
}
END_TEST

/* ---------------------------------------------------------- fault servers */

enum fault_mode { SILENT, GARBAGE_RANDOM, GARBAGE_HTTP1, GARBAGE_BIG_FRAME, GARBAGE_AFTER_SETTINGS };

typedef struct fault_server {
  enum fault_mode mode;
  int listen_fd;
  char target[64];
  _Atomic int stop;
  int conns[256]; /* the server thread's own until fault_stop has joined it */
  int nconns;
  _Atomic int accepted;
  pthread_t thread;
} fault_server;

static void send_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; /* the client went away: fine */
    p += n;
    len -= (size_t)n;
  }
}

/* What a garbage server sends on a new connection; 1 if it then closes. */
static int send_garbage(int fd, enum fault_mode mode) {
  static const char http1[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  /* Frame header: length 0xffffff, type SETTINGS, no flags, stream 0. */
  static const unsigned char big[] = {0xff, 0xff, 0xff, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00};
  /* An empty SETTINGS frame (a valid server preface), then a frame of an
   * unknown type on stream 0 with a length past the limit, then junk. */
  static const unsigned char settings_junk[] = {0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f,
                                                0xff, 0xff, 0x01, 0x25, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};
  unsigned char junk[4096];
  switch (mode) {
    case GARBAGE_RANDOM: {
      uint32_t x = 0x12345678u;
      for (size_t i = 0; i < sizeof junk; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk[i] = (unsigned char)x;
      }
      send_all(fd, junk, sizeof junk);
      return 0;
    }
    case GARBAGE_HTTP1:
      send_all(fd, http1, sizeof http1 - 1);
      return 1;
    case GARBAGE_BIG_FRAME:
      send_all(fd, big, sizeof big);
      return 0;
    case GARBAGE_AFTER_SETTINGS:
      send_all(fd, settings_junk, sizeof settings_junk);
      memset(junk, 0xee, sizeof junk);
      send_all(fd, junk, sizeof junk);
      return 0;
    case SILENT:
      break;
  }
  return 0;
}

static void *fault_main(void *arg) {
  fault_server *fs = arg;
  while (!fs->stop) {
    struct pollfd p[257];
    int n = 0;
    p[n].fd = fs->listen_fd;
    p[n++].events = POLLIN;
    for (int i = 0; i < fs->nconns; i++) {
      p[n].fd = fs->conns[i];
      p[n++].events = POLLIN;
    }
    int pr = poll(p, (nfds_t)n, 50);
    if (pr <= 0) continue;
    /* Read (and drop) what clients send, so they never block on writing. */
    for (int i = 1; i < n; i++) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t r = recv(p[i].fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        close(p[i].fd);
        fs->conns[i - 1] = -1;
      }
    }
    int k = 0; /* compact */
    for (int i = 0; i < fs->nconns; i++)
      if (fs->conns[i] >= 0) fs->conns[k++] = fs->conns[i];
    fs->nconns = k;
    if (p[0].revents & POLLIN) {
      int fd = accept4(fs->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) continue;
      fs->accepted++;
      if (send_garbage(fd, fs->mode) || fs->nconns == 256) {
        close(fd);
        continue;
      }
      fs->conns[fs->nconns++] = fd;
    }
  }
  return NULL;
}

static void fault_start(fault_server *fs, enum fault_mode mode) {
  memset(fs, 0, sizeof *fs);
  fs->mode = mode;
  fs->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fs->listen_fd, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fs->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(fs->listen_fd, 64), 0);
  socklen_t alen = sizeof a;
  ck_assert_int_eq(getsockname(fs->listen_fd, (struct sockaddr *)&a, &alen), 0);
  snprintf(fs->target, sizeof fs->target, "127.0.0.1:%d", ntohs(a.sin_port));
  threads_start(&fs->thread, 1, fault_main, fs, 0);
}

static void fault_stop(fault_server *fs) {
  fs->stop = 1;
  pthread_join(fs->thread, NULL);
  for (int i = 0; i < fs->nconns; i++) close(fs->conns[i]);
  close(fs->listen_fd);
}

/* ---------------------------------------------------------------- silent */

/* ck_asserts DEADLINE_EXCEEDED at the deadline: not before, not long after. */
static void expect_at_deadline(const char *what, aiw_code rc, const aiw_error *err, int64_t took, int64_t deadline) {
  expect_code(what, rc, err, AIW_DEADLINE_EXCEEDED);
  ck_assert_msg(took >= deadline - 50, "%s: DEADLINE_EXCEEDED after %lld ms of a %lld ms deadline", what,
                (long long)took, (long long)deadline);
  ck_assert_msg(took < deadline + hang_bound_ms(2000), "%s: returned %lld ms after a %lld ms deadline", what,
                (long long)(took - deadline), (long long)deadline);
}

START_TEST(test_silent_server) {
  fault_server fs;
  fault_start(&fs, SILENT);
  aiw_client *c = test_client(fs.target, 0);
  const int64_t deadline = 700;
  aiw_call_options *o = test_opts(deadline, NULL);
  aiw_error err;
  /* Blocking unary, fail-fast. */
  aiw_embedding_request *r = embed_req("hello", AIW_EMBEDDING_UNKNOWN);
  aiw_embedding_response *e = (aiw_embedding_response *)&e;
  int64_t t0 = now_ms();
  aiw_code rc = aiw_get_embedding(c, r, o, &e, &err);
  expect_at_deadline("GetEmbedding", rc, &err, now_ms() - t0, deadline);
  ck_assert_ptr_null(e);
  /* A blocking stream. */
  aiw_chat_request *q = chat_req("hello");
  int n = 0;
  t0 = now_ms();
  rc = aiw_chat_stream(c, q, o, chat_count, &n, &err);
  expect_at_deadline("ChatStream", rc, &err, now_ms() - t0, deadline);
  ck_assert_int_eq(n, 0);
  /* Wait-for-ready. */
  ck_assert_int_eq(aiw_call_options_set_wait_for_ready(o, 1), AIW_OK);
  t0 = now_ms();
  rc = aiw_get_embedding(c, r, o, &e, &err);
  expect_at_deadline("GetEmbedding (wait-for-ready)", rc, &err, now_ms() - t0, deadline);
  ck_assert_int_eq(aiw_call_options_set_wait_for_ready(o, 0), AIW_OK);
  /* Asynchronous, several at once: each at its deadline, flagged expired. */
  aiw_queue *queue = aiw_queue_new();
  ck_assert_ptr_nonnull(queue);
  t0 = now_ms();
  for (int i = 0; i < 4; i++) ck_assert_int_eq(aiw_get_embedding_start(c, r, o, queue, NULL, &err), AIW_OK);
  ck_assert_int_eq(aiw_chat_stream_start(c, q, o, queue, NULL, &err), AIW_OK);
  for (int i = 0; i < 5; i++) {
    aiw_completion *comp = NULL;
    ck_assert_int_eq(aiw_queue_wait(queue, deadline + hang_bound_ms(5000), &comp), AIW_QUEUE_COMPLETION);
    ck_assert_int_eq(aiw_completion_is_message(comp), 0);
    expect_at_deadline(aiw_completion_method(comp), aiw_completion_code(comp), aiw_completion_error(comp),
                       now_ms() - t0, deadline);
    ck_assert_int_eq(aiw_completion_deadline_expired(comp), 1);
    aiw_completion_free(comp);
  }
  aiw_queue_free(queue);
  ck_assert_int_gt(fs.accepted, 0); /* it did connect */
  aiw_chat_request_free(q);
  aiw_embedding_request_free(r);
  aiw_call_options_free(o);
  aiw_client_free(c);
  fault_stop(&fs);
}
END_TEST

/* --------------------------------------------------------------- garbage */

static void garbage_case(enum fault_mode mode, const char *name) {
  fault_server fs;
  fault_start(&fs, mode);
  aiw_client *c = test_client(fs.target, 0);
  const int64_t deadline = hang_bound_ms(10000);
  aiw_call_options *o = test_opts(deadline, NULL);
  aiw_embedding_request *r = embed_req("hello", AIW_EMBEDDING_UNKNOWN);
  aiw_chat_request *q = chat_req("hello");
  for (int i = 0; i < 3; i++) {
    aiw_error err;
    aiw_code rc;
    int n = 0;
    int64_t t0 = now_ms();
    if (i == 1) {
      rc = aiw_chat_stream(c, q, o, chat_count, &n, &err);
    } else {
      aiw_embedding_response *e = (aiw_embedding_response *)&e;
      rc = aiw_get_embedding(c, r, o, &e, &err);
      ck_assert_ptr_null(e);
    }
    int64_t took = now_ms() - t0;
    ck_assert_msg(rc == AIW_UNAVAILABLE || rc == AIW_INTERNAL, "%s, call %d: %s (%s) after %lld ms", name, i,
                  aiw_code_name(rc), err.message, (long long)took);
    ck_assert_int_eq(err.code, rc);
    ck_assert_int_eq(err.grpc_status, (int)rc);
    ck_assert_msg(took < hang_bound_ms(5000), "%s, call %d: %s only after %lld ms", name, i, aiw_code_name(rc),
                  (long long)took);
    ck_assert_int_eq(n, 0);
  }
  /* Wait-for-ready against garbage: never a hang past the deadline. */
  ck_assert_int_eq(aiw_call_options_set_timeout_ms(o, 1000), AIW_OK);
  ck_assert_int_eq(aiw_call_options_set_wait_for_ready(o, 1), AIW_OK);
  aiw_embedding_response *e = (aiw_embedding_response *)&e;
  aiw_error err;
  int64_t t0 = now_ms();
  aiw_code rc = aiw_get_embedding(c, r, o, &e, &err);
  int64_t took = now_ms() - t0;
  ck_assert_msg(rc == AIW_UNAVAILABLE || rc == AIW_INTERNAL || rc == AIW_DEADLINE_EXCEEDED,
                "%s, wait-for-ready: %s (%s)", name, aiw_code_name(rc), err.message);
  ck_assert_msg(took < 1000 + hang_bound_ms(2000), "%s, wait-for-ready: %lld ms", name, (long long)took);
  ck_assert_ptr_null(e);
  ck_assert_int_gt(fs.accepted, 0);
  aiw_chat_request_free(q);
  aiw_embedding_request_free(r);
  aiw_call_options_free(o);
  aiw_client_free(c);
  fault_stop(&fs);
}

START_TEST(test_garbage_random) { garbage_case(GARBAGE_RANDOM, "random bytes"); }
END_TEST
START_TEST(test_garbage_http1) { garbage_case(GARBAGE_HTTP1, "an HTTP/1.1 response"); }
END_TEST
START_TEST(test_garbage_big_frame) { garbage_case(GARBAGE_BIG_FRAME, "an oversized frame"); }
END_TEST
START_TEST(test_garbage_after_settings) { garbage_case(GARBAGE_AFTER_SETTINGS, "junk after SETTINGS"); }
END_TEST

/* ------------------------------------------------------------------ soak */

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* the DIR's own fd */
}

static long vm_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

typedef struct resources {
  int threads, fds;
  long rss_kib;
} resources;

static resources measure(void) {
  resources r = {count_dir("/proc/self/task"), count_dir("/proc/self/fd"), vm_rss_kib()};
  return r;
}

static int soak_seconds(void) {
  const char *s = getenv("AIW_SOAK_SECONDS");
  int v = s != NULL ? atoi(s) : 0;
  if (v > 0) return v;
  return test_slow() ? 12 : 20;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_SLACK_KIB (192L * 1024) /* the sanitizers' shadow memory and quarantine grow with use */
#else
#define RSS_SLACK_KIB (24L * 1024)
#endif

enum { SOAK_WORKERS = 7 };

typedef struct soak_run {
  load_worker w[SOAK_WORKERS];
  pthread_t th[SOAK_WORKERS];
  _Atomic int stop;
  int calls, ok, failed;
  char target[64]; /* a copy: the restarts rewrite rs->target */
} soak_run;

/* Runs the load for `ms` against target (clients c), restarting rs (on its
 * port) at each of the `restarts` evenly spaced points; then stops and joins
 * the workers and ck_asserts they found nothing wrong. */
static void soak_phase(soak_run *sr, aiw_client *c, refservice *rs, int64_t ms, int restarts, int *restarts_done) {
  memset(sr, 0, sizeof *sr);
  snprintf(sr->target, sizeof sr->target, "%s", rs->target);
  for (int i = 0; i < SOAK_WORKERS; i++) {
    load_worker *w = &sr->w[i];
    w->client = i == 5 ? NULL : c; /* worker 5: a new client per call */
    w->target = sr->target;
    w->wfr = i == 6;               /* worker 6: wait-for-ready */
    w->timeout_ms = hang_bound_ms(i == 6 ? 15000 : 3000);
    w->stop = &sr->stop;
    w->seq = i;
  }
  threads_start(sr->th, SOAK_WORKERS, load_main, sr->w, sizeof sr->w[0]);
  int64_t t0 = now_ms();
  int port = rs->port;
  for (int k = 1; k <= restarts; k++) {
    int64_t at = t0 + ms * k / (restarts + 1);
    while (now_ms() < at) sleep_ms(50);
    srv_kill(rs);
    sleep_ms(200);
    srv_start_on(rs, port);
    (*restarts_done)++;
  }
  while (now_ms() < t0 + ms) sleep_ms(50);
  sr->stop = 1;
  threads_join(sr->th, SOAK_WORKERS);
  for (int i = 0; i < SOAK_WORKERS; i++) {
    ck_assert_msg(sr->w[i].why[0] == '\0', "soak worker %d: %s", i, sr->w[i].why);
    ck_assert_msg(sr->w[i].ok > 0, "soak worker %d: no call succeeded", i);
    sr->calls += sr->w[i].calls;
    sr->ok += sr->w[i].ok;
    sr->failed += sr->w[i].failed;
  }
}

START_TEST(test_soak) {
  int seconds = soak_seconds();
  int64_t total = (int64_t)seconds * 1000;
  int64_t warm = total * 3 / 10;
  /* One restart in the warm-up (30%); in the rest, about one a minute (at
   * least one). */
  int later = (int)((total - warm) / 60000) > 1 ? (int)((total - warm) / 60000) : 1;
  refservice rs;
  ck_assert_int_eq(refservice_start(&rs, NULL), 0);
  aiw_client *c = test_client(rs.target, 0);
  expect_client_works(c);
  int restarts = 0;
  soak_run *sr = calloc(1, sizeof *sr);
  ck_assert_ptr_nonnull(sr);

  soak_phase(sr, c, &rs, warm, 1, &restarts);
  int warm_calls = sr->calls;
  sleep_ms(500);
  resources base = measure();
  soak_phase(sr, c, &rs, total - warm, later, &restarts);
  sleep_ms(500);
  expect_client_works(c);
  resources end = measure();
  fprintf(stderr,
          "faults/soak: %d s, %d restarts, %d + %d calls (%d OK, %d failed in the second phase); "
          "threads %d -> %d, fds %d -> %d, VmRSS %ld -> %ld KiB\n",
          seconds, restarts, warm_calls, sr->calls, sr->ok, sr->failed, base.threads, end.threads, base.fds,
          end.fds, base.rss_kib, end.rss_kib);
  ck_assert_int_gt(base.threads, 0);
  ck_assert_int_gt(base.fds, 0);
  ck_assert_int_gt(base.rss_kib, 0);
  ck_assert_msg(end.threads <= base.threads + 4, "threads grew from %d to %d", base.threads, end.threads);
  ck_assert_msg(end.fds <= base.fds + 4, "fds grew from %d to %d", base.fds, end.fds);
  ck_assert_msg(end.rss_kib <= base.rss_kib + RSS_SLACK_KIB, "VmRSS grew from %ld to %ld KiB (slack %ld)",
                base.rss_kib, end.rss_kib, RSS_SLACK_KIB);
  free(sr);
  aiw_client_free(c);
  ck_assert_int_eq(refservice_stop(&rs), 0);
}
END_TEST

Suite *suite_faults(void) {
  Suite *s = suite_create("faults");
  TCase *tr = tcase_create("restart");
  tcase_set_timeout(tr, 120);
  tcase_add_test(tr, test_restart_mid_load);
  suite_add_tcase(s, tr);
  TCase *tn = tcase_create("silent");
  tcase_set_timeout(tn, 60);
  tcase_add_test(tn, test_silent_server);
  suite_add_tcase(s, tn);
  TCase *tg = tcase_create("garbage");
  tcase_set_timeout(tg, 60);
  tcase_add_test(tg, test_garbage_random);
  tcase_add_test(tg, test_garbage_http1);
  tcase_add_test(tg, test_garbage_big_frame);
  tcase_add_test(tg, test_garbage_after_settings);
  suite_add_tcase(s, tg);
  TCase *tk = tcase_create("soak");
  tcase_set_timeout(tk, soak_seconds() + 120);
  tcase_add_test(tk, test_soak);
  suite_add_tcase(s, tk);
  return s;
}
