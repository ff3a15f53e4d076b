/* check_stats.c -- the client's stats hook (aiw_client_options_set_stats_hook):
 * one report per finished call with its method, code, times, bytes and
 * messages, and a stream's first-message report; blocking and async, typed
 * and raw, failures too. */
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MAX_REPORTS 64

typedef struct recorder {
  pthread_mutex_t lock;
  int n;
  aiw_call_stats r[MAX_REPORTS];
  char method[MAX_REPORTS][96];
  int64_t thread_ok[MAX_REPORTS];
} recorder;

static void record(const aiw_call_stats *st, void *userdata) {
  recorder *rec = userdata;
  pthread_mutex_lock(&rec->lock);
  if (rec->n < MAX_REPORTS) {
    rec->r[rec->n] = *st;
    snprintf(rec->method[rec->n], sizeof rec->method[0], "%s", st->method);
    rec->n++;
  }
  pthread_mutex_unlock(&rec->lock);
}

static aiw_client *stats_client(const char *target, recorder *rec) {
  memset(rec, 0, sizeof *rec);
  pthread_mutex_init(&rec->lock, NULL);
  aiw_client_options *o = aiw_client_options_new();
  ck_assert_int_eq(aiw_client_options_set_stats_hook(o, record, rec), AIW_OK);
  aiw_client *c = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_client_new(target, o, &c, &err), AIW_OK);
  aiw_client_options_free(o);
  return c;
}

static int chunk_count(const aiw_chat_response *chunk, void *userdata) {
  (void)chunk;
  (*(int *)userdata)++;
  return 0;
}

