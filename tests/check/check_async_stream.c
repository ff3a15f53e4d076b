/* check_async_stream.c -- asynchronous ChatStream on a queue (since 1.1):
 * aiw_chat_stream_start, MESSAGE and RESULT completions
 * (aiw_completion_is_message, aiw_completion_take_chat_response,
 * aiw_chat_response_free), aiw_queue_wait and aiw_completion_deadline_expired,
 * against the reference service. Streams of 0, 1, 5 and 1,000 messages, each
 * one checked, then exactly one RESULT and nothing more; errors at and after
 * the start; streams and unary calls interleaved on one queue, started from
 * four threads and consumed by two (order per stream, one RESULT per call,
 * never two messages of one stream out at once); cancellation at each point of
 * a stream, the last one included (held last message, cancel, free: CANCELLED,
 * never OK); flow control (a held message stops its stream, not the queue);
 * aiw_client_close and aiw_queue_shutdown with streams in flight;
 * aiw_queue_free with streams left; the blocking aiw_chat_stream with a
 * callback that aborts on the last message; NULL arguments.
 * Expected values come from tests/refservice/README.md (`!count:N` is N
 * messages and nothing else). Worker threads never ck_assert: they record the
 * first problem, checked by the test's thread after join. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define SLOW_DIRECTIVE "!slow:120000"
static int64_t prompt_bound_ms(void) { return hang_bound_ms(5000); }

/* ------------------------------------------------------------------ helpers */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static const char *qr_name(aiw_queue_result r) {
  switch (r) {
    case AIW_QUEUE_COMPLETION: return "COMPLETION";
    case AIW_QUEUE_TIMEOUT: return "TIMEOUT";
    case AIW_QUEUE_SHUTDOWN: return "SHUTDOWN";
    case AIW_QUEUE_INVALID: return "INVALID";
  }
  return "(not an aiw_queue_result)";
}

static aiw_queue *new_queue(void) {
  aiw_queue *q = aiw_queue_new();
  ck_assert_ptr_nonnull(q);
  return q;
}

/* The next completion within bound_ms, by aiw_queue_wait (ck_asserts one). */
static aiw_completion *wait_within(aiw_queue *q, int64_t bound_ms) {
  aiw_completion *c = (aiw_completion *)&c; /* must be overwritten */
  aiw_queue_result r = aiw_queue_wait(q, bound_ms, &c);
  ck_assert_msg(r == AIW_QUEUE_COMPLETION, "aiw_queue_wait: %s after %lld ms", qr_name(r), (long long)bound_ms);
  ck_assert_ptr_nonnull(c);
  return c;
}

/* ck_asserts that nothing is (or becomes within timeout_ms) available:
 * TIMEOUT with *out NULL. */
static void expect_nothing(aiw_queue *q, int64_t timeout_ms) {
  aiw_completion *c = (aiw_completion *)&c;
  aiw_queue_result r = aiw_queue_wait(q, timeout_ms, &c);
  if (r == AIW_QUEUE_COMPLETION) {
    int msg = aiw_completion_is_message(c);
    aiw_code cc = aiw_completion_code(c);
    aiw_completion_free(c);
    ck_abort_msg("unexpected %s completion (%s)", msg ? "MESSAGE" : "RESULT", aiw_code_name(cc));
  }
  ck_assert_msg(r == AIW_QUEUE_TIMEOUT, "aiw_queue_wait(%lld): %s", (long long)timeout_ms, qr_name(r));
  ck_assert_ptr_null(c);
}

/* ck_asserts SHUTDOWN with *out NULL. */
static void expect_wait_shutdown(aiw_queue *q, int64_t timeout_ms) {
  aiw_completion *c = (aiw_completion *)&c;
  aiw_queue_result r = aiw_queue_wait(q, timeout_ms, &c);
  if (r == AIW_QUEUE_COMPLETION) aiw_completion_free(c);
  ck_assert_msg(r == AIW_QUEUE_SHUTDOWN, "aiw_queue_wait(%lld) on a drained shut-down queue: %s",
                (long long)timeout_ms, qr_name(r));
  ck_assert_ptr_null(c);
}

static aiw_code try_chat_start(aiw_client *cl, const char *query, const aiw_call_options *o, aiw_queue *q, void *tag,
                               aiw_error *err) {
  aiw_chat_request *r = chat_req(query);
  aiw_code rc = aiw_chat_stream_start(cl, r, o, q, tag, err);
  aiw_chat_request_free(r);
  return rc;
}

static void chat_start(aiw_client *cl, const char *query, const aiw_call_options *o, aiw_queue *q, void *tag) {
  aiw_error err;
  aiw_code rc = try_chat_start(cl, query, o, q, tag, &err);
  ck_assert_msg(rc == AIW_OK, "aiw_chat_stream_start(%s): %s: %s", query, aiw_code_name(rc), err.message);
  ck_assert_int_eq(err.code, AIW_OK);
}

static void embed_start(aiw_client *cl, const char *text, const aiw_call_options *o, aiw_queue *q, void *tag) {
  aiw_embedding_request *r = embed_req(text, AIW_EMBEDDING_UNKNOWN);
  aiw_error err;
  aiw_code rc = aiw_get_embedding_start(cl, r, o, q, tag, &err);
  aiw_embedding_request_free(r);
  ck_assert_msg(rc == AIW_OK, "aiw_get_embedding_start(%s): %s: %s", text, aiw_code_name(rc), err.message);
}

/* ck_asserts a MESSAGE completion of the chat stream `tag`; moves its
 * response out (the caller frees it with aiw_chat_response_free). */
static aiw_chat_response *expect_message(aiw_completion *c, void *tag) {
  ck_assert_msg(aiw_completion_is_message(c) == 1, "a RESULT (%s: %s) where a MESSAGE was due",
                aiw_code_name(aiw_completion_code(c)),
                aiw_completion_error(c) ? aiw_completion_error(c)->message : "");
  ck_assert_ptr_eq(aiw_completion_tag(c), tag);
  ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
  const char *m = aiw_completion_method(c);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m, "ChatStream");
  ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
  size_t len = 77;
  ck_assert_ptr_null(aiw_completion_message(c, &len)); /* a typed completion has no raw message */
  ck_assert_uint_eq(len, 0);
  ck_assert_ptr_null(aiw_completion_take_embedding_response(c));
  ck_assert_ptr_null(aiw_completion_take_search_response(c));
  ck_assert_ptr_null(aiw_completion_take_process_status(c));
  aiw_chat_response *r = aiw_completion_take_chat_response(c);
  ck_assert_ptr_nonnull(r);
  ck_assert_ptr_null(aiw_completion_take_chat_response(c)); /* once */
  ck_assert_int_eq(aiw_completion_is_message(c), 1);        /* still a MESSAGE after the take */
  return r;
}

/* ck_asserts the RESULT completion of the chat stream `tag` with `code`. */
static void expect_result(aiw_completion *c, void *tag, aiw_code code) {
  if (aiw_completion_is_message(c)) {
    aiw_chat_response *r = aiw_completion_take_chat_response(c);
    char chunk[64];
    snprintf(chunk, sizeof chunk, "%s", r ? aiw_chat_response_chunk(r) : "(none)");
    aiw_chat_response_free(r);
    ck_abort_msg("a MESSAGE (chunk \"%s\") where the RESULT (%s) was due", chunk, aiw_code_name(code));
  }
  ck_assert_ptr_eq(aiw_completion_tag(c), tag);
  const char *m = aiw_completion_method(c);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m, "ChatStream");
  const aiw_error *e = aiw_completion_error(c);
  ck_assert_ptr_nonnull(e);
  expect_code("ChatStream RESULT", aiw_completion_code(c), e, code);
  ck_assert_ptr_null(aiw_completion_take_chat_response(c));
  size_t len = 77;
  ck_assert_ptr_null(aiw_completion_message(c, &len));
  ck_assert_uint_eq(len, 0);
}

/* The next completion must be stream tag's RESULT with `code`: checked, freed. */
static void next_result(aiw_queue *q, void *tag, aiw_code code, int64_t bound_ms) {
  aiw_completion *c = wait_within(q, bound_ms);
  expect_result(c, tag, code);
  aiw_completion_free(c);
}

/* NULL when ch is message i of `!many:n` / `!count:n` (final: `!many`):
 * "chunk-<i> " for i < n; for `!many`, message n is the final one, chunk "",
 * with the default sources doc-001, doc-003, doc-005. */
static const char *counted_mismatch(const aiw_chat_response *ch, int i, int n, int final, char *buf, size_t size) {
  const char *s = aiw_chat_response_chunk(ch);
  if (i < n) {
    char want[32];
    snprintf(want, sizeof want, "chunk-%d ", i);
    if (strcmp(s, want) != 0) {
      snprintf(buf, size, "message %d: chunk \"%.40s\", want \"%s\"", i, s, want);
      return buf;
    }
    if (aiw_chat_response_is_final(ch) || aiw_chat_response_source_count(ch) != 0) {
      snprintf(buf, size, "message %d: final %d, %zu sources", i, aiw_chat_response_is_final(ch),
               aiw_chat_response_source_count(ch));
      return buf;
    }
    return NULL;
  }
  if (!final || i > n) {
    snprintf(buf, size, "message %d of a stream of %d: one too many (chunk \"%.40s\")", i, n + (final ? 1 : 0), s);
    return buf;
  }
  static const char *const ids[3] = {"doc-001", "doc-003", "doc-005"};
  if (strcmp(s, "") != 0 || !aiw_chat_response_is_final(ch) || aiw_chat_response_source_count(ch) != 3) {
    snprintf(buf, size, "final message %d: chunk \"%.40s\", final %d, %zu sources", i, s,
             aiw_chat_response_is_final(ch), aiw_chat_response_source_count(ch));
    return buf;
  }
  for (size_t k = 0; k < 3; k++) {
    const char *id = aiw_search_result_asset_id(aiw_chat_response_source(ch, k));
    if (strcmp(id, ids[k]) != 0) {
      snprintf(buf, size, "final message: source %zu is %s, want %s", k, id, ids[k]);
      return buf;
    }
  }
  return NULL;
}

