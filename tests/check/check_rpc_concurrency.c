/* check_rpc_concurrency.c -- 8 threads calling concurrently through one
 * client, every response matched to its request; concurrent global init and
 * client creation. Worker threads never ck_assert (Check's asserts belong to
 * the test's own thread): they record the first mismatch, checked after join. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NTHREADS 8

typedef struct worker {
  int id;
  int iterations;
  aiw_client *client;
  const char *target; /* when client is NULL: make one per iteration */
  int ok;
  char failure[1024];
} worker;

#define FAIL(w, ...)                                             \
  do {                                                           \
    if ((w)->failure[0] == '\0') snprintf((w)->failure, sizeof (w)->failure, __VA_ARGS__); \
    goto out;                                                    \
  } while (0)

typedef struct chat_acc {
  char text[512];
  size_t len;
  char rid[64];
  int finals;
} chat_acc;

static int chat_cb(const aiw_chat_response *ch, void *ud) {
  chat_acc *a = ud;
  const char *s = aiw_chat_response_chunk(ch);
  size_t l = strlen(s);
  if (a->len + l < sizeof a->text) {
    memcpy(a->text + a->len, s, l + 1);
    a->len += l;
  }
  if (aiw_chat_response_is_final(ch)) {
    a->finals++;
    const char *v = aiw_search_result_metadata_get(aiw_chat_response_source(ch, 0), "md:x-request-id");
    snprintf(a->rid, sizeof a->rid, "%s", v ? v : "");
  }
  return 0;
}

static int one_round(worker *w, aiw_client *c, int i) {
  char tag[64], rid[64];
  snprintf(tag, sizeof tag, "thread %d \xe2\x9c\x93 call %d", w->id, i);
  snprintf(rid, sizeof rid, "t%d-c%d", w->id, i);
  aiw_error err;
  int good = 0;
  aiw_embedding_request *er = aiw_embedding_request_new();
  aiw_search_request *sq = aiw_search_request_new();
  aiw_chat_request *cq = aiw_chat_request_new();
  aiw_call_options *o = aiw_call_options_new();
  aiw_embedding_response *eresp = NULL;
  aiw_search_response *sresp = NULL;
  if (!er || !sq || !cq || !o) FAIL(w, "out of memory");
  if (aiw_call_options_add_metadata(o, "x-request-id", rid, &err) != AIW_OK) FAIL(w, "metadata: %s", err.message);
  aiw_call_options_set_timeout_ms(o, hang_bound_ms(30000));

  /* GetEmbedding: the vector is a function of the text. */
  aiw_embedding_request_set_text(er, tag);
  aiw_code rc = aiw_get_embedding(c, er, o, &eresp, &err);
  if (rc != AIW_OK) FAIL(w, "%s embed: %s: %s", rid, aiw_code_name(rc), err.message);
  char why[300];
  if (embedding_mismatch(eresp, tag, strlen(tag), 0, AIW_EMBEDDING_UNKNOWN, why, sizeof why) != NULL)
    FAIL(w, "%s: embedding of another request: %s", rid, why);

  /* VectorSearch !echo: limit, filter and metadata come back. */
  aiw_search_request_set_query(sq, "!echo");
  aiw_search_request_set_limit(sq, w->id * 1000 + i);
  aiw_search_request_add_filter(sq, tag);
  rc = aiw_vector_search(c, sq, o, &sresp, &err);
  if (rc != AIW_OK) FAIL(w, "%s search: %s: %s", rid, aiw_code_name(rc), err.message);
  const search_echo want = {.query = "!echo", .limit = w->id * 1000 + i, .filters = tag, .request_id = rid};
  if (search_echo_mismatch(sresp, &want, why, sizeof why) != NULL)
    FAIL(w, "%s: search answer of another request: %s", rid, why);

  /* ChatStream: the answer contains the query. */
  aiw_chat_request_set_query(cq, tag);
  chat_acc acc;
  memset(&acc, 0, sizeof acc);
  rc = aiw_chat_stream(c, cq, o, chat_cb, &acc, &err);
  if (rc != AIW_OK) FAIL(w, "%s chat: %s: %s", rid, aiw_code_name(rc), err.message);
  char answer[512];
  chat_answer(answer, sizeof answer, tag);
  if (strcmp(acc.text, answer) != 0 || acc.finals != 1)
    FAIL(w, "%s: chat of another request: \"%.200s\" (%d final chunks)", rid, acc.text, acc.finals);
  good = 1;
out:
  aiw_embedding_response_free(eresp);
  aiw_search_response_free(sresp);
  aiw_embedding_request_free(er);
  aiw_search_request_free(sq);
  aiw_chat_request_free(cq);
  aiw_call_options_free(o);
  return good;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  for (int i = 0; i < w->iterations; i++) {
    aiw_client *c = w->client;
    if (c == NULL) {
      aiw_error err;
      if (aiw_client_new(w->target, NULL, &c, &err) != AIW_OK) {
        snprintf(w->failure, sizeof w->failure, "aiw_client_new: %s", err.message);
        return NULL;
      }
    }
    int good = one_round(w, c, i);
    if (w->client == NULL) aiw_client_free(c);
    if (!good) return NULL;
    w->ok++;
  }
  return NULL;
}

static void run_workers(aiw_client *shared, const char *target, int iterations) {
  worker w[NTHREADS];
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) w[i] = (worker){.id = i, .iterations = iterations, .client = shared, .target = target};
  threads_start(th, NTHREADS, worker_main, w, sizeof w[0]);
  threads_join(th, NTHREADS);
  for (int i = 0; i < NTHREADS; i++) {
    ck_assert_msg(w[i].failure[0] == '\0', "thread %d: %s", i, w[i].failure);
    ck_assert_int_eq(w[i].ok, iterations);
  }
}

START_TEST(test_eight_threads_one_client) {
  aiw_client *c = test_client(g_srv.target, 0);
  run_workers(c, NULL, test_slow() ? 5 : 25);
  aiw_client_free(c);
}
END_TEST

START_TEST(test_eight_threads_own_clients) {
  /* Clients created and freed concurrently: the reference-counted global
   * init is exercised from several threads at once. */
  run_workers(NULL, g_srv.target, test_slow() ? 2 : 5);
}
END_TEST

static void *init_cleanup_main(void *arg) {
  int *failures = arg;
  for (int i = 0; i < 50; i++) {
    if (aiw_global_init() != AIW_OK)
      ++*failures;
    else
      aiw_global_cleanup();
  }
  return NULL;
}

START_TEST(test_global_init_threads) {
  aiw_client *c = test_client(g_srv.target, 0); /* keeps gRPC up meanwhile */
  pthread_t th[NTHREADS];
  int failures[NTHREADS] = {0};
  threads_start(th, NTHREADS, init_cleanup_main, failures, sizeof failures[0]);
  threads_join(th, NTHREADS);
  for (int i = 0; i < NTHREADS; i++) ck_assert_int_eq(failures[i], 0);
  expect_client_works(c);
  aiw_client_free(c);
}
END_TEST

Suite *suite_rpc_concurrency(void) {
  Suite *s = suite_create("rpc_concurrency");
  TCase *tc = server_tcase(s, "threads", 120, NULL);
  tcase_add_test(tc, test_eight_threads_one_client);
  tcase_add_test(tc, test_eight_threads_own_clients);
  tcase_add_test(tc, test_global_init_threads);
  return s;
}
