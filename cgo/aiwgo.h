/*
 * aiwgo.h -- the C half of package aiworker (Go bindings of libaiw).
 *
 * Every call, unary or streaming, runs on the client's aiw_queue through
 * libaiw's raw-message interface: Go serializes the request (protoc-gen-go
 * messages, google.golang.org/protobuf), aiwgo_start starts the call in one
 * transition, and the client's one poller goroutine takes completions in
 * batches with aiwgo_queue_next (one transition per batch). Go unmarshals
 * each message straight from the completion's memory and frees the
 * completion -- for a stream's message that is what lets the stream read
 * its next one (libaiw's flow control).
 *
 * No Go pointer is kept by C after a helper returns; the poller's arrays
 * live in C memory (aiwgo_poll_new), so its transition passes no Go pointer
 * at all and costs cgo no pointer checks.
 */
#ifndef AIWGO_H
#define AIWGO_H

#include <stddef.h>
#include <stdint.h>
#include <aiw.h>

/* This package needs libaiw 1.x, at least 1.2 (the raw-message interface,
 * streams on the queue, the production channel). A libaiw of another major version is refused here,
 * at compile time, rather than failing strangely at run time. */
#if !defined(AIW_VERSION_MAJOR) || AIW_VERSION_MAJOR != 1
#error "package aiworker needs libaiw 1.x (aiw.h says another major version)"
#endif
#if AIW_VERSION_NUM < 0x010200
#error "package aiworker needs libaiw 1.2 or newer: update libaiw (make lib) or point PKG_CONFIG_PATH at it"
#endif

/* One metadata pair: [key_off, key_off+key_len) and the value's range in the
 * metadata arena; is_bin 1 for a -bin key (raw bytes). */
typedef struct aiwgo_md {
  uint32_t key_off, key_len;
  uint32_t value_off, value_len;
  int32_t is_bin;
} aiwgo_md;

/*
 * aiwgo_start: builds the call options (timeout_ms 0: none; token may be
 * NULL; compression NULL: the client's; max_receive 0: the client's;
 * metadata md[0..n_md) in `arena`), then starts a raw call of `path`
 * (streaming: aiw_raw_stream_start, else aiw_raw_call_start) on `queue` with
 * `tag`, the request being req[0..len). Everything is copied by libaiw.
 * AIW_OK: completions carrying `tag` will come out of aiwgo_queue_next;
 * anything else: nothing started, *err says why.
 */
aiw_code aiwgo_start(aiw_client *client, aiw_queue *queue, uint64_t tag, const char *path, int streaming,
                     aiw_cancel_token *token, int64_t timeout_ms, int wait_for_ready, const char *compression,
                     size_t max_receive, const void *req, size_t len, const char *arena, const aiwgo_md *md,
                     size_t n_md, aiw_error *err);

/* One completion as the poller hands it to Go. Pointers are borrowed from
 * `completion` and valid until it is freed. */
typedef struct aiwgo_event {
  uint64_t tag;
  aiw_completion *completion;
  const uint8_t *data; /* the message (raw), NULL when none */
  const char *msg;     /* the error message (RESULT), NUL-terminated */
  uint32_t len;
  uint32_t msg_len;
  int32_t code;
  int32_t grpc_status;
  int32_t is_message;
  int32_t deadline_expired;
  uint32_t n_headers; /* response metadata it can show (aiw_completion_metadata_*) */
  uint32_t n_trailers;
} aiwgo_event;

/* The poller's working memory, in C (one per client). */
typedef struct aiwgo_poll {
  size_t cap;
  aiwgo_event *events;      /* cap */
  aiw_completion **to_free; /* cap */
} aiwgo_poll;

aiwgo_poll *aiwgo_poll_new(size_t cap);
void aiwgo_poll_free(aiwgo_poll *p);

/*
 * aiwgo_queue_next: the poller's one transition per batch. Frees
 * p->to_free[0..n_free) first, then waits (timeout_ms -1: for ever) for a
 * completion and takes up to p->cap - 1 more that are ready. Returns how
 * many events it filled; 0 when the time ran out; -1 when the queue is shut
 * down and empty.
 */
int64_t aiwgo_queue_next(aiw_queue *queue, int64_t timeout_ms, aiwgo_poll *p, size_t n_free);

/* aiwgo_cancel_tokens_new: fills out[0..n) with new tokens; returns how many it made. */
size_t aiwgo_cancel_tokens_new(aiw_cancel_token **out, size_t n);

#endif