/* Consumes the whole of stream `tag`, the only call on q: n counted messages
 * (plus the final one when `final`), each checked, then the RESULT `code`,
 * then nothing more. */
static void consume_counted(aiw_queue *q, void *tag, int n, int final, aiw_code code) {
  int total = n + (final ? 1 : 0);
  for (int i = 0; i < total; i++) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    aiw_chat_response *r = expect_message(c, tag);
    aiw_completion_free(c); /* the response outlives its completion */
    char buf[160];
    const char *why = counted_mismatch(r, i, n, final, buf, sizeof buf);
    aiw_chat_response_free(r);
    ck_assert_msg(why == NULL, "%s", why);
  }
  next_result(q, tag, code, hang_bound_ms(20000));
  expect_nothing(q, 0);
}

/* A cancel token and call options carrying it (and request id rid, if set). */
static aiw_call_options *token_opts(aiw_cancel_token **tok, int64_t timeout_ms, const char *rid) {
  *tok = aiw_cancel_token_new();
  ck_assert_ptr_nonnull(*tok);
  aiw_call_options *o = test_opts(timeout_ms, rid);
  ck_assert_int_eq(aiw_call_options_set_cancel_token(o, *tok), AIW_OK);
  return o;
}

/* The test cases use g_client (the library's default 4 MiB receive limit). */

/* ------------------------------------------------ streams of n messages */

START_TEST(test_stream_zero_messages) {
  /* `!count:0`: no message at all; the RESULT is the only completion. */
  aiw_queue *q = new_queue();
  int tag;
  chat_start(g_client, "!count:0", NULL, q, &tag);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  expect_result(c, &tag, AIW_OK);
  ck_assert_int_eq(aiw_completion_error(c)->grpc_status, 0);
  ck_assert_str_eq(aiw_completion_error(c)->message, "");
  ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
  aiw_completion_free(c);
  expect_nothing(q, 0);
  expect_nothing(q, 50);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_stream_one_message) {
  aiw_queue *q = new_queue();
  int tag;
  /* `!count:1`: one plain message. */
  chat_start(g_client, "!count:1", NULL, q, &tag);
  consume_counted(q, &tag, 1, 0, AIW_OK);
  /* `!many:0`: only the final message (chunk "", is_final, sources). */
  chat_start(g_client, "!many:0", NULL, q, &tag);
  consume_counted(q, &tag, 0, 1, AIW_OK);
  /* `!empty`: one message of zero bytes is a message too. */
  chat_start(g_client, "!empty", NULL, q, NULL);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  aiw_chat_response *r = expect_message(c, NULL);
  aiw_completion_free(c);
  ck_assert_str_eq(aiw_chat_response_chunk(r), "");
  ck_assert_int_eq(aiw_chat_response_is_final(r), 0);
  ck_assert_uint_eq(aiw_chat_response_source_count(r), 0);
  aiw_chat_response_free(r);
  next_result(q, NULL, AIW_OK, hang_bound_ms(20000));
  expect_nothing(q, 0);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_stream_thousand_messages) {
  /* `!many:999`: 999 chunks and the final message -- 1,000 messages, in
   * order, then one RESULT. (200 under valgrind.) */
  int n = test_slow() ? 199 : 999;
  char query[32];
  snprintf(query, sizeof query, "!many:%d", n);
  aiw_queue *q = new_queue();
  int tag;
  int64_t t0 = now_ms();
  chat_start(g_client, query, NULL, q, &tag);
  consume_counted(q, &tag, n, 1, AIW_OK);
  expect_within(t0, hang_bound_ms(20000), "a stream of 1,000 messages");
  /* `!count:N` likewise, with no final message. */
  snprintf(query, sizeof query, "!count:%d", n + 1);
  chat_start(g_client, query, NULL, q, &tag);
  consume_counted(q, &tag, n + 1, 0, AIW_OK);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_stream_normal_answer) {
  /* The five-chunk answer; the responses are kept after their completions
   * were freed (and the queue too) and checked at the end. */
  aiw_queue *q = new_queue();
  char tag[] = "chat";
  chat_start(g_client, UNI, NULL, q, tag);
  aiw_chat_response *r[5];
  for (int i = 0; i < 5; i++) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    r[i] = expect_message(c, tag);
    aiw_completion_free(c);
  }
  next_result(q, tag, AIW_OK, hang_bound_ms(20000));
  expect_nothing(q, 0);
  aiw_queue_free(q);
  char text[1024] = "";
  for (int i = 0; i < 5; i++) {
    strncat(text, aiw_chat_response_chunk(r[i]), sizeof text - strlen(text) - 1);
    ck_assert_int_eq(aiw_chat_response_is_final(r[i]), i == 4);
    ck_assert_uint_eq(aiw_chat_response_source_count(r[i]), i == 4 ? 3 : 0);
  }
  char want[512];
  chat_answer(want, sizeof want, UNI);
  ck_assert_str_eq(text, want);
  expect_corpus_result(aiw_chat_response_source(r[4], 0), "doc-001", AIW_SEARCH_SEMANTIC);
  expect_corpus_result(aiw_chat_response_source(r[4], 1), "doc-003", AIW_SEARCH_SEMANTIC);
  expect_corpus_result(aiw_chat_response_source(r[4], 2), "doc-005", AIW_SEARCH_SEMANTIC);
  ck_assert_ptr_null(aiw_chat_response_source(r[4], 3));
  for (int i = 0; i < 5; i++) aiw_chat_response_free(r[i]);
}
END_TEST

START_TEST(test_stream_request_copied) {
  /* Request and options (metadata, history, chat options) freed right after
   * the start: `!echo` reflects them all. */
  aiw_queue *q = new_queue();
  char rid[64];
  unique_id(rid, sizeof rid, "stream-echo");
  aiw_chat_request *r = chat_req("!echo");
  ck_assert_int_eq(aiw_chat_request_add_history(r, "user", UNI, 1700000000), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_add_history(r, "assistant", "", -42), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_max_context_docs(r, 7), AIW_OK);
  ck_assert_int_eq(aiw_chat_request_set_similarity_threshold(r, 0.375f), AIW_OK);
  aiw_call_options *o = test_opts(hang_bound_ms(20000), rid);
  aiw_error err;
  ck_assert_int_eq(aiw_chat_stream_start(g_client, r, o, q, rid, &err), AIW_OK);
  aiw_chat_request_free(r);
  aiw_call_options_free(o);
  for (int i = 0; i < 64; i++) { /* reuse the freed blocks */
    char *p = malloc(32 + (size_t)i * 16);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x5a, 32 + (size_t)i * 16);
    free(p);
  }
  char want[3][256];
  snprintf(want[0], sizeof want[0], "user|%s|1700000000\n", UNI);
  snprintf(want[1], sizeof want[1], "assistant||-42\n");
  snprintf(want[2], sizeof want[2],
           "options:max_context_docs=7,similarity_threshold=0.375,include_images=0,stream_response=0");
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    aiw_chat_response *ch = expect_message(c, rid);
    aiw_completion_free(c);
    ck_assert_str_eq(aiw_chat_response_chunk(ch), want[i]);
    ck_assert_int_eq(aiw_chat_response_is_final(ch), i == 2);
    if (i == 2) {
      ck_assert_uint_eq(aiw_chat_response_source_count(ch), 1);
      const aiw_search_result *s = aiw_chat_response_source(ch, 0);
      ck_assert_str_eq(aiw_search_result_asset_id(s), "echo");
      ck_assert_str_eq(aiw_search_result_metadata_get(s, "history"), "2");
      ck_assert_str_eq(aiw_search_result_metadata_get(s, "options"), "1");
      ck_assert_str_eq(aiw_search_result_metadata_get(s, "md:x-request-id"), rid);
    }
    aiw_chat_response_free(ch);
  }
  next_result(q, rid, AIW_OK, hang_bound_ms(20000));
  expect_outcome(&g_srv, rid, "OK", 5000);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_stream_errors) {
  aiw_queue *q = new_queue();
  /* Three messages, then the server's status. */
  chat_start(g_client, "!error-after:3:ABORTED:boom: mid-stream", NULL, q, q);
  consume_counted(q, q, 3, 0, AIW_ABORTED);
  chat_start(g_client, "!error-after:3:ABORTED:boom: mid-stream", NULL, q, q);
  for (int i = 0; i < 3; i++) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    aiw_chat_response_free(expect_message(c, q));
    aiw_completion_free(c);
  }
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  expect_result(c, q, AIW_ABORTED);
  expect_status_error(aiw_completion_error(c), AIW_ABORTED, "boom: mid-stream");
  ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
  aiw_completion_free(c);

  /* A status before any message: the RESULT only. */
  chat_start(g_client, "!error:UNAUTHENTICATED:who are you", NULL, q, NULL);
  c = wait_within(q, hang_bound_ms(20000));
  expect_result(c, NULL, AIW_UNAUTHENTICATED);
  expect_status_error(aiw_completion_error(c), AIW_UNAUTHENTICATED, "who are you");
  aiw_completion_free(c);
  expect_nothing(q, 0);

  /* An undecodable message: the good one before it, then INTERNAL. */
  chat_start(g_client, "!garbage", NULL, q, NULL);
  c = wait_within(q, hang_bound_ms(20000));
  aiw_chat_response *r = expect_message(c, NULL);
  aiw_completion_free(c);
  ck_assert_str_eq(aiw_chat_response_chunk(r), "before garbage ");
  aiw_chat_response_free(r);
  c = wait_within(q, hang_bound_ms(20000));
  expect_result(c, NULL, AIW_INTERNAL);
  ck_assert_msg(says_undecodable(aiw_completion_error(c)->message), "message: %s", aiw_completion_error(c)->message);
  aiw_completion_free(c);
  expect_nothing(q, 0);

  /* A message over the client's 4 MiB receive limit: RESOURCE_EXHAUSTED, no message. */
  chat_start(g_client, "!big:5242880", NULL, q, NULL);
  next_result(q, NULL, AIW_RESOURCE_EXHAUSTED, hang_bound_ms(20000));
  expect_nothing(q, 0);
  /* And one under it goes through: 2 messages. */
  chat_start(g_client, "!big:100000", NULL, q, NULL);
  c = wait_within(q, hang_bound_ms(20000));
  r = expect_message(c, NULL);
  aiw_completion_free(c);
  ck_assert_uint_eq(strlen(aiw_chat_response_chunk(r)), 100000);
  aiw_chat_response_free(r);
  c = wait_within(q, hang_bound_ms(20000));
  r = expect_message(c, NULL);
  aiw_completion_free(c);
  ck_assert_int_eq(aiw_chat_response_is_final(r), 1);
  aiw_chat_response_free(r);
  next_result(q, NULL, AIW_OK, hang_bound_ms(20000));
  aiw_queue_free(q);
}
END_TEST

