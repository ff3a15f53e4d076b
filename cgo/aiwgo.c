/*
 * aiwgo.c -- the C half of package aiworker; see aiwgo.h.
 */
#include "aiwgo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_cgo_export.h"

/* ---------------------------------------------------------------------- */
/* Requests                                                               */
/* ---------------------------------------------------------------------- */

static const char *span_str(const char *arena, aiwgo_span s) { return arena + s.off; }

static aiw_code fail(aiw_error *err, aiw_code code, const char *msg) {
  err->code = code;
  err->grpc_status = -1;
  snprintf(err->message, sizeof err->message, "%s", msg);
  return code;
}

/* Copies the setter's code into err (setters have no aiw_error of their own). */
static aiw_code setter(aiw_error *err, aiw_code code, const char *what) {
  char msg[128];
  if (code == AIW_OK) return AIW_OK;
  snprintf(msg, sizeof msg, "%s: %s", what, aiw_strerror((int)code));
  return fail(err, code, msg);
}

static aiw_code build_call_options(const aiwgo_call *call, const char *arena, const aiwgo_item *items,
                                   aiw_call_options **out, aiw_error *err) {
  aiw_call_options *opts = aiw_call_options_new();
  aiw_code rc = AIW_OK;
  uint32_t i;
  *out = NULL;
  if (opts == NULL) return fail(err, AIW_OUT_OF_MEMORY, "out of memory");
  if (call->timeout_ms > 0) rc = setter(err, aiw_call_options_set_timeout_ms(opts, call->timeout_ms), "timeout");
  if (rc == AIW_OK && call->wait_for_ready)
    rc = setter(err, aiw_call_options_set_wait_for_ready(opts, 1), "wait for ready");
  for (i = 0; rc == AIW_OK && i < call->metadata_count; i++) {
    const aiwgo_item *it = &items[i];
    if (it->n)
      rc = aiw_call_options_add_metadata_bin(opts, span_str(arena, it->a), arena + it->b.off, it->b.len, err);
    else
      rc = aiw_call_options_add_metadata(opts, span_str(arena, it->a), span_str(arena, it->b), err);
  }
  if (rc == AIW_OK && call->token != NULL)
    rc = setter(err, aiw_call_options_set_cancel_token(opts, call->token), "cancel token");
  if (rc != AIW_OK) {
    aiw_call_options_free(opts);
    return rc;
  }
  *out = opts;
  return AIW_OK;
}

/* ---------------------------------------------------------------------- */
/* Flattening                                                             */
/* ---------------------------------------------------------------------- */

typedef struct flat {
  uint8_t *base;    /* NULL while measuring */
  size_t words;     /* next word offset */
  size_t strs;      /* string bytes written so far */
  size_t words_end; /* where the string bytes start */
} flat;

static void put_u32(flat *f, uint32_t v) {
  if (f->base) memcpy(f->base + f->words, &v, 4);
  f->words += 4;
}

static void put_i32(flat *f, int32_t v) { put_u32(f, (uint32_t)v); }

static void put_f32(flat *f, float v) {
  if (f->base) memcpy(f->base + f->words, &v, 4);
  f->words += 4;
}

static void put_str(flat *f, const char *s) {
  size_t n = s ? strlen(s) : 0;
  put_u32(f, (uint32_t)(f->words_end + f->strs));
  put_u32(f, (uint32_t)n);
  if (f->base && n) memcpy(f->base + f->words_end + f->strs, s, n);
  f->strs += n;
}

static void put_floats(flat *f, const float *v, size_t n) {
  put_u32(f, (uint32_t)n);
  if (f->base && n) memcpy(f->base + f->words, v, n * sizeof(float));
  f->words += n * sizeof(float);
}

static void put_result(flat *f, const aiw_search_result *r) {
  size_t i, n = aiw_search_result_metadata_count(r);
  put_str(f, aiw_search_result_asset_id(r));
  put_f32(f, aiw_search_result_score(r));
  put_str(f, aiw_search_result_caption(r));
  put_str(f, aiw_search_result_mime_type(r));
  put_str(f, aiw_search_result_thumbnail_url(r));
  put_u32(f, (uint32_t)n);
  for (i = 0; i < n; i++) {
    put_str(f, aiw_search_result_metadata_key(r, i));
    put_str(f, aiw_search_result_metadata_value(r, i));
  }
}

typedef void (*flatten_fn)(flat *f, const void *msg);

