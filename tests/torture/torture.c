/* torture.c -- allocation failure torture, as curl's torture tests do.
 *
 * Against the torture build of libaiw (-DAIW_TORTURE with ASan+UBSan), each
 * request path below runs once to count the allocations libaiw's own code
 * makes on it (K), then K more times with the Nth allocation failing, for
 * every N: the path must end with AIW_OUT_OF_MEMORY (or NULL from a
 * constructor), never crash, never report anything else, and leak nothing
 * (LeakSanitizer at exit). Prints Check's summary, then `N passed, M failed`. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw.h"
#include "harness.h"

/* Exported by the torture build only (lib/torture.c). */
void aiw_torture_fail_at(long n);
long aiw_torture_allocations(void);

refservice g_torture_srv;

/* What a path saw: everything worked, or memory ran out (as injected). */
enum { PATH_OK = 0, PATH_OOM = 1, PATH_BAD = 2 };

static int outcome(aiw_code rc) { return rc == AIW_OK ? PATH_OK : rc == AIW_OUT_OF_MEMORY ? PATH_OOM : PATH_BAD; }

#define STEP(expr)                                                                                                  \
  do {                                                                                                             \
    if ((r = outcome(expr)) != PATH_OK) goto out;                                                                  \
  } while (0)
#define MADE(ptr)                                                                                                  \
  do {                                                                                                             \
    if (!(ptr)) {                                                                                                  \
      r = PATH_OOM;                                                                                                \
      goto out;                                                                                                    \
    }                                                                                                              \
  } while (0)

static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

static int path_options(void) {
  int r = PATH_OK;
  aiw_error err;
  aiw_client_options *co = NULL;
  aiw_call_options *opts = NULL;
  aiw_cancel_token *token = NULL;
  aiw_client *client = NULL;
  MADE(co = aiw_client_options_new());
  STEP(aiw_client_options_set_tls(co, pem, pem, pem));
  STEP(aiw_client_options_set_server_name(co, "ai.example"));
  STEP(aiw_client_options_set_user_agent(co, "torture/1"));
  STEP(aiw_client_new("127.0.0.1:1", co, &client, &err));
  MADE(opts = aiw_call_options_new());
  MADE(token = aiw_cancel_token_new());
  STEP(aiw_call_options_add_metadata(opts, "x-a", "1", &err));
  STEP(aiw_call_options_add_metadata(opts, "x-b", "2", &err));
  STEP(aiw_call_options_add_metadata_bin(opts, "x-c-bin", "\0\1", 2, &err));
  STEP(aiw_call_options_set_cancel_token(opts, token));
out:
  aiw_client_free(client);
  aiw_cancel_token_free(token);
  aiw_call_options_free(opts);
  aiw_client_options_free(co);
  return r;
}

static int chunk_count(const aiw_chat_response *chunk, void *n) {
  (void)chunk;
  ++*(int *)n;
  return 0;
}

static int path_blocking(void) {
  int r = PATH_OK, chunks = 0;
  aiw_error err;
  aiw_client *client = NULL;
  aiw_call_options *opts = NULL;
  aiw_embedding_request *emb = NULL;
  aiw_search_request *search = NULL;
  aiw_asset_request *asset = NULL;
  aiw_chat_request *chat = NULL;
  aiw_embedding_response *er = NULL;
  aiw_search_response *sr = NULL;
  aiw_process_status *ps = NULL;
  STEP(aiw_client_new(g_torture_srv.target, NULL, &client, &err));
  MADE(opts = aiw_call_options_new());
  STEP(aiw_call_options_set_timeout_ms(opts, 10000));
  STEP(aiw_call_options_add_metadata(opts, "x-request-id", "torture", &err));
  MADE(emb = aiw_embedding_request_new());
  STEP(aiw_embedding_request_set_text(emb, "hello"));
  STEP(aiw_get_embedding(client, emb, opts, &er, &err));
  MADE(search = aiw_search_request_new());
  STEP(aiw_search_request_set_query(search, "harbour"));
  STEP(aiw_search_request_add_filter(search, "image/*"));
  STEP(aiw_vector_search(client, search, opts, &sr, &err));
  MADE(asset = aiw_asset_request_new());
  STEP(aiw_asset_request_set_asset_id(asset, "a1"));
  STEP(aiw_asset_request_set_file_path(asset, "b/o"));
  STEP(aiw_asset_request_set_mime_type(asset, "image/png"));
  STEP(aiw_asset_request_set_enable_ocr(asset, 1));
  STEP(aiw_process_asset(client, asset, opts, &ps, &err));
  MADE(chat = aiw_chat_request_new());
  STEP(aiw_chat_request_set_query(chat, "hi"));
  STEP(aiw_chat_request_add_history(chat, "user", "earlier", 1700000000));
  STEP(aiw_chat_stream(client, chat, opts, chunk_count, &chunks, &err));
  if (chunks != 5) r = PATH_BAD;
out:
  aiw_embedding_response_free(er);
  aiw_search_response_free(sr);
  aiw_process_status_free(ps);
  aiw_embedding_request_free(emb);
  aiw_search_request_free(search);
  aiw_asset_request_free(asset);
  aiw_chat_request_free(chat);
  aiw_call_options_free(opts);
  aiw_client_free(client);
  return r;
}