/* ------------------------------------- interleaved, several threads */

#define IL_MAX 64

typedef struct il_slot {
  int idx;
  int is_stream; /* else a unary GetEmbedding */
  int n;         /* stream: `!many:n` */
  char text[64]; /* stream query / embedding text */
  aiw_client *client;
  int started;   /* its start returned AIW_OK */
  int next;      /* messages seen (atomic) */
  int held;      /* a message of it is out of the queue now (atomic) */
  int results;   /* RESULT completions seen (atomic) */
  int ok;        /* its RESULT was right */
  char why[200]; /* the first problem */
} il_slot;

typedef struct il_ctx {
  aiw_queue *q;
  il_slot slots[2 * IL_MAX];
  int nslots;
  int nstarters;
  int64_t deadline;
  int messages; /* atomic */
  char failure[8][256];
} il_ctx;

typedef struct il_arg {
  il_ctx *x;
  int id;
} il_arg;

static void il_fail(il_slot *s, const char *why) {
  if (s->why[0] == '\0') snprintf(s->why, sizeof s->why, "%s", why);
}

static void *il_starter(void *arg) {
  il_arg *a = arg;
  il_ctx *x = a->x;
  for (int i = a->id; i < x->nslots; i += x->nstarters) {
    il_slot *s = &x->slots[i];
    aiw_error err;
    aiw_code rc = AIW_OUT_OF_MEMORY;
    if (s->is_stream) {
      aiw_chat_request *r = aiw_chat_request_new();
      if (r != NULL && aiw_chat_request_set_query(r, s->text) == AIW_OK)
        rc = aiw_chat_stream_start(s->client, r, NULL, x->q, s, &err);
      aiw_chat_request_free(r);
    } else {
      aiw_embedding_request *r = aiw_embedding_request_new();
      if (r != NULL && aiw_embedding_request_set_text(r, s->text) == AIW_OK)
        rc = aiw_get_embedding_start(s->client, r, NULL, x->q, s, &err);
      aiw_embedding_request_free(r);
    }
    if (rc == AIW_OK) {
      s->started = 1;
    } else {
      snprintf(x->failure[a->id], sizeof x->failure[a->id], "start %d: %s: %.160s", i, aiw_code_name(rc), err.message);
      return NULL;
    }
  }
  return NULL;
}

static void il_message(il_ctx *x, il_slot *s, aiw_completion *c) {
  char buf[200];
  if (__atomic_exchange_n(&s->held, 1, __ATOMIC_SEQ_CST) != 0)
    il_fail(s, "two messages of one stream out of the queue at once (flow control)");
  if (!s->is_stream) il_fail(s, "a MESSAGE completion of a unary call");
  if (__atomic_load_n(&s->results, __ATOMIC_SEQ_CST) != 0) il_fail(s, "a MESSAGE after the RESULT");
  if (aiw_completion_code(c) != AIW_OK) il_fail(s, "a MESSAGE whose code is not OK");
  int i = __atomic_fetch_add(&s->next, 1, __ATOMIC_SEQ_CST);
  aiw_chat_response *r = aiw_completion_take_chat_response(c);
  if (r == NULL) {
    il_fail(s, "a MESSAGE without a ChatResponse");
  } else {
    const char *why = counted_mismatch(r, i, s->n, 1, buf, sizeof buf);
    if (why != NULL) il_fail(s, why);
  }
  aiw_chat_response_free(r);
  __atomic_add_fetch(&x->messages, 1, __ATOMIC_SEQ_CST);
  __atomic_store_n(&s->held, 0, __ATOMIC_SEQ_CST); /* before the free lets the next one in */
  aiw_completion_free(c);
}

static void il_result(il_slot *s, aiw_completion *c) {
  char buf[200];
  if (__atomic_add_fetch(&s->results, 1, __ATOMIC_SEQ_CST) != 1) {
    il_fail(s, "a second RESULT");
    aiw_completion_free(c);
    return;
  }
  aiw_code code = aiw_completion_code(c);
  const aiw_error *e = aiw_completion_error(c);
  if (code != AIW_OK) {
    snprintf(buf, sizeof buf, "RESULT %s: %.160s", aiw_code_name(code), e ? e->message : "");
    il_fail(s, buf);
  } else if (s->is_stream) {
    int got = __atomic_load_n(&s->next, __ATOMIC_SEQ_CST);
    if (got != s->n + 1) {
      snprintf(buf, sizeof buf, "RESULT after %d messages, want %d", got, s->n + 1);
      il_fail(s, buf);
    } else if (strcmp(aiw_completion_method(c), "ChatStream") != 0) {
      il_fail(s, "RESULT method is not ChatStream");
    } else {
      s->ok = 1;
    }
  } else {
    aiw_embedding_response *er = aiw_completion_take_embedding_response(c);
    const char *why = embedding_mismatch(er, s->text, strlen(s->text), 0, AIW_EMBEDDING_UNKNOWN, buf,
                                         sizeof buf);
    aiw_embedding_response_free(er);
    if (why != NULL)
      il_fail(s, why);
    else
      s->ok = 1;
  }
  aiw_completion_free(c);
}

static void *il_consumer(void *arg) {
  il_arg *a = arg;
  il_ctx *x = a->x;
  for (;;) {
    if (now_ms() > x->deadline) {
      snprintf(x->failure[a->id], sizeof x->failure[a->id], "consumer %d timed out", a->id);
      return NULL;
    }
    aiw_completion *c = NULL;
    aiw_queue_result r = aiw_queue_wait(x->q, 100, &c);
    if (r == AIW_QUEUE_TIMEOUT) continue;
    if (r == AIW_QUEUE_SHUTDOWN) return NULL;
    if (r != AIW_QUEUE_COMPLETION || c == NULL) {
      snprintf(x->failure[a->id], sizeof x->failure[a->id], "consumer %d: aiw_queue_wait: %s", a->id, qr_name(r));
      return NULL;
    }
    il_slot *s = aiw_completion_tag(c);
    if (s < x->slots || s >= x->slots + x->nslots) {
      snprintf(x->failure[a->id], sizeof x->failure[a->id], "consumer %d: unknown tag %p", a->id, (void *)s);
      aiw_completion_free(c);
      return NULL;
    }
    if (aiw_completion_is_message(c))
      il_message(x, s, c);
    else
      il_result(s, c);
  }
}

/* nstreams streams (`!many:<10 + i>`) and as many GetEmbedding calls over
 * two clients, started from nstarters threads, consumed by nconsumers. */
static void run_interleaved(int nstreams, int nstarters, int nconsumers) {
  il_ctx *x = calloc(1, sizeof *x);
  ck_assert_ptr_nonnull(x);
  x->q = new_queue();
  x->nstarters = nstarters;
  x->deadline = now_ms() + hang_bound_ms(40000);
  aiw_client *b = test_client(g_srv.target, 0);
  int expected_messages = 0;
  for (int i = 0; i < 2 * nstreams; i++) {
    il_slot *s = &x->slots[i];
    s->idx = i;
    s->is_stream = (i % 2 == 0);
    s->client = (i / 2) % 2 ? b : g_client;
    if (s->is_stream) {
      s->n = 10 + i;
      snprintf(s->text, sizeof s->text, "!many:%d", s->n);
      expected_messages += s->n + 1;
    } else {
      snprintf(s->text, sizeof s->text, "interleaved %d \xe2\x9c\x93", i);
    }
  }
  x->nslots = 2 * nstreams;
  pthread_t th[8];
  il_arg args[8];
  for (int i = 0; i < nstarters + nconsumers; i++) args[i] = (il_arg){x, i};
  threads_start(th + nstarters, nconsumers, il_consumer, args + nstarters, sizeof args[0]);
  threads_start(th, nstarters, il_starter, args, sizeof args[0]);
  threads_join(th, nstarters);
  /* Every start returned: shut the queue down. The calls in flight still
   * complete; the consumers stop on SHUTDOWN once everything was taken. */
  aiw_queue_shutdown(x->q);
  threads_join(th + nstarters, nconsumers);
  for (int i = 0; i < nstarters + nconsumers; i++)
    ck_assert_msg(x->failure[i][0] == '\0', "thread %d: %s", i, x->failure[i]);
  for (int i = 0; i < x->nslots; i++) {
    il_slot *s = &x->slots[i];
    ck_assert_msg(s->started, "call %d not started", i);
    ck_assert_msg(s->why[0] == '\0', "call %d (%s): %s", i, s->text, s->why);
    ck_assert_msg(s->results == 1, "call %d (%s): %d RESULTs", i, s->text, s->results);
    ck_assert_msg(s->ok, "call %d (%s): not checked", i, s->text);
  }
  ck_assert_int_eq(x->messages, expected_messages);
  expect_wait_shutdown(x->q, -1);
  aiw_queue_free(x->q);
  aiw_client_free(b);
  free(x);
}

START_TEST(test_interleaved_one_consumer) {
  run_interleaved(test_slow() ? 8 : 32, 4, 1);
}
END_TEST

START_TEST(test_interleaved_two_consumers) {
  /* Rounds: the races between the two consumers differ every time. */
  for (int round = 0; round < (test_slow() ? 1 : 3); round++) run_interleaved(test_slow() ? 8 : IL_MAX, 4, 2);
}
END_TEST