static void flat_embedding(flat *f, const void *msg) {
  const aiw_embedding_response *r = msg;
  size_t n = 0;
  const float *v;
  put_u32(f, (uint32_t)aiw_embedding_response_success(r));
  put_str(f, aiw_embedding_response_error(r));
  v = aiw_embedding_response_semantic_vector(r, &n);
  put_floats(f, v, n);
  v = aiw_embedding_response_visual_vector(r, &n);
  put_floats(f, v, n);
}

static void flat_search(flat *f, const void *msg) {
  const aiw_search_response *r = msg;
  size_t i, n = aiw_search_response_result_count(r);
  put_u32(f, (uint32_t)aiw_search_response_success(r));
  put_str(f, aiw_search_response_error(r));
  put_i32(f, aiw_search_response_total_count(r));
  put_u32(f, (uint32_t)n);
  for (i = 0; i < n; i++) put_result(f, aiw_search_response_result(r, i));
}

static void flat_process(flat *f, const void *msg) {
  const aiw_process_status *s = msg;
  put_u32(f, (uint32_t)aiw_process_status_success(s));
  put_str(f, aiw_process_status_error(s));
  put_i32(f, (int32_t)aiw_process_status_stage(s));
  put_f32(f, aiw_process_status_progress(s));
}

static void flat_chat(flat *f, const void *msg) {
  const aiw_chat_response *c = msg;
  size_t i, n = aiw_chat_response_source_count(c);
  put_str(f, aiw_chat_response_chunk(c));
  put_u32(f, (uint32_t)aiw_chat_response_is_final(c));
  put_u32(f, (uint32_t)n);
  for (i = 0; i < n; i++) put_result(f, aiw_chat_response_source(c, i));
}

/* The flattened size of msg, or 0 when it exceeds 4 GiB. */
static size_t flat_measure(flatten_fn fn, const void *msg, size_t *words_end) {
  flat m = {NULL, 8, 0, 0};
  fn(&m, msg);
  *words_end = m.words;
  if (m.words + m.strs > UINT32_MAX) return 0;
  return m.words + m.strs;
}

static void flat_write(flatten_fn fn, const void *msg, uint8_t *dst, size_t total, size_t words_end) {
  flat f = {dst, 0, 0, words_end};
  put_u32(&f, (uint32_t)total);
  put_u32(&f, (uint32_t)words_end);
  fn(&f, msg);
}

/* ---------------------------------------------------------------------- */
/* Unary calls: start on the queue                                        */
/* ---------------------------------------------------------------------- */

static void err_init(aiw_error *err) {
  err->code = AIW_OK;
  err->grpc_status = -1;
  err->message[0] = '\0';
}

aiw_code aiwgo_get_embedding_start(aiw_client *client, aiw_queue *queue, uint64_t tag,
                                   const aiwgo_embedding_req *req, const char *arena, const aiwgo_item *items,
                                   aiw_error *err) {
  aiw_embedding_request *r;
  aiw_call_options *opts = NULL;
  aiw_code rc;
  err_init(err);
  r = aiw_embedding_request_new();
  if (r == NULL) return fail(err, AIW_OUT_OF_MEMORY, "out of memory");
  rc = build_call_options(&req->call, arena, items, &opts, err);
  if (rc == AIW_OK && req->has_image)
    rc = setter(err,
                aiw_embedding_request_set_image(r, arena + req->image_data.off, req->image_data.len,
                                                span_str(arena, req->image_format)),
                "image");
  else if (rc == AIW_OK && req->has_text)
    rc = setter(err, aiw_embedding_request_set_text(r, span_str(arena, req->text)), "text");
  if (rc == AIW_OK && req->type != 0)
    rc = setter(err, aiw_embedding_request_set_type(r, (aiw_embedding_type)req->type), "type");
  if (rc == AIW_OK) rc = aiw_get_embedding_start(client, r, opts, queue, (void *)(uintptr_t)tag, err);
  aiw_call_options_free(opts);
  aiw_embedding_request_free(r);
  return rc;
}

