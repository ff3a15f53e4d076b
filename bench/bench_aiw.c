/*
 * bench_aiw.c -- the libaiw benchmark client (see bench/README.md).
 *
 *   bench_aiw TARGET unary CONC CALLS WARMUP      GetEmbedding of a short text, blocking calls on CONC threads
 *   bench_aiw TARGET stream CONC STREAMS WARMUP   ChatStream "!many:1000", blocking, on CONC threads
 *   bench_aiw TARGET qunary CONC CALLS WARMUP     the same on one aiw_queue driven by the main thread:
 *   bench_aiw TARGET qstream CONC STREAMS WARMUP  CONC calls in flight (aiw_*_start + aiw_queue_next)
 *
 * One aiw_client shared by all threads, a 30 s deadline on every call, every
 * response checked (1024 floats; 1000 chunks + the final one). The blocking
 * form reports as client=libaiw, the queue form as client=libaiw-q.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw.h"
#include "harness.h"

#define EMBED_TEXT "the quick brown fox jumps over the lazy dog"
#define EMBED_DIMS 1024
#define STREAM_QUERY "!many:1000"
#define STREAM_CHUNKS 1001 /* 1000 "chunk-<i> " + the final empty one */

typedef struct ctx {
  aiw_client *client;
  aiw_call_options *opts;
  aiw_embedding_request *embed;
  aiw_chat_request *chat;
} ctx;

static int unary_call(void *p, int thread, char *msg, size_t msg_size) {
  (void)thread;
  ctx *c = p;
  aiw_embedding_response *resp = NULL;
  aiw_error err;
  aiw_code rc = aiw_get_embedding(c->client, c->embed, c->opts, &resp, &err);
  if (rc != AIW_OK) {
    snprintf(msg, msg_size, "GetEmbedding: %s: %s", aiw_code_name(rc), err.message);
    aiw_embedding_response_free(resp);
    return -1;
  }
  size_t len = 0;
  const float *v = aiw_embedding_response_semantic_vector(resp, &len);
  int ok = v && len == EMBED_DIMS && aiw_embedding_response_success(resp);
  if (!ok) snprintf(msg, msg_size, "GetEmbedding: %zu floats, want %d", len, EMBED_DIMS);
  aiw_embedding_response_free(resp);
  return ok ? 0 : -1;
}

typedef struct stream_state {
  long chunks;
  int saw_final;
  int bad;
} stream_state;

static int on_chunk(const aiw_chat_response *chunk, void *userdata) {
  stream_state *s = userdata;
  if (s->saw_final) s->bad = 1;
  s->chunks++;
  if (aiw_chat_response_is_final(chunk)) s->saw_final = 1;
  return 0;
}

static long stream_call(void *p, char *msg, size_t msg_size) {
  ctx *c = p;
  stream_state s = {0, 0, 0};
  aiw_error err;
  aiw_code rc = aiw_chat_stream(c->client, c->chat, c->opts, on_chunk, &s, &err);
  if (rc != AIW_OK) {
    snprintf(msg, msg_size, "ChatStream: %s: %s", aiw_code_name(rc), err.message);
    return -1;
  }
  if (s.chunks != STREAM_CHUNKS || !s.saw_final || s.bad) {
    snprintf(msg, msg_size, "ChatStream: %ld chunks (final %d), want %d", s.chunks, s.saw_final, STREAM_CHUNKS);
    return -1;
  }
  return s.chunks;
}

/* ---- the queue form: one thread, CONC calls in flight on one aiw_queue ---- */

typedef struct qslot {
  double t0;
  stream_state st;
} qslot;

typedef struct qloop {
  ctx *c;
  aiw_queue *q;
  int stream;
  qslot *slots;
  long total, started, done, chunks;
  double *lat;
} qloop;

static void qdie(const char *what, aiw_code rc, const char *detail) {
  printf("ERROR client=libaiw-q: %s: %s: %s\n", what, aiw_code_name(rc), detail ? detail : "");
  fflush(stdout);
  exit(1);
}

static void qstart(qloop *l, qslot *s) {
  aiw_error err;
  memset(s, 0, sizeof *s);
  s->t0 = bench_now_s();
  aiw_code rc = l->stream ? aiw_chat_stream_start(l->c->client, l->c->chat, l->c->opts, l->q, s, &err)
                          : aiw_get_embedding_start(l->c->client, l->c->embed, l->c->opts, l->q, s, &err);
  if (rc != AIW_OK) qdie(l->stream ? "aiw_chat_stream_start" : "aiw_get_embedding_start", rc, err.message);
  l->started++;
}