/* ------------------------------------------- cancel races, stressed */

/* Streams (typed and raw, alternately) with a token each, consumed by two
 * threads while a third fires the tokens at random moments. Each stream
 * ends with exactly one RESULT: OK only after all its messages (and never
 * when its token had fired before the consumer freed its last message),
 * else CANCELLED after a prefix of them in order. */
#define CR_N 32

typedef struct cr_slot {
  int n;     /* `!many:n` */
  int raw;   /* started with aiw_raw_stream_start */
  aiw_cancel_token *tok;
  int next;         /* messages seen (atomic) */
  int results;      /* atomic */
  int cancel_first; /* the token had fired when the last message was freed */
  aiw_code code;
  char why[200];
} cr_slot;

typedef struct cr_ctx {
  aiw_queue *q;
  cr_slot slots[CR_N];
  int done; /* RESULTs seen (atomic) */
  int64_t deadline;
  char failure[3][200];
} cr_ctx;

typedef struct cr_arg {
  cr_ctx *x;
  int id;
} cr_arg;

/* Minimal protobuf decoding of a ChatResponse's chunk (field 1) and
 * is_final (field 2): enough to check order without protobuf-c here. */
static int cr_decode(const unsigned char *p, size_t len, char *chunk, size_t size, int *final) {
  size_t i = 0;
  chunk[0] = '\0';
  *final = 0;
  while (i < len) {
    unsigned key = p[i++];
    if (key == 0x0a) { /* field 1, length-delimited (chunks are short) */
      if (i >= len || p[i] >= 0x80) return -1;
      size_t l = p[i++];
      if (i + l > len || l >= size) return -1;
      memcpy(chunk, p + i, l);
      chunk[l] = '\0';
      i += l;
    } else if (key == 0x10) { /* field 2, varint */
      if (i >= len) return -1;
      *final = p[i++] != 0;
    } else if (key == 0x1a) { /* field 3, sources: skip */
      size_t l = 0;
      int shift = 0;
      while (i < len && (p[i] & 0x80)) l |= (size_t)(p[i++] & 0x7f) << shift, shift += 7;
      if (i >= len) return -1;
      l |= (size_t)p[i++] << shift;
      if (i + l > len) return -1;
      i += l;
    } else {
      return -1;
    }
  }
  return 0;
}

static void cr_fail(cr_slot *s, const char *why) {
  if (s->why[0] == '\0') snprintf(s->why, sizeof s->why, "%s", why);
}

static void *cr_consumer(void *arg) {
  cr_arg *a = arg;
  cr_ctx *x = a->x;
  while (__atomic_load_n(&x->done, __ATOMIC_SEQ_CST) < CR_N) {
    if (now_ms() > x->deadline) {
      snprintf(x->failure[a->id], sizeof x->failure[a->id], "consumer %d timed out", a->id);
      return NULL;
    }
    aiw_completion *c = NULL;
    aiw_queue_result r = aiw_queue_wait(x->q, 50, &c);
    if (r == AIW_QUEUE_TIMEOUT) continue;
    if (r != AIW_QUEUE_COMPLETION) {
      snprintf(x->failure[a->id], sizeof x->failure[a->id], "consumer %d: %s", a->id, qr_name(r));
      return NULL;
    }
    cr_slot *s = aiw_completion_tag(c);
    if (s < x->slots || s >= x->slots + CR_N) {
      snprintf(x->failure[a->id], sizeof x->failure[a->id], "unknown tag");
      aiw_completion_free(c);
      return NULL;
    }
    char buf[200];
    if (aiw_completion_is_message(c)) {
      int i = __atomic_fetch_add(&s->next, 1, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&s->results, __ATOMIC_SEQ_CST)) cr_fail(s, "a MESSAGE after the RESULT");
      char chunk[64];
      int final = 0;
      if (s->raw) {
        size_t len = 0;
        const unsigned char *p = aiw_completion_message(c, &len);
        if (p == NULL || cr_decode(p, len, chunk, sizeof chunk, &final) != 0) {
          cr_fail(s, "a raw message that is no ChatResponse");
          chunk[0] = '\0';
        }
      } else {
        aiw_chat_response *ch = aiw_completion_take_chat_response(c);
        snprintf(chunk, sizeof chunk, "%s", ch ? aiw_chat_response_chunk(ch) : "(none)");
        final = ch ? aiw_chat_response_is_final(ch) : 0;
        aiw_chat_response_free(ch);
      }
      char want[32];
      if (i < s->n)
        snprintf(want, sizeof want, "chunk-%d ", i);
      else
        want[0] = '\0';
      if (i > s->n || strcmp(chunk, want) != 0 || final != (i == s->n)) {
        snprintf(buf, sizeof buf, "message %d: \"%.40s\" final %d", i, chunk, final);
        cr_fail(s, buf);
      }
      if (final && aiw_cancel_token_is_cancelled(s->tok)) s->cancel_first = 1; /* fired before this free */
      aiw_completion_free(c);
      continue;
    }
    if (__atomic_add_fetch(&s->results, 1, __ATOMIC_SEQ_CST) != 1) cr_fail(s, "a second RESULT");
    s->code = aiw_completion_code(c);
    int got = __atomic_load_n(&s->next, __ATOMIC_SEQ_CST);
    if (s->code == AIW_OK && got != s->n + 1) {
      snprintf(buf, sizeof buf, "OK after %d of %d messages", got, s->n + 1);
      cr_fail(s, buf);
    } else if (s->code == AIW_OK && s->cancel_first) {
      cr_fail(s, "OK although its token fired before the last message was freed");
    } else if (s->code != AIW_OK && s->code != AIW_CANCELLED) {
      snprintf(buf, sizeof buf, "RESULT %s", aiw_code_name(s->code));
      cr_fail(s, buf);
    }
    aiw_completion_free(c);
    __atomic_add_fetch(&x->done, 1, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

static void *cr_canceller(void *arg) {
  cr_arg *a = arg;
  cr_ctx *x = a->x;
  unsigned seed = (unsigned)now_ms();
  for (int i = 0; i < CR_N; i++) {
    struct timespec ts = {0, (long)(rand_r(&seed) % 3000) * 1000L}; /* 0..3 ms */
    nanosleep(&ts, NULL);
    aiw_cancel_token_cancel(x->slots[(i * 7) % CR_N].tok);
  }
  return NULL;
}

START_TEST(test_cancel_races) {
  int rounds = test_slow() ? 1 : 4;
  int cancelled = 0, ok = 0;
  for (int round = 0; round < rounds; round++) {
    cr_ctx *x = calloc(1, sizeof *x);
    ck_assert_ptr_nonnull(x);
    x->q = new_queue();
    x->deadline = now_ms() + hang_bound_ms(30000);
    for (int i = 0; i < CR_N; i++) {
      cr_slot *s = &x->slots[i];
      s->n = 3 + (i * 5) % 40;
      s->raw = i % 2;
      s->tok = aiw_cancel_token_new();
      ck_assert_ptr_nonnull(s->tok);
      aiw_call_options *o = test_opts(0, NULL);
      ck_assert_int_eq(aiw_call_options_set_cancel_token(o, s->tok), AIW_OK);
      char query[32];
      snprintf(query, sizeof query, "!many:%d", s->n);
      aiw_chat_request *r = chat_req(query);
      aiw_error err;
      aiw_code rc;
      if (s->raw) {
        /* ChatRequest{query}: field 1, length-delimited. */
        unsigned char msg[40];
        size_t l = strlen(query);
        msg[0] = 0x0a;
        msg[1] = (unsigned char)l;
        memcpy(msg + 2, query, l);
        rc = aiw_raw_stream_start(g_client, AIW_PATH_CHAT_STREAM, msg, l + 2, o, x->q, s, &err);
      } else {
        rc = aiw_chat_stream_start(g_client, r, o, x->q, s, &err);
      }
      ck_assert_msg(rc == AIW_OK, "start %d: %s", i, aiw_code_name(rc));
      aiw_chat_request_free(r);
      aiw_call_options_free(o);
    }
    pthread_t th[3];
    cr_arg args[3] = {{x, 0}, {x, 1}, {x, 2}};
    threads_start(th, 2, cr_consumer, args, sizeof args[0]);
    threads_start(th + 2, 1, cr_canceller, args + 2, sizeof args[0]);
    threads_join(th, 3);
    for (int i = 0; i < 3; i++) ck_assert_msg(x->failure[i][0] == '\0', "thread %d: %s", i, x->failure[i]);
    for (int i = 0; i < CR_N; i++) {
      cr_slot *s = &x->slots[i];
      ck_assert_msg(s->why[0] == '\0', "round %d, %s stream %d (!many:%d): %s", round, s->raw ? "raw" : "typed", i,
                    s->n, s->why);
      ck_assert_int_eq(s->results, 1);
      if (s->code == AIW_OK) ok++;
      else cancelled++;
    }
    expect_nothing(x->q, 0);
    aiw_queue_free(x->q);
    for (int i = 0; i < CR_N; i++) aiw_cancel_token_free(x->slots[i].tok);
    free(x);
  }
  fprintf(stderr, "async_stream cancel races: %d OK, %d CANCELLED\n", ok, cancelled);
}
END_TEST

/* ---------------------------------------------------------- cancelling */

START_TEST(test_cancel_before_first_message) {
  aiw_queue *q = new_queue();
  char rid[64];
  unique_id(rid, sizeof rid, "cancel-first");
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, rid);
  /* Cancelled right after the start, before any message could come. */
  chat_start(g_client, SLOW_DIRECTIVE, o, q, tok);
  int64_t t0 = now_ms();
  aiw_cancel_token_cancel(tok);
  next_result(q, tok, AIW_CANCELLED, prompt_bound_ms());
  expect_within(t0, prompt_bound_ms(), "a cancelled stream's RESULT");
  expect_nothing(q, 0);
  /* (The server may never have seen that call: no events line to check.) */

  /* A start with the token already cancelled sends nothing: either the start
   * refuses with CANCELLED, or its one completion is the RESULT CANCELLED. */
  aiw_error err;
  aiw_code rc = try_chat_start(g_client, "q", o, q, tok, &err);
  ck_assert_msg(rc == AIW_OK || rc == AIW_CANCELLED, "start with a cancelled token: %s", aiw_code_name(rc));
  ck_assert_int_eq(err.code, rc);
  if (rc == AIW_OK) next_result(q, tok, AIW_CANCELLED, prompt_bound_ms());
  expect_nothing(q, 0);

  /* From another thread while this one waits. */
  aiw_cancel_token_reset(tok);
  chat_start(g_client, SLOW_DIRECTIVE, o, q, tok);
  interrupter it;
  interrupter_start(&it, tok, NULL, 0);
  next_result(q, tok, AIW_CANCELLED, prompt_bound_ms());
  interrupter_join(&it);
  expect_nothing(q, 0);

  /* Reset: the token works again (a whole stream, OK). */
  aiw_cancel_token_reset(tok);
  chat_start(g_client, "!count:2", o, q, tok);
  consume_counted(q, tok, 2, 0, AIW_OK);
  aiw_call_options_free(o);
  aiw_queue_free(q);
  aiw_cancel_token_free(tok);
}
END_TEST

START_TEST(test_cancel_mid_stream) {
  /* After k messages (the k-th held while the token fires, then freed): the
   * RESULT is CANCELLED and no further message comes. */
  aiw_queue *q = new_queue();
  const int ks[] = {0, 1, 7};
  for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
    int k = ks[t];
    char rid[64];
    unique_id(rid, sizeof rid, "cancel-mid");
    aiw_cancel_token *tok;
    aiw_call_options *o = token_opts(&tok, 0, rid);
    chat_start(g_client, "!many:100000", o, q, tok);
    aiw_call_options_free(o);
    for (int i = 0; i <= k; i++) {
      aiw_completion *c = wait_within(q, hang_bound_ms(20000));
      aiw_chat_response *r = expect_message(c, tok);
      char buf[160];
      const char *why = counted_mismatch(r, i, 100000, 1, buf, sizeof buf);
      aiw_chat_response_free(r);
      ck_assert_msg(why == NULL, "%s", why);
      if (i == k) aiw_cancel_token_cancel(tok); /* while message k is held */
      aiw_completion_free(c);
    }
    next_result(q, tok, AIW_CANCELLED, prompt_bound_ms());
    expect_nothing(q, 0);
    expect_outcome(&g_srv, rid, "CANCELLED", 10000);
    aiw_cancel_token_free(tok);
  }

  /* A slow stream, cancelled from another thread while this one waits for
   * its second message (due 1.5 s after the first): promptly CANCELLED. */
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, NULL);
  chat_start(g_client, "!slow:1500", o, q, tok);
  aiw_call_options_free(o);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  aiw_chat_response_free(expect_message(c, tok));
  aiw_completion_free(c);
  interrupter it;
  interrupter_start(&it, tok, NULL, 0);
  c = wait_within(q, prompt_bound_ms());
  int64_t got = now_ms();
  interrupter_join(&it);
  expect_result(c, tok, AIW_CANCELLED);
  aiw_completion_free(c);
  ck_assert_int_lt(got - it.fired_at, hang_bound_ms(1000));
  expect_nothing(q, 0);
  aiw_cancel_token_free(tok);
  aiw_queue_free(q);
}
END_TEST

