/*
 * bench_aiw.c -- the libaiw benchmark client (see bench/README.md).
 *
 *   bench_aiw TARGET unary CONC CALLS WARMUP    GetEmbedding of a short text
 *   bench_aiw TARGET stream 1 STREAMS WARMUP    ChatStream "!many:1000"
 *
 * One aiw_client shared by all threads, a 30 s deadline on every call, every
 * response checked (1024 floats; 1000 chunks + the final one).
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
  int status = strcmp(a.workload, "unary") == 0 ? bench_run_unary("libaiw", &a, unary_call, &c)
                                                 : bench_run_stream("libaiw", &a, stream_call, &c);
  aiw_chat_request_free(c.chat);
  aiw_embedding_request_free(c.embed);
  aiw_call_options_free(c.opts);
  aiw_client_free(c.client);
  return status;
}
