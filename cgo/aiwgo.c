/* aiwgo.c -- the C helpers of package aiworker (see aiwgo.h). */
#include <stdlib.h>
#include <string.h>

#include "aiwgo.h"

aiw_code aiwgo_start(aiw_client *client, aiw_queue *queue, uint64_t tag, const char *path, int streaming,
                     aiw_cancel_token *token, int64_t timeout_ms, int wait_for_ready, const char *compression,
                     size_t max_receive, const void *req, size_t len, const char *arena, const aiwgo_md *md,
                     size_t n_md, aiw_error *err) {
  aiw_call_options *opts = aiw_call_options_new();
  if (!opts) {
    err->code = AIW_OUT_OF_MEMORY;
    err->grpc_status = -1;
    strcpy(err->message, "out of memory");
    return AIW_OUT_OF_MEMORY;
  }
  aiw_code rc = aiw_call_options_set_timeout_ms(opts, timeout_ms);
  if (rc == AIW_OK && wait_for_ready) rc = aiw_call_options_set_wait_for_ready(opts, 1);
  if (rc == AIW_OK && token) rc = aiw_call_options_set_cancel_token(opts, token);
  if (rc == AIW_OK && compression) rc = aiw_call_options_set_compression(opts, compression);
  if (rc == AIW_OK && max_receive) rc = aiw_call_options_set_max_receive_size(opts, max_receive);
  for (size_t i = 0; rc == AIW_OK && i < n_md; i++) {
    /* Keys are NUL-terminated in the arena (Go put one after each). */
    const char *key = arena + md[i].key_off;
    if (md[i].is_bin)
      rc = aiw_call_options_add_metadata_bin(opts, key, arena + md[i].value_off, md[i].value_len, err);
    else
      rc = aiw_call_options_add_metadata(opts, key, arena + md[i].value_off, err);
  }
  if (rc == AIW_OK) {
    void *t = (void *)(uintptr_t)tag;
    rc = streaming ? aiw_raw_stream_start(client, path, req, len, opts, queue, t, err)
                   : aiw_raw_call_start(client, path, req, len, opts, queue, t, err);
  } else if (err->code != rc) {
    err->code = rc;
    err->grpc_status = -1;
    strcpy(err->message, "invalid call options");
  }
  aiw_call_options_free(opts);
  return rc;
}

aiwgo_poll *aiwgo_poll_new(size_t cap) {
  aiwgo_poll *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->cap = cap;
  p->events = calloc(cap, sizeof *p->events);
  p->to_free = calloc(cap, sizeof *p->to_free);
  if (!p->events || !p->to_free) {
    aiwgo_poll_free(p);
    return NULL;
  }
  return p;
}

void aiwgo_poll_free(aiwgo_poll *p) {
  if (!p) return;
  free(p->events);
  free(p->to_free);
  free(p);
}

static void fill(aiwgo_event *ev, aiw_completion *c) {
  ev->tag = (uint64_t)(uintptr_t)aiw_completion_tag(c);
  ev->completion = c;
  ev->is_message = aiw_completion_is_message(c);
  ev->code = aiw_completion_code(c);
  const aiw_error *e = aiw_completion_error(c);
  ev->grpc_status = e->grpc_status;
  ev->msg = e->message;
  ev->msg_len = (uint32_t)strlen(e->message);
  ev->deadline_expired = aiw_completion_deadline_expired(c);
  size_t len;
  ev->data = aiw_completion_message(c, &len);
  ev->len = (uint32_t)len;
  ev->n_headers = (uint32_t)aiw_completion_metadata_count(c, 0);
  ev->n_trailers = (uint32_t)aiw_completion_metadata_count(c, 1);
}

int64_t aiwgo_queue_next(aiw_queue *queue, int64_t timeout_ms, aiwgo_poll *p, size_t n_free) {
  for (size_t i = 0; i < n_free; i++) aiw_completion_free(p->to_free[i]);
  aiw_completion *c;
  aiw_queue_result r = aiw_queue_wait(queue, timeout_ms, &c);
  if (r == AIW_QUEUE_SHUTDOWN) return -1;
  if (r != AIW_QUEUE_COMPLETION) return 0;
  size_t n = 0;
  fill(&p->events[n++], c);
  while (n < p->cap && aiw_queue_wait(queue, 0, &c) == AIW_QUEUE_COMPLETION) fill(&p->events[n++], c);
  return (int64_t)n;
}

size_t aiwgo_cancel_tokens_new(aiw_cancel_token **out, size_t n) {
  size_t i = 0;
  for (; i < n; i++)
    if (!(out[i] = aiw_cancel_token_new())) break;
  return i;
}