aiw_code aiwgo_vector_search_start(aiw_client *client, aiw_queue *queue, uint64_t tag, const aiwgo_search_req *req,
                                   const char *arena, const aiwgo_item *items, aiw_error *err) {
  aiw_search_request *r;
  aiw_call_options *opts = NULL;
  aiw_code rc;
  uint32_t i;
  err_init(err);
  r = aiw_search_request_new();
  if (r == NULL) return fail(err, AIW_OUT_OF_MEMORY, "out of memory");
  rc = build_call_options(&req->call, arena, items, &opts, err);
  if (rc == AIW_OK) rc = setter(err, aiw_search_request_set_query(r, span_str(arena, req->query)), "query");
  if (rc == AIW_OK && req->type != 0)
    rc = setter(err, aiw_search_request_set_type(r, (aiw_search_type)req->type), "type");
  if (rc == AIW_OK && req->limit != 0) rc = setter(err, aiw_search_request_set_limit(r, req->limit), "limit");
  if (rc == AIW_OK && req->threshold != 0.0f)
    rc = setter(err, aiw_search_request_set_threshold(r, req->threshold), "threshold");
  for (i = 0; rc == AIW_OK && i < req->filter_count; i++)
    rc = setter(err, aiw_search_request_add_filter(r, span_str(arena, items[req->call.metadata_count + i].a)),
                "filter");
  if (rc == AIW_OK) rc = aiw_vector_search_start(client, r, opts, queue, (void *)(uintptr_t)tag, err);
  aiw_call_options_free(opts);
  aiw_search_request_free(r);
  return rc;
}