/* Consumes stream `query` (n messages) up to its last message, holds that,
 * waits hold_ms (nothing may come out meanwhile: the stream cannot end
 * before its last message is freed), cancels the token when `cancel`, frees
 * the message; the RESULT must be `want`. */
static void last_message_case(aiw_queue *q, const char *query, int n, int hold_ms, int cancel, aiw_code want) {
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, NULL);
  chat_start(g_client, query, o, q, tok);
  aiw_call_options_free(o);
  for (int i = 0; i < n; i++) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    aiw_chat_response_free(expect_message(c, tok));
    if (i < n - 1) {
      aiw_completion_free(c);
      continue;
    }
    expect_nothing(q, hold_ms); /* held: no RESULT yet */
    if (cancel) aiw_cancel_token_cancel(tok);
    aiw_completion_free(c);
  }
  aiw_completion *c = wait_within(q, prompt_bound_ms());
  if (!aiw_completion_is_message(c) && aiw_completion_code(c) != want)
    ck_abort_msg("%s: last message held, %s, freed: RESULT %s, want %s", query,
                 cancel ? "token cancelled" : "not cancelled", aiw_code_name(aiw_completion_code(c)),
                 aiw_code_name(want));
  expect_result(c, tok, want);
  aiw_completion_free(c);
  expect_nothing(q, 0);
  aiw_cancel_token_free(tok);
}

START_TEST(test_cancel_after_last_message) {
  /* The last message held, the token fired, the message freed: CANCELLED,
   * never OK -- although the server has finished (and, after the hold, its
   * status has reached the client). Several shapes and rounds. The same
   * without the cancel: OK. */
  aiw_queue *q = new_queue();
  const struct {
    const char *query;
    int n;
  } shapes[] = {{"!many:3", 4}, {"!count:2", 2}, {"!count:1", 1}, {"hello", 5}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    for (int round = 0; round < 3; round++) {
      int hold = round == 0 ? 0 : round == 1 ? 20 : 200;
      last_message_case(q, shapes[s].query, shapes[s].n, hold, 1, AIW_CANCELLED);
      last_message_case(q, shapes[s].query, shapes[s].n, hold, 0, AIW_OK);
    }
  }
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_cancel_one_of_many) {
  /* A token per stream: cancelling one leaves the others alone. */
  enum { N = 4 };
  aiw_queue *q = new_queue();
  aiw_cancel_token *tok[N];
  int msgs[N] = {0}, results[N] = {0};
  for (int i = 0; i < N; i++) {
    aiw_call_options *o = token_opts(&tok[i], 0, NULL);
    chat_start(g_client, i == 1 ? "!many:100000" : "!many:30", o, q, tok[i]);
    aiw_call_options_free(o);
  }
  int done = 0;
  while (done < N) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    int i = -1;
    for (int k = 0; k < N; k++)
      if (aiw_completion_tag(c) == tok[k]) i = k;
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(results[i], 0);
    if (aiw_completion_is_message(c)) {
      aiw_chat_response *r = expect_message(c, tok[i]);
      char buf[160];
      const char *why = counted_mismatch(r, msgs[i], i == 1 ? 100000 : 30, 1, buf, sizeof buf);
      aiw_chat_response_free(r);
      ck_assert_msg(why == NULL, "stream %d: %s", i, why);
      msgs[i]++;
      if (i == 1 && msgs[i] == 5) aiw_cancel_token_cancel(tok[1]);
    } else {
      expect_result(c, tok[i], i == 1 ? AIW_CANCELLED : AIW_OK);
      results[i]++;
      done++;
    }
    aiw_completion_free(c);
  }
  for (int i = 0; i < N; i++) {
    if (i == 1)
      ck_assert_int_eq(msgs[i], 5);
    else
      ck_assert_int_eq(msgs[i], 31);
    aiw_cancel_token_free(tok[i]);
  }
  expect_nothing(q, 0);
  aiw_queue_free(q);
}
END_TEST

/* --------------------------------------------------------- flow control */

START_TEST(test_slow_consumer_flow_control) {
  /* `!many:100000` with the consumer holding a message and sleeping: exactly
   * one completion came out while it holds it; after the free the stream
   * resumes, in order. */
  aiw_queue *q = new_queue();
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, NULL);
  chat_start(g_client, "!many:100000", o, q, tok);
  aiw_call_options_free(o);
  int out = 0, next = 0;
  aiw_completion *held = wait_within(q, hang_bound_ms(20000));
  out++;
  aiw_chat_response *r = expect_message(held, tok);
  char buf[160];
  const char *why = counted_mismatch(r, next++, 100000, 1, buf, sizeof buf);
  aiw_chat_response_free(r);
  ck_assert_msg(why == NULL, "%s", why);
  for (int i = 0; i < 4; i++) expect_nothing(q, 100); /* 400 ms of waiting: nothing */
  sleep_ms(300);                                      /* and 300 ms of not waiting */
  expect_nothing(q, 0);
  ck_assert_int_eq(out, 1);
  aiw_completion_free(held);

  /* Resumes: the next 300 in order. */
  int burst = test_slow() ? 50 : 300;
  for (int i = 0; i < burst; i++) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    out++;
    r = expect_message(c, tok);
    why = counted_mismatch(r, next++, 100000, 1, buf, sizeof buf);
    aiw_chat_response_free(r);
    ck_assert_msg(why == NULL, "%s", why);
    if (i < burst - 1) aiw_completion_free(c);
    else held = c;
  }
  /* Held again: nothing more comes out. */
  expect_nothing(q, 200);
  ck_assert_int_eq(out, burst + 1);
  aiw_cancel_token_cancel(tok);
  aiw_completion_free(held);
  next_result(q, tok, AIW_CANCELLED, prompt_bound_ms());
  expect_nothing(q, 0);
  aiw_cancel_token_free(tok);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_held_message_blocks_only_its_stream) {
  /* Stream A's first message held: A stops, stream B and a unary call on
   * the same queue go on to their RESULTs; then A resumes after the free. */
  aiw_queue *q = new_queue();
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, NULL);
  int a, b, u;
  chat_start(g_client, "!many:100000", o, q, &a);
  aiw_call_options_free(o);
  aiw_completion *held = NULL;
  while (held == NULL) { /* A's first message (nothing else is started yet) */
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    aiw_chat_response_free(expect_message(c, &a));
    held = c;
  }
  chat_start(g_client, "!many:50", NULL, q, &b);
  embed_start(g_client, "hello", NULL, q, &u);
  int bmsgs = 0, bres = 0, ures = 0;
  while (bres + ures < 2) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    void *t = aiw_completion_tag(c);
    ck_assert_msg(t != &a, "stream A produced a completion while its message was held");
    if (t == &b) {
      if (aiw_completion_is_message(c)) {
        aiw_chat_response *r = expect_message(c, &b);
        char buf[160];
        const char *why = counted_mismatch(r, bmsgs++, 50, 1, buf, sizeof buf);
        aiw_chat_response_free(r);
        ck_assert_msg(why == NULL, "B: %s", why);
      } else {
        expect_result(c, &b, AIW_OK);
        bres++;
      }
    } else {
      ck_assert_ptr_eq(t, &u);
      ck_assert_int_eq(aiw_completion_is_message(c), 0);
      ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
      ck_assert_ptr_null(aiw_completion_take_chat_response(c)); /* not a stream's */
      ures++;
    }
    aiw_completion_free(c);
  }
  ck_assert_int_eq(bmsgs, 51);
  expect_nothing(q, 50);
  aiw_completion_free(held);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  aiw_chat_response *r = expect_message(c, &a);
  ck_assert_str_eq(aiw_chat_response_chunk(r), "chunk-1 ");
  aiw_chat_response_free(r);
  aiw_cancel_token_cancel(tok);
  aiw_completion_free(c);
  next_result(q, &a, AIW_CANCELLED, prompt_bound_ms());
  aiw_cancel_token_free(tok);
  aiw_queue_free(q);
}
END_TEST