static void qfinish(qloop *l, qslot *s) {
  if (l->lat) l->lat[l->done] = bench_now_s() - s->t0;
  l->done++;
  if (l->started < l->total) qstart(l, s);
}

static void qrun(qloop *l, int conc, long total, double *lat) {
  l->total = total;
  l->started = l->done = l->chunks = 0;
  l->lat = lat;
  for (int i = 0; i < conc && l->started < total; i++) qstart(l, &l->slots[i]);
  while (l->done < total) {
    aiw_completion *c = NULL;
    if (aiw_queue_wait(l->q, -1, &c) != AIW_QUEUE_COMPLETION) qdie("aiw_queue_wait", AIW_OK, "no completion");
    qslot *s = aiw_completion_tag(c);
    if (aiw_completion_is_message(c)) {
      aiw_chat_response *r = aiw_completion_take_chat_response(c);
      aiw_completion_free(c);
      if (!r) qdie("ChatStream", AIW_OK, "a message completion without a message");
      on_chunk(r, &s->st);
      aiw_chat_response_free(r);
      continue;
    }
    aiw_code rc = aiw_completion_code(c);
    if (rc != AIW_OK) qdie(l->stream ? "ChatStream" : "GetEmbedding", rc, aiw_completion_error(c)->message);
    if (l->stream) {
      aiw_completion_free(c);
      if (s->st.chunks != STREAM_CHUNKS || !s->st.saw_final || s->st.bad)
        qdie("ChatStream", AIW_OK, "wrong message count or final flag");
      l->chunks += s->st.chunks;
    } else {
      aiw_embedding_response *resp = aiw_completion_take_embedding_response(c);
      aiw_completion_free(c);
      size_t len = 0;
      const float *v = aiw_embedding_response_semantic_vector(resp, &len);
      if (!v || len != EMBED_DIMS || !aiw_embedding_response_success(resp))
        qdie("GetEmbedding", AIW_OK, "wrong response");
      aiw_embedding_response_free(resp);
    }
    qfinish(l, s);
  }
}

static int run_queue(ctx *c, const bench_args *a) {
  qloop l;
  memset(&l, 0, sizeof l);
  l.c = c;
  l.stream = strcmp(a->workload, "stream") == 0;
  l.q = aiw_queue_new();
  l.slots = calloc((size_t)a->conc, sizeof *l.slots);
  double *lat = calloc((size_t)a->calls, sizeof *lat);
  if (!l.q || !l.slots || !lat) qdie("setup", AIW_OK, "out of memory");
  if (a->warmup > 0) qrun(&l, a->conc, a->warmup * a->conc, NULL);
  bench_meas m;
  bench_meas_begin(&m);
  qrun(&l, a->conc, a->calls, lat);
  bench_meas_end(&m);
  bench_print_result("libaiw-q", a->workload, a->conc, a->calls, l.chunks, &m, lat, a->calls);
  aiw_queue_free(l.q);
  free(l.slots);
  free(lat);
  return 0;
}

int main(int argc, char **argv) {
  bench_args a;
  bench_parse_args(argc, argv, &a);
  ctx c = {0};
  aiw_error err;
  if (aiw_client_new(a.target, NULL, &c.client, &err) != AIW_OK) {
    printf("ERROR client=libaiw: aiw_client_new: %s\n", err.message);
    return 1;
  }
  c.opts = aiw_call_options_new();
  c.embed = aiw_embedding_request_new();
  c.chat = aiw_chat_request_new();
  if (!c.opts || !c.embed || !c.chat || aiw_call_options_set_timeout_ms(c.opts, 30000) != AIW_OK ||
      aiw_embedding_request_set_text(c.embed, EMBED_TEXT) != AIW_OK ||
      aiw_embedding_request_set_type(c.embed, AIW_EMBEDDING_SEMANTIC) != AIW_OK ||
      aiw_chat_request_set_query(c.chat, STREAM_QUERY) != AIW_OK) {
    printf("ERROR client=libaiw: setup failed\n");
    return 1;
  }
  int status = a.queue                             ? run_queue(&c, &a)
               : strcmp(a.workload, "unary") == 0 ? bench_run_unary("libaiw", &a, unary_call, &c)
                                                  : bench_run_stream("libaiw", &a, stream_call, &c);
  aiw_chat_request_free(c.chat);
  aiw_embedding_request_free(c.embed);
  aiw_call_options_free(c.opts);
  aiw_client_free(c.client);
  return status;
}