START_TEST(test_stats_blocking) {
  recorder rec;
  aiw_client *c = stats_client(g_srv.target, &rec);
  aiw_error err;
  int64_t t0 = now_ms();
  aiw_embedding_request *req = aiw_embedding_request_new();
  aiw_embedding_request_set_text(req, "stats");
  aiw_embedding_response *resp = NULL;
  ck_assert_int_eq(aiw_get_embedding(c, req, NULL, &resp, &err), AIW_OK);
  aiw_embedding_response_free(resp);
  ck_assert_int_eq(rec.n, 1);
  aiw_call_stats *s = &rec.r[0];
  ck_assert_uint_eq(s->struct_size, sizeof(aiw_call_stats));
  ck_assert_str_eq(rec.method[0], AIW_PATH_GET_EMBEDDING);
  ck_assert_int_eq(s->first_message, 0);
  ck_assert_int_eq(s->code, AIW_OK);
  ck_assert_uint_eq(s->messages_sent, 1);
  ck_assert_uint_eq(s->bytes_sent, 7); /* field 1, length 5, "stats" */
  ck_assert_uint_eq(s->messages_received, 1);
  ck_assert_uint_gt(s->bytes_received, 1024 * 4); /* 1024 packed floats */
  ck_assert(s->end_ns >= s->start_ns);
  ck_assert(s->end_ns - s->start_ns <= (now_ms() - t0 + 1) * 1000000);

  /* A stream: the first message, then the end, with every message counted. */
  aiw_chat_request *chat = aiw_chat_request_new();
  aiw_chat_request_set_query(chat, "!count:4");
  int chunks = 0;
  ck_assert_int_eq(aiw_chat_stream(c, chat, NULL, chunk_count, &chunks, &err), AIW_OK);
  ck_assert_int_eq(chunks, 4);
  ck_assert_int_eq(rec.n, 3);
  ck_assert_int_eq(rec.r[1].first_message, 1);
  ck_assert_str_eq(rec.method[1], AIW_PATH_CHAT_STREAM);
  ck_assert_uint_eq(rec.r[1].messages_received, 1);
  ck_assert_int_eq(rec.r[2].first_message, 0);
  ck_assert_uint_eq(rec.r[2].messages_received, 4);
  ck_assert_int_eq(rec.r[2].start_ns, rec.r[1].start_ns);
  ck_assert(rec.r[2].end_ns >= rec.r[1].end_ns);

  /* A failure is reported with its code; so is a stream that stops early. */
  aiw_embedding_request_set_text(req, "!error:NOT_FOUND:gone");
  ck_assert_int_eq(aiw_get_embedding(c, req, NULL, &resp, &err), AIW_NOT_FOUND);
  ck_assert_int_eq(rec.n, 4);
  ck_assert_int_eq(rec.r[3].code, AIW_NOT_FOUND);
  ck_assert_uint_eq(rec.r[3].messages_received, 0);
  aiw_embedding_request_set_text(req, "!fail:no");
  ck_assert_int_eq(aiw_get_embedding(c, req, NULL, &resp, &err), AIW_SERVICE_ERROR);
  aiw_embedding_response_free(resp);
  ck_assert_int_eq(rec.r[4].code, AIW_SERVICE_ERROR);
  /* Bad arguments are not calls: no report. */
  ck_assert_int_eq(aiw_get_embedding(c, NULL, NULL, &resp, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(rec.n, 5);
  /* A closed client's refusal is a call that never went out. */
  aiw_client_close(c);
  aiw_embedding_request_set_text(req, "late");
  ck_assert_int_eq(aiw_get_embedding(c, req, NULL, &resp, &err), AIW_CANCELLED);
  ck_assert_int_eq(rec.n, 6);
  ck_assert_int_eq(rec.r[5].code, AIW_CANCELLED);
  ck_assert_uint_eq(rec.r[5].messages_sent, 0);
  ck_assert_uint_eq(rec.r[5].bytes_sent, 0);
  aiw_chat_request_free(chat);
  aiw_embedding_request_free(req);
  aiw_client_free(c);
  pthread_mutex_destroy(&rec.lock);
}
END_TEST

START_TEST(test_stats_refused_options) {
  /* Options the client refuses (compression on a client with retries)
   * are bad arguments too: no report. */
  recorder rec;
  memset(&rec, 0, sizeof rec);
  pthread_mutex_init(&rec.lock, NULL);
  aiw_client_options *o = aiw_client_options_new();
  aiw_client_options_set_stats_hook(o, record, &rec);
  aiw_client_options_set_retry_policy(o, 3, 10, 100);
  aiw_client *c = NULL;
  aiw_error err;
  ck_assert_int_eq(aiw_client_new(g_srv.target, o, &c, &err), AIW_OK);
  aiw_call_options *co = aiw_call_options_new();
  aiw_call_options_set_compression(co, "gzip");
  aiw_embedding_request *req = aiw_embedding_request_new();
  aiw_embedding_request_set_text(req, "x");
  aiw_embedding_response *resp = NULL;
  ck_assert_int_eq(aiw_get_embedding(c, req, co, &resp, &err), AIW_INVALID_ARGUMENT);
  ck_assert_int_eq(rec.n, 0);
  aiw_call_options_set_compression(co, NULL);
  ck_assert_int_eq(aiw_get_embedding(c, req, co, &resp, &err), AIW_OK);
  ck_assert_int_eq(rec.n, 1);
  aiw_embedding_response_free(resp);
  aiw_embedding_request_free(req);
  aiw_call_options_free(co);
  aiw_client_free(c);
  aiw_client_options_free(o);
  pthread_mutex_destroy(&rec.lock);
}
END_TEST

START_TEST(test_stats_async_and_raw) {
  recorder rec;
  aiw_client *c = stats_client(g_srv.target, &rec);
  aiw_queue *q = aiw_queue_new();
  aiw_error err;
  ck_assert_int_eq(aiw_raw_stream_start(c, AIW_PATH_CHAT_STREAM, "\x0a\x08!count:3", 10, NULL, q, NULL, &err), AIW_OK);
  for (;;) {
    aiw_completion *comp;
    ck_assert_int_eq(aiw_queue_wait(q, hang_bound_ms(10000), &comp), AIW_QUEUE_COMPLETION);
    int msg = aiw_completion_is_message(comp);
    aiw_completion_free(comp);
    if (!msg) break;
  }
  ck_assert_int_eq(rec.n, 2);
  ck_assert_int_eq(rec.r[0].first_message, 1);
  ck_assert_int_eq(rec.r[1].code, AIW_OK);
  ck_assert_uint_eq(rec.r[1].messages_received, 3);
  ck_assert_uint_eq(rec.r[1].bytes_sent, 10);
  /* A health check is a call like any other. */
  aiw_health_status hs;
  ck_assert_int_eq(aiw_health_check(c, "", NULL, &hs, &err), AIW_OK);
  ck_assert_int_eq(rec.n, 3);
  ck_assert_str_eq(rec.method[2], "/grpc.health.v1.Health/Check");
  aiw_queue_free(q);
  aiw_client_free(c);
  pthread_mutex_destroy(&rec.lock);
}
END_TEST

Suite *suite_stats(void) {
  Suite *s = suite_create("stats");
  TCase *tc = server_tcase(s, "stats_hook", 60, NULL);
  tcase_add_test(tc, test_stats_blocking);
  tcase_add_test(tc, test_stats_async_and_raw);
  tcase_add_test(tc, test_stats_refused_options);
  return s;
}