/* ------------------------------------------- close, shutdown and free */

START_TEST(test_client_close_streams_in_flight) {
  /* Streams in flight (some mid-stream, one with its message held) and slow
   * unary calls of one client: aiw_client_close from another thread ends
   * every one with exactly one RESULT, CANCELLED, promptly. */
  enum { NS = 6, NU = 2, N = NS + NU };
  aiw_client *c1 = test_client(g_srv.target, 0);
  aiw_queue *q = new_queue();
  int tags[N], msgs[N] = {0}, results[N] = {0};
  for (int i = 0; i < NS; i++) chat_start(c1, i % 2 ? SLOW_DIRECTIVE : "!many:100000", NULL, q, &tags[i]);
  for (int i = NS; i < N; i++) embed_start(c1, SLOW_DIRECTIVE, NULL, q, &tags[i]);
  /* The first message of each `!many` stream; the one of stream 0 held. */
  aiw_completion *held = NULL;
  int firsts = 0;
  while (firsts < NS / 2) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    int *t = aiw_completion_tag(c);
    ck_assert(t >= tags && t < tags + N);
    int i = (int)(t - tags);
    aiw_chat_response_free(expect_message(c, t));
    ck_assert_int_eq(i % 2, 0);
    if (msgs[i]++ == 0) firsts++;
    if (i == 0 && held == NULL)
      held = c;
    else
      aiw_completion_free(c);
  }
  int64_t t0 = now_ms();
  interrupter it;
  interrupter_start(&it, NULL, c1, 0);
  interrupter_join(&it);
  aiw_completion_free(held);
  int done = 0;
  while (done < N) {
    aiw_completion *c = wait_within(q, prompt_bound_ms());
    int *t = aiw_completion_tag(c);
    ck_assert(t >= tags && t < tags + N);
    int i = (int)(t - tags);
    ck_assert_msg(results[i] == 0, "call %d: a completion after its RESULT", i);
    if (aiw_completion_is_message(c)) { /* a message read before the close: in order still */
      aiw_chat_response *r = expect_message(c, t);
      char buf[160];
      const char *why = counted_mismatch(r, msgs[i]++, 100000, 1, buf, sizeof buf);
      aiw_chat_response_free(r);
      ck_assert_msg(why == NULL, "stream %d: %s", i, why);
    } else {
      if (i < NS) {
        expect_result(c, t, AIW_CANCELLED);
      } else {
        ck_assert_int_eq(aiw_completion_code(c), AIW_CANCELLED);
        ck_assert_str_eq(aiw_completion_method(c), "GetEmbedding");
      }
      results[i]++;
      done++;
    }
    aiw_completion_free(c);
  }
  expect_within(t0, prompt_bound_ms(), "closing a client with streams in flight");
  for (int i = 0; i < N; i++) ck_assert_int_eq(results[i], 1);
  expect_nothing(q, 0);
  /* A stream start on the closed client: CANCELLED, from the start (nothing
   * queued) or as its only completion. */
  aiw_error err;
  aiw_code rc = try_chat_start(c1, "q", NULL, q, NULL, &err);
  ck_assert_msg(rc == AIW_CANCELLED || rc == AIW_OK, "stream start on a closed client: %s", aiw_code_name(rc));
  ck_assert_int_eq(err.code, rc);
  if (rc == AIW_OK) next_result(q, NULL, AIW_CANCELLED, prompt_bound_ms());
  expect_nothing(q, 0);
  aiw_queue_free(q);
  aiw_client_free(c1);
}
END_TEST

START_TEST(test_queue_shutdown_streams_in_flight) {
  /* Shut down with streams and a unary call in flight: new starts are
   * refused (CANCELLED); the calls in flight complete normally, every
   * message of them; then aiw_queue_wait says SHUTDOWN, at once. */
  enum { NS = 4 };
  int n = test_slow() ? 30 : 200;
  char query[32];
  snprintf(query, sizeof query, "!many:%d", n);
  aiw_queue *q = new_queue();
  int tags[NS + 1], msgs[NS + 1] = {0}, results[NS + 1] = {0};
  for (int i = 0; i < NS; i++) chat_start(g_client, query, NULL, q, &tags[i]);
  embed_start(g_client, "hello", NULL, q, &tags[NS]);
  aiw_queue_shutdown(q);
  aiw_queue_shutdown(q); /* idempotent */
  aiw_error err;
  expect_code("chat start on a shut-down queue", try_chat_start(g_client, "q", NULL, q, NULL, &err), &err,
              AIW_CANCELLED);
  aiw_embedding_request *er = embed_req("hello", AIW_EMBEDDING_UNKNOWN);
  expect_code("embedding start on a shut-down queue", aiw_get_embedding_start(g_client, er, NULL, q, NULL, &err),
              &err, AIW_CANCELLED);
  aiw_embedding_request_free(er);
  int done = 0;
  while (done < NS + 1) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    int *t = aiw_completion_tag(c);
    ck_assert(t >= tags && t <= tags + NS);
    int i = (int)(t - tags);
    ck_assert_int_eq(results[i], 0);
    if (aiw_completion_is_message(c)) {
      ck_assert_int_lt(i, NS);
      aiw_chat_response *r = expect_message(c, t);
      char buf[160];
      const char *why = counted_mismatch(r, msgs[i]++, n, 1, buf, sizeof buf);
      aiw_chat_response_free(r);
      ck_assert_msg(why == NULL, "stream %d: %s", i, why);
    } else {
      if (i < NS) expect_result(c, t, AIW_OK);
      else ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
      results[i]++;
      done++;
    }
    aiw_completion_free(c);
  }
  for (int i = 0; i < NS; i++) ck_assert_int_eq(msgs[i], n + 1);
  int64_t t0 = now_ms();
  expect_wait_shutdown(q, -1);
  expect_wait_shutdown(q, 0);
  expect_wait_shutdown(q, 50);
  expect_within(t0, hang_bound_ms(2000), "SHUTDOWN of a drained queue");
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_queue_shutdown_with_held_message) {
  /* Shut down while a message is held: the stream goes on after the free
   * and ends OK; SHUTDOWN comes only after its RESULT was taken. */
  aiw_queue *q = new_queue();
  int tag;
  chat_start(g_client, "!count:3", NULL, q, &tag);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  aiw_chat_response_free(expect_message(c, &tag));
  aiw_queue_shutdown(q);
  expect_nothing(q, 50); /* not SHUTDOWN: a call is in flight */
  aiw_completion_free(c);
  for (int i = 1; i < 3; i++) {
    c = wait_within(q, hang_bound_ms(20000));
    aiw_chat_response *r = expect_message(c, &tag);
    char buf[160];
    const char *why = counted_mismatch(r, i, 3, 0, buf, sizeof buf);
    aiw_chat_response_free(r);
    aiw_completion_free(c);
    ck_assert_msg(why == NULL, "%s", why);
  }
  next_result(q, &tag, AIW_OK, hang_bound_ms(20000));
  expect_wait_shutdown(q, -1);
  aiw_queue_free(q);
}
END_TEST

START_TEST(test_queue_free_with_streams) {
  /* Streams cancelled with completions still in the queue: aiw_queue_free
   * returns promptly and frees them (ASan / valgrind check the leaks). */
  aiw_queue *q = new_queue();
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, NULL);
  for (int i = 0; i < 3; i++) chat_start(g_client, "!many:100000", o, q, NULL);
  chat_start(g_client, SLOW_DIRECTIVE, o, q, NULL);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  aiw_chat_response_free(expect_message(c, NULL));
  aiw_completion_free(c);
  sleep_ms(100); /* let the other streams' first messages arrive */
  int64_t t0 = now_ms();
  aiw_cancel_token_cancel(tok);
  aiw_queue_free(q);
  expect_within(t0, prompt_bound_ms(), "freeing a queue of cancelled streams");

  /* A queue freed right after its stream starts, the streams finite: free
   * drives them to their end (it waits; it does not cancel). */
  q = new_queue();
  for (int i = 0; i < 3; i++) chat_start(g_client, "!many:20", NULL, q, NULL);
  t0 = now_ms();
  aiw_queue_free(q);
  expect_within(t0, hang_bound_ms(20000), "freeing a queue of finite streams");

  /* And with aiw_client_close as the cancellation. */
  aiw_client *c2 = test_client(g_srv.target, 0);
  q = new_queue();
  for (int i = 0; i < 3; i++) chat_start(c2, i ? "!many:100000" : SLOW_DIRECTIVE, NULL, q, NULL);
  c = wait_within(q, hang_bound_ms(20000));
  aiw_chat_response_free(expect_message(c, NULL));
  aiw_completion_free(c);
  aiw_client_close(c2);
  t0 = now_ms();
  aiw_queue_free(q);
  expect_within(t0, prompt_bound_ms(), "freeing a queue of a closed client's streams");
  aiw_client_free(c2);
  aiw_call_options_free(o);
  aiw_cancel_token_free(tok);
  expect_client_works(g_client);
}
END_TEST