/* Waits for `calls` RESULTs on q (freeing everything); the worst outcome. */
static int drain(aiw_queue *q, int calls) {
  int worst = PATH_OK;
  while (calls > 0) {
    aiw_completion *c;
    if (aiw_queue_wait(q, 20000, &c) != AIW_QUEUE_COMPLETION) return PATH_BAD;
    if (!aiw_completion_is_message(c)) {
      calls--;
      int o = outcome(aiw_completion_code(c));
      if (o > worst) worst = o;
      aiw_embedding_response_free(aiw_completion_take_embedding_response(c));
    } else {
      aiw_chat_response_free(aiw_completion_take_chat_response(c));
    }
    aiw_completion_free(c);
  }
  return worst;
}

static const unsigned char hi[] = {0x0a, 0x02, 'h', 'i'}; /* query/text = "hi" */

static int path_async(void) {
  int r = PATH_OK, started = 0;
  aiw_error err;
  aiw_client *client = NULL;
  aiw_queue *q = NULL;
  aiw_embedding_request *emb = NULL;
  aiw_chat_request *chat = NULL;
  STEP(aiw_client_new(g_torture_srv.target, NULL, &client, &err));
  MADE(q = aiw_queue_new());
  MADE(emb = aiw_embedding_request_new());
  STEP(aiw_embedding_request_set_text(emb, "hello"));
  MADE(chat = aiw_chat_request_new());
  STEP(aiw_chat_request_set_query(chat, "hi"));
  STEP(aiw_get_embedding_start(client, emb, NULL, q, NULL, &err));
  started++;
  STEP(aiw_chat_stream_start(client, chat, NULL, q, NULL, &err));
  started++;
  STEP(aiw_raw_call_start(client, AIW_PATH_GET_EMBEDDING, hi, sizeof hi, NULL, q, NULL, &err));
  started++;
  STEP(aiw_raw_stream_start(client, AIW_PATH_CHAT_STREAM, hi, sizeof hi, NULL, q, NULL, &err));
  started++;
out:;
  int d = q ? drain(q, started) : PATH_OK;
  if (d > r) r = d;
  aiw_queue_free(q);
  aiw_embedding_request_free(emb);
  aiw_chat_request_free(chat);
  aiw_client_free(client);
  return r;
}

static int raw_count(const void *data, size_t len, void *n) {
  (void)data;
  (void)len;
  ++*(int *)n;
  return 0;
}

static int path_raw(void) {
  int r = PATH_OK, n = 0;
  aiw_error err;
  aiw_client *client = NULL;
  void *resp = NULL;
  size_t len;
  STEP(aiw_client_new(g_torture_srv.target, NULL, &client, &err));
  STEP(aiw_raw_call(client, AIW_PATH_GET_EMBEDDING, hi, sizeof hi, NULL, &resp, &len, &err));
  STEP(aiw_raw_stream(client, AIW_PATH_CHAT_STREAM, hi, sizeof hi, NULL, raw_count, &n, &err));
  if (n != 5) r = PATH_BAD;
out:
  aiw_free(resp);
  aiw_client_free(client);
  return r;
}

/* Runs `path` clean, then with each of its allocations failing in turn. */
static void torture(const char *name, int (*path)(void)) {
  aiw_torture_fail_at(0);
  ck_assert_msg(path() == PATH_OK, "%s: the clean run failed", name);
  long k = aiw_torture_allocations();
  ck_assert_msg(k > 0, "%s: no allocation counted: is this the torture build?", name);
  long fired = 0;
  for (long n = 1; n <= k; n++) {
    aiw_torture_fail_at(n);
    int r = path();
    long made = aiw_torture_allocations();
    aiw_torture_fail_at(0);
    if (made >= n) {
      fired++;
      ck_assert_msg(r == PATH_OOM, "%s: allocation %ld of %ld failed, but the path reported %s", name, n, k,
                    r == PATH_OK ? "success" : "another error than OUT_OF_MEMORY");
    } else {
      ck_assert_msg(r == PATH_OK, "%s: run %ld failed without an injected failure", name, n);
    }
  }
  printf("torture %s: %ld allocations, each failed once (%ld runs hit it)\n", name, k, fired);
}

START_TEST(test_options) { torture("options", path_options); }
END_TEST
START_TEST(test_blocking) { torture("blocking", path_blocking); }
END_TEST
START_TEST(test_async) { torture("async", path_async); }
END_TEST
START_TEST(test_raw) { torture("raw", path_raw); }
END_TEST

static void up(void) { ck_assert_int_eq(refservice_start(&g_torture_srv, NULL), 0); }
static void down(void) { refservice_stop(&g_torture_srv); }

int main(void) {
  Suite *s = suite_create("torture");
  TCase *tc = tcase_create("allocations");
  tcase_set_timeout(tc, 600);
  tcase_add_unchecked_fixture(tc, up, down);
  tcase_add_test(tc, test_options);
  tcase_add_test(tc, test_blocking);
  tcase_add_test(tc, test_async);
  tcase_add_test(tc, test_raw);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK); /* one process: LeakSanitizer sees everything at exit */
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr), run = srunner_ntests_run(sr);
  srunner_free(sr);
  printf("%d passed, %d failed\n", run - failed, failed);
  return failed ? 1 : 0;
}