aiw_code aiwgo_process_asset_start(aiw_client *client, aiw_queue *queue, uint64_t tag, const aiwgo_asset_req *req,
                                   const char *arena, const aiwgo_item *items, aiw_error *err) {
  aiw_asset_request *r;
  aiw_call_options *opts = NULL;
  aiw_code rc;
  err_init(err);
  r = aiw_asset_request_new();
  if (r == NULL) return fail(err, AIW_OUT_OF_MEMORY, "out of memory");
  rc = build_call_options(&req->call, arena, items, &opts, err);
  if (rc == AIW_OK) rc = setter(err, aiw_asset_request_set_asset_id(r, span_str(arena, req->asset_id)), "asset_id");
  if (rc == AIW_OK)
    rc = setter(err, aiw_asset_request_set_file_path(r, span_str(arena, req->file_path)), "file_path");
  if (rc == AIW_OK)
    rc = setter(err, aiw_asset_request_set_mime_type(r, span_str(arena, req->mime_type)), "mime_type");
  if (rc == AIW_OK && req->has_options) {
    rc = setter(err, aiw_asset_request_set_enable_ocr(r, req->enable_ocr), "enable_ocr");
    if (rc == AIW_OK) rc = setter(err, aiw_asset_request_set_enable_caption(r, req->enable_caption), "enable_caption");
    if (rc == AIW_OK)
      rc = setter(err, aiw_asset_request_set_enable_embedding(r, req->enable_embedding), "enable_embedding");
    if (rc == AIW_OK) rc = setter(err, aiw_asset_request_set_enable_summary(r, req->enable_summary), "enable_summary");
    if (rc == AIW_OK)
      rc = setter(err, aiw_asset_request_set_max_chunk_size(r, req->max_chunk_size), "max_chunk_size");
  }
  if (rc == AIW_OK) rc = aiw_process_asset_start(client, r, opts, queue, (void *)(uintptr_t)tag, err);
  aiw_call_options_free(opts);
  aiw_asset_request_free(r);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Unary calls: completions                                               */
/* ---------------------------------------------------------------------- */

static const char msg_too_large[] = "response too large to flatten";

/* Turns a completion into ev: the response (if any) flattened and the error
 * message, both in one malloc'd block. */
static void fill_event(aiw_completion *c, aiwgo_event *ev) {
  const aiw_error *e = aiw_completion_error(c);
  const char *msg = e->message;
  flatten_fn fn = NULL;
  void *resp = NULL;
  int kind = 0;
  size_t words_end = 0, total = 0, msg_len;
  uint8_t *block;
  ev->tag = (uint64_t)(uintptr_t)aiw_completion_tag(c);
  ev->code = (int32_t)aiw_completion_code(c);
  ev->grpc_status = e->grpc_status;
  ev->block = NULL;
  ev->len = 0;
  ev->msg_len = 0;
  if ((resp = aiw_completion_take_embedding_response(c)) != NULL) {
    fn = flat_embedding;
    kind = 1;
  } else if ((resp = aiw_completion_take_search_response(c)) != NULL) {
    fn = flat_search;
    kind = 2;
  } else if ((resp = aiw_completion_take_process_status(c)) != NULL) {
    fn = flat_process;
    kind = 3;
  }
  if (resp != NULL && (ev->code == AIW_OK || ev->code == AIW_SERVICE_ERROR)) {
    total = flat_measure(fn, resp, &words_end);
    if (total == 0) {
      ev->code = AIW_RESOURCE_EXHAUSTED;
      ev->grpc_status = -1;
      msg = msg_too_large;
    }
  }
  msg_len = strlen(msg);
  if (total + msg_len > 0) {
    block = malloc(total + msg_len);
    if (block == NULL) {
      ev->code = AIW_OUT_OF_MEMORY;
      ev->grpc_status = -1;
    } else {
      if (total > 0) flat_write(fn, resp, block, total, words_end);
      memcpy(block + total, msg, msg_len);
      ev->block = block;
      ev->len = (uint32_t)total;
      ev->msg_len = (uint32_t)msg_len;
    }
  }
  if (kind == 1) aiw_embedding_response_free(resp);
  if (kind == 2) aiw_search_response_free(resp);
  if (kind == 3) aiw_process_status_free(resp);
}

int64_t aiwgo_queue_next(aiw_queue *queue, int64_t first_timeout_ms, aiwgo_event *events, size_t n, void **to_free,
                         size_t n_free) {
  aiw_completion *c = NULL;
  aiw_code rc;
  size_t i;
  for (i = 0; i < n_free; i++) free(to_free[i]);
  if (n == 0) return 0;
  rc = aiw_queue_next(queue, first_timeout_ms, &c);
  if (rc == AIW_DEADLINE_EXCEEDED) return 0;
  if (rc != AIW_OK) return -1;
  for (i = 0;;) {
    fill_event(c, &events[i]);
    aiw_completion_free(c);
    if (++i == n || aiw_queue_next(queue, 0, &c) != AIW_OK) break;
  }
  return (int64_t)i;
}

/* ---------------------------------------------------------------------- */
/* ChatStream                                                             */
/* ---------------------------------------------------------------------- */

typedef struct chat_state {
  uintptr_t handle;
  uint8_t *buf;
  size_t cap;
} chat_state;

static int on_chat_chunk(const aiw_chat_response *chunk, void *userdata) {
  chat_state *st = userdata;
  size_t words_end, total = flat_measure(flat_chat, chunk, &words_end);
  if (total == 0) return 1;
  if (total > st->cap) {
    size_t cap = st->cap ? st->cap : 4096;
    uint8_t *nb;
    while (cap < total) cap *= 2;
    nb = realloc(st->buf, cap);
    if (nb == NULL) return 1;
    st->buf = nb;
    st->cap = cap;
  }
  flat_write(flat_chat, chunk, st->buf, total, words_end);
  return aiwgoChatChunk(st->handle, (char *)st->buf, total);
}

aiw_code aiwgo_chat_stream(aiw_client *client, const aiwgo_chat_req *req, const char *arena,
                           const aiwgo_item *items, uintptr_t handle, aiw_error *err) {
  aiw_chat_request *r;
  aiw_call_options *opts = NULL;
  chat_state st = {handle, NULL, 0};
  aiw_code rc;
  uint32_t i;
  err->code = AIW_OK;
  err->grpc_status = -1;
  err->message[0] = '\0';
  r = aiw_chat_request_new();
  if (r == NULL) return fail(err, AIW_OUT_OF_MEMORY, "out of memory");
  rc = build_call_options(&req->call, arena, items, &opts, err);
  if (rc == AIW_OK) rc = setter(err, aiw_chat_request_set_query(r, span_str(arena, req->query)), "query");
  for (i = 0; rc == AIW_OK && i < req->history_count; i++) {
    const aiwgo_item *h = &items[req->call.metadata_count + i];
    rc = setter(err, aiw_chat_request_add_history(r, span_str(arena, h->a), span_str(arena, h->b), h->n),
                "history");
  }
  if (rc == AIW_OK && req->has_options) {
    rc = setter(err, aiw_chat_request_set_max_context_docs(r, req->max_context_docs), "max_context_docs");
    if (rc == AIW_OK)
      rc = setter(err, aiw_chat_request_set_similarity_threshold(r, req->similarity_threshold),
                  "similarity_threshold");
    if (rc == AIW_OK) rc = setter(err, aiw_chat_request_set_include_images(r, req->include_images), "include_images");
    if (rc == AIW_OK)
      rc = setter(err, aiw_chat_request_set_stream_response(r, req->stream_response), "stream_response");
  }
  if (rc == AIW_OK) rc = aiw_chat_stream(client, r, opts, on_chat_chunk, &st, err);
  aiw_call_options_free(opts);
  free(st.buf);
  aiw_chat_request_free(r);
  return rc;
}

size_t aiwgo_cancel_tokens_new(aiw_cancel_token **out, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    out[i] = aiw_cancel_token_new();
    if (out[i] == NULL) break;
  }
  return i;
}

void aiwgo_free(void *p) { free(p); }

void aiwgo_free_all(void **p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) free(p[i]);
}