/* ------------------------------------------------------ aiw_queue_wait */

typedef struct waiter {
  aiw_queue *q;
  int64_t timeout;
  aiw_queue_result r;
  int got_null;
} waiter;

static void *waiter_main(void *arg) {
  waiter *w = arg;
  aiw_completion *c = (aiw_completion *)&c;
  w->r = aiw_queue_wait(w->q, w->timeout, &c);
  w->got_null = (c == NULL);
  if (w->r == AIW_QUEUE_COMPLETION && c != NULL) aiw_completion_free(c);
  return NULL;
}

START_TEST(test_queue_wait_results) {
  aiw_queue *q = new_queue();
  /* TIMEOUT: nothing in flight, 0 (just looks), 1 ms, 50 ms. */
  int64_t t0 = now_ms();
  expect_nothing(q, 0);
  expect_nothing(q, 1);
  expect_nothing(q, 50);
  expect_within(t0, hang_bound_ms(5000), "three short waits");
  /* A call in flight that cannot finish within 50 ms: TIMEOUT, then the
   * completion; huge timeouts are "wait", never "already past". */
  const int64_t timeouts[] = {-1, INT64_MAX, INT64_MAX / 1000 + 1, (int64_t)1 << 50};
  for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
    embed_start(g_client, "!slow:300", NULL, q, q);
    expect_nothing(q, 0);
    expect_nothing(q, 50);
    aiw_completion *c = (aiw_completion *)&c;
    aiw_queue_result r = aiw_queue_wait(q, timeouts[i], &c);
    ck_assert_msg(r == AIW_QUEUE_COMPLETION, "timeout %lld: %s", (long long)timeouts[i], qr_name(r));
    ck_assert_ptr_eq(aiw_completion_tag(c), q);
    ck_assert_int_eq(aiw_completion_is_message(c), 0); /* a unary call: RESULT only */
    ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
    ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
    aiw_completion_free(c);
  }
  /* aiw_queue_next and aiw_queue_wait take from the same queue. */
  chat_start(g_client, "!count:1", NULL, q, NULL);
  aiw_completion *c = NULL;
  ck_assert_int_eq(aiw_queue_next(q, hang_bound_ms(20000), &c), AIW_OK);
  aiw_chat_response_free(expect_message(c, NULL));
  aiw_completion_free(c);
  next_result(q, NULL, AIW_OK, hang_bound_ms(20000));

  /* INVALID: NULL queue and/or out; *out NULL; never a hang. */
  c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_wait(NULL, 0, &c), AIW_QUEUE_INVALID);
  ck_assert_ptr_null(c);
  c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_wait(NULL, -1, &c), AIW_QUEUE_INVALID);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(aiw_queue_wait(q, 0, NULL), AIW_QUEUE_INVALID);
  ck_assert_int_eq(aiw_queue_wait(q, -1, NULL), AIW_QUEUE_INVALID);
  ck_assert_int_eq(aiw_queue_wait(NULL, -1, NULL), AIW_QUEUE_INVALID);

  /* SHUTDOWN: shut down and drained, at once whatever the timeout. */
  aiw_queue_shutdown(q);
  t0 = now_ms();
  expect_wait_shutdown(q, 0);
  expect_wait_shutdown(q, 50);
  expect_wait_shutdown(q, -1);
  expect_within(t0, hang_bound_ms(2000), "SHUTDOWN of an empty queue");
  /* aiw_queue_next agrees (CANCELLED). */
  c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_next(q, -1, &c), AIW_CANCELLED);
  ck_assert_ptr_null(c);
  aiw_queue_free(q);

  /* Shutdown wakes the threads waiting (for ever, and with a long timeout). */
  q = new_queue();
  waiter w[2] = {{q, -1, AIW_QUEUE_INVALID, 0}, {q, hang_bound_ms(60000), AIW_QUEUE_INVALID, 0}};
  pthread_t th[2];
  threads_start(th, 2, waiter_main, w, sizeof w[0]);
  sleep_ms(100);
  t0 = now_ms();
  aiw_queue_shutdown(q);
  threads_join(th, 2);
  expect_within(t0, hang_bound_ms(5000), "waking the waiters");
  for (int i = 0; i < 2; i++) {
    ck_assert_msg(w[i].r == AIW_QUEUE_SHUTDOWN, "waiter %d: %s", i, qr_name(w[i].r));
    ck_assert(w[i].got_null);
  }
  aiw_queue_free(q);
}
END_TEST

/* ------------------------------------------------ deadline_expired */

START_TEST(test_deadline_expired) {
  aiw_queue *q = new_queue();
  aiw_call_options *o = test_opts(100, NULL);
  /* The call's own timeout fired: 1, for a unary call and for a stream. */
  int64_t t0 = now_ms();
  embed_start(g_client, "!slow:2000", o, q, (void *)(intptr_t)1);
  chat_start(g_client, "!slow:2000", o, q, (void *)(intptr_t)2);
  for (int i = 0; i < 2; i++) {
    aiw_completion *c = wait_within(q, prompt_bound_ms());
    intptr_t k = (intptr_t)aiw_completion_tag(c);
    ck_assert_msg(!aiw_completion_is_message(c), "a message before the deadline");
    ck_assert_msg(k == 1 || k == 2, "tag %ld", (long)k);
    const aiw_error *e = aiw_completion_error(c);
    expect_code(k == 1 ? "GetEmbedding" : "ChatStream", aiw_completion_code(c), e, AIW_DEADLINE_EXCEEDED);
    ck_assert_int_eq(e->grpc_status, 4);
    ck_assert_msg(aiw_completion_deadline_expired(c) == 1, "%s past its own 100 ms timeout: deadline_expired %d",
                  k == 1 ? "GetEmbedding" : "ChatStream", aiw_completion_deadline_expired(c));
    aiw_completion_free(c);
  }
  if (!test_slow()) expect_within(t0, 1800, "two calls past a 100 ms deadline");
  aiw_call_options_free(o);

  /* Mid-stream: messages, then the deadline. */
  int slow = test_slow() ? 1000 : 300;
  char query[32];
  snprintf(query, sizeof query, "!slow:%d", slow);
  o = test_opts(slow * 7 / 2, NULL);
  chat_start(g_client, query, o, q, NULL);
  aiw_call_options_free(o);
  int msgs = 0;
  for (;;) {
    aiw_completion *c = wait_within(q, hang_bound_ms(20000));
    if (aiw_completion_is_message(c)) {
      ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
      aiw_chat_response_free(expect_message(c, NULL));
      aiw_completion_free(c);
      msgs++;
      continue;
    }
    expect_result(c, NULL, AIW_DEADLINE_EXCEEDED);
    ck_assert_int_eq(aiw_completion_deadline_expired(c), 1);
    aiw_completion_free(c);
    break;
  }
  ck_assert_msg(msgs >= 1 && msgs < 5, "%d messages before the deadline", msgs);

  /* The server's own DEADLINE_EXCEEDED, long before the call's deadline
   * (or with none): 0. */
  aiw_call_options *lo = test_opts(hang_bound_ms(30000), NULL);
  const aiw_call_options *opts[2] = {lo, NULL};
  for (int j = 0; j < 2; j++) {
    embed_start(g_client, "!error:DEADLINE_EXCEEDED:the model timed out", opts[j], q, (void *)(intptr_t)1);
    chat_start(g_client, "!error:DEADLINE_EXCEEDED:the model timed out", opts[j], q, (void *)(intptr_t)2);
    chat_start(g_client, "!error-after:2:DEADLINE_EXCEEDED:the model timed out", opts[j], q, (void *)(intptr_t)3);
    int results = 0;
    while (results < 3) {
      aiw_completion *c = wait_within(q, hang_bound_ms(20000));
      intptr_t k = (intptr_t)aiw_completion_tag(c);
      if (aiw_completion_is_message(c)) {
        ck_assert_int_eq(k, 3);
        aiw_chat_response_free(expect_message(c, (void *)k));
        aiw_completion_free(c);
        continue;
      }
      expect_status_error(aiw_completion_error(c), AIW_DEADLINE_EXCEEDED, "the model timed out");
      ck_assert_int_eq(aiw_completion_code(c), AIW_DEADLINE_EXCEEDED);
      ck_assert_msg(aiw_completion_deadline_expired(c) == 0,
                    "call %ld (%s): the server's DEADLINE_EXCEEDED taken for the call's own deadline", (long)k,
                    j == 0 ? "with a 30 s timeout" : "no timeout");
      aiw_completion_free(c);
      results++;
    }
  }
  aiw_call_options_free(lo);

  /* OK calls and other errors: 0. */
  embed_start(g_client, "hello", NULL, q, NULL);
  aiw_completion *c = wait_within(q, hang_bound_ms(20000));
  ck_assert_int_eq(aiw_completion_code(c), AIW_OK);
  ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
  aiw_completion_free(c);
  chat_start(g_client, "!error:NOT_FOUND:x", NULL, q, NULL);
  c = wait_within(q, hang_bound_ms(20000));
  expect_result(c, NULL, AIW_NOT_FOUND);
  ck_assert_int_eq(aiw_completion_deadline_expired(c), 0);
  aiw_completion_free(c);
  ck_assert_int_eq(aiw_completion_deadline_expired(NULL), 0);
  aiw_queue_free(q);
}
END_TEST

/* ------------------------------------------ the blocking aiw_chat_stream */

typedef struct last_cb {
  int calls;
  int abort_on;              /* return non-zero on this call (1-based; 0 never) */
  int cancel_on;             /* cancel `token` during this call (0 never) */
  aiw_cancel_token *token;
  interrupter *other_thread; /* if set: the cancel comes from it; wait for it */
  int final_seen;
} last_cb;

static int last_cb_fn(const aiw_chat_response *ch, void *ud) {
  last_cb *x = ud;
  x->calls++;
  if (aiw_chat_response_is_final(ch)) x->final_seen = x->calls;
  if (x->cancel_on == x->calls) {
    if (x->other_thread != NULL) {
      interrupter_signal(x->other_thread);
      int64_t until = now_ms() + hang_bound_ms(5000);
      while (!aiw_cancel_token_is_cancelled(x->token) && now_ms() < until) sleep_ms(1);
      sleep_ms(20); /* and give the cancellation time to reach the call */
    } else {
      aiw_cancel_token_cancel(x->token);
    }
  }
  return x->abort_on == x->calls ? 1 : 0;
}

/* aiw_chat_stream of `query` with x; when the code is not `want` or the
 * callback did not run `calls` times, appends what happened to `problems`
 * (every case runs; the test fails at the end listing all of them). */
static void blocking_case(const char *query, last_cb *x, const aiw_call_options *o, aiw_code want, int calls,
                          char *problems, size_t size) {
  aiw_chat_request *r = chat_req(query);
  aiw_error err;
  aiw_code rc = aiw_chat_stream(g_client, r, o, last_cb_fn, x, &err);
  aiw_chat_request_free(r);
  if (rc != want || err.code != rc || x->calls != calls) {
    size_t l = strlen(problems);
    snprintf(problems + l, size - l, "\n  %s (abort on %d, cancel on %d%s): %s after %d calls, want %s after %d (%.80s)",
             query, x->abort_on, x->cancel_on, x->other_thread ? " from another thread" : "", aiw_code_name(rc),
             x->calls, aiw_code_name(want), calls, err.message);
  }
}

START_TEST(test_blocking_chat_last_message) {
  char problems[4096] = "";
  const size_t P = sizeof problems;
  /* The blocking typed call still works... */
  last_cb x = {0};
  blocking_case("hello", &x, NULL, AIW_OK, 5, problems, P);
  ck_assert_int_eq(x.final_seen, 5);
  x = (last_cb){0};
  blocking_case("!count:0", &x, NULL, AIW_OK, 0, problems, P);
  /* ...a non-zero return on the LAST message is CALLBACK_ABORTED, never OK. */
  const struct {
    const char *query;
    int n;
  } shapes[] = {{"hello", 5}, {"!many:0", 1}, {"!count:3", 3}};
  aiw_cancel_token *tok;
  aiw_call_options *o = token_opts(&tok, 0, NULL);
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int n = shapes[s].n;
    x = (last_cb){.abort_on = n};
    blocking_case(shapes[s].query, &x, NULL, AIW_CALLBACK_ABORTED, n, problems, P);
    /* ...also when the token fired during that callback (this thread). */
    aiw_cancel_token_reset(tok);
    x = (last_cb){.abort_on = n, .cancel_on = n, .token = tok};
    blocking_case(shapes[s].query, &x, o, AIW_CALLBACK_ABORTED, n, problems, P);
    /* ...or from another thread. */
    aiw_cancel_token_reset(tok);
    interrupter it;
    interrupter_start(&it, tok, NULL, 1);
    x = (last_cb){.abort_on = n, .cancel_on = n, .token = tok, .other_thread = &it};
    blocking_case(shapes[s].query, &x, o, AIW_CALLBACK_ABORTED, n, problems, P);
    if (x.calls < n) interrupter_signal(&it); /* never signalled by the callback */
    interrupter_join(&it);
    /* The token fired during the last callback, which returns 0: the stream
     * was cancelled before its last message was done with: CANCELLED. */
    aiw_cancel_token_reset(tok);
    x = (last_cb){.cancel_on = n, .token = tok};
    blocking_case(shapes[s].query, &x, o, AIW_CANCELLED, n, problems, P);
    /* Abort earlier: not called again. */
    if (n > 1) {
      x = (last_cb){.abort_on = 1};
      blocking_case(shapes[s].query, &x, NULL, AIW_CALLBACK_ABORTED, 1, problems, P);
    }
  }
  aiw_call_options_free(o);
  aiw_cancel_token_free(tok);
  ck_assert_msg(problems[0] == '\0', "aiw_chat_stream:%s", problems);
}
END_TEST

typedef struct recurse_ctx {
  aiw_queue *q;
  int calls;
  aiw_code rc;
  aiw_code err_code;
} recurse_ctx;

static int start_stream_from_callback(const aiw_chat_response *ch, void *ud) {
  (void)ch;
  recurse_ctx *x = ud;
  if (x->calls++ > 0) return 0;
  aiw_chat_request *r = aiw_chat_request_new();
  aiw_chat_request_set_query(r, "q");
  aiw_error err;
  x->rc = aiw_chat_stream_start(g_client, r, NULL, x->q, NULL, &err);
  x->err_code = err.code;
  aiw_chat_request_free(r);
  return 0;
}

START_TEST(test_stream_start_from_callback_refused) {
  aiw_queue *q = new_queue();
  recurse_ctx x = {.q = q};
  aiw_chat_request *r = chat_req("hi");
  aiw_error err;
  ck_assert_int_eq(aiw_chat_stream(g_client, r, NULL, start_stream_from_callback, &x, &err), AIW_OK);
  aiw_chat_request_free(r);
  ck_assert_int_eq(x.rc, AIW_RECURSIVE_API_CALL);
  ck_assert_int_eq(x.err_code, AIW_RECURSIVE_API_CALL);
  expect_nothing(q, 50);
  aiw_queue_free(q);
}
END_TEST

/* ------------------------------------------------------ NULL arguments */

#define CK_INVAL_ERR(expr)                          \
  do {                                              \
    CK_INVAL(expr);                                 \
    expect_local_error(&err, AIW_INVALID_ARGUMENT); \
  } while (0)

START_TEST(test_null_args) {
  ck_assert_int_eq(aiw_completion_is_message(NULL), 0);
  ck_assert_int_eq(aiw_completion_deadline_expired(NULL), 0);
  ck_assert_ptr_null(aiw_completion_take_chat_response(NULL));
  aiw_chat_response_free(NULL);
  aiw_completion *c = (aiw_completion *)&c;
  ck_assert_int_eq(aiw_queue_wait(NULL, 0, &c), AIW_QUEUE_INVALID);
  ck_assert_ptr_null(c);

  aiw_queue *q = new_queue();
  aiw_chat_request *r = chat_req("q");
  aiw_error err;
  CK_INVAL_ERR(aiw_chat_stream_start(NULL, r, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_chat_stream_start(g_client, NULL, NULL, q, NULL, &err));
  CK_INVAL_ERR(aiw_chat_stream_start(g_client, r, NULL, NULL, NULL, &err));
  CK_INVAL(aiw_chat_stream_start(g_client, r, NULL, NULL, NULL, NULL));
  CK_INVAL(aiw_chat_stream_start(NULL, NULL, NULL, NULL, NULL, NULL));
  /* A request the blocking call refuses (no query) is refused at start. */
  aiw_chat_request *empty = aiw_chat_request_new();
  ck_assert_ptr_nonnull(empty);
  CK_INVAL_ERR(aiw_chat_stream_start(g_client, empty, NULL, q, NULL, &err));
  aiw_chat_request_free(empty);
  /* None of them queued anything; the queue works. */
  expect_nothing(q, 0);
  ck_assert_int_eq(aiw_chat_stream_start(g_client, r, NULL, q, r, NULL), AIW_OK); /* err NULL */
  for (int i = 0; i < 5; i++) {
    c = wait_within(q, hang_bound_ms(20000));
    aiw_chat_response_free(expect_message(c, r));
    aiw_completion_free(c);
  }
  next_result(q, r, AIW_OK, hang_bound_ms(20000));
  /* Takes of another kind of completion: NULL. */
  embed_start(g_client, "hello", NULL, q, NULL);
  c = wait_within(q, hang_bound_ms(20000));
  ck_assert_ptr_null(aiw_completion_take_chat_response(c));
  ck_assert_int_eq(aiw_completion_is_message(c), 0);
  aiw_completion_free(c);
  aiw_chat_request_free(r);
  aiw_queue_free(q);
}
END_TEST

Suite *suite_async_stream(void) {
  Suite *s = suite_create("async_stream");
  TCase *tb = server_tcase(s, "streams", 60, client_setup);
  tcase_add_test(tb, test_stream_zero_messages);
  tcase_add_test(tb, test_stream_one_message);
  tcase_add_test(tb, test_stream_thousand_messages);
  tcase_add_test(tb, test_stream_normal_answer);
  tcase_add_test(tb, test_stream_request_copied);
  tcase_add_test(tb, test_stream_errors);
  tcase_add_test(tb, test_queue_wait_results);
  tcase_add_test(tb, test_deadline_expired);
  tcase_add_test(tb, test_null_args);

  TCase *ti = server_tcase(s, "interleaved", 120, client_setup);
  tcase_add_test(ti, test_interleaved_one_consumer);
  tcase_add_test(ti, test_interleaved_two_consumers);
  tcase_add_test(ti, test_cancel_races);

  TCase *tc = server_tcase(s, "cancel", 60, client_setup);
  tcase_add_test(tc, test_cancel_before_first_message);
  tcase_add_test(tc, test_cancel_mid_stream);
  tcase_add_test(tc, test_cancel_after_last_message);
  tcase_add_test(tc, test_cancel_one_of_many);
  tcase_add_test(tc, test_slow_consumer_flow_control);
  tcase_add_test(tc, test_held_message_blocks_only_its_stream);

  TCase *tl = server_tcase(s, "lifecycle", 60, client_setup);
  tcase_add_test(tl, test_client_close_streams_in_flight);
  tcase_add_test(tl, test_queue_shutdown_streams_in_flight);
  tcase_add_test(tl, test_queue_shutdown_with_held_message);
  tcase_add_test(tl, test_queue_free_with_streams);

  TCase *tk = server_tcase(s, "blocking", 60, client_setup);
  tcase_add_test(tk, test_blocking_chat_last_message);
  tcase_add_test(tk, test_stream_start_from_callback_refused);
  return s;
}
