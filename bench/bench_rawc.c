/*
 * bench_rawc.c -- the floor: the benchmark's calls written directly on gRPC C
 * core (grpc.h) and protobuf-c, no library in between (see bench/README.md).
 *
 *   bench_rawc TARGET unary CONC CALLS WARMUP    GetEmbedding, CONC calls in flight
 *   bench_rawc TARGET stream CONC STREAMS WARMUP ChatStream "!many:1000", CONC in flight
 *
 * (qunary / qstream are accepted as synonyms: this client is always the
 * queue form.) One channel, one completion queue driven by the main thread;
 * CONC calls are started from it and each finished call starts the next.
 * A unary call is one batch (send metadata, message, close; receive
 * metadata, message, status); a stream is a start batch with its first
 * receive, one batch per further message, and a status batch. A 30 s
 * deadline on every call; every response checked as the other clients do
 * (1024 floats and success; 1001 messages, the last one final). WARMUP
 * calls per slot in flight run first, unmeasured.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "ai_service.pb-c.h"
#include "harness.h"

#define EMBED_TEXT "the quick brown fox jumps over the lazy dog"
#define EMBED_DIMS 1024
#define STREAM_QUERY "!many:1000"
#define STREAM_CHUNKS 1001
#define DEADLINE_S 30

enum { TAG_UNARY = 0, TAG_MSG = 1, TAG_STATUS = 2 };

typedef struct slot {
  grpc_call *call;
  grpc_metadata_array md_init, md_trail;
  grpc_status_code status;
  grpc_slice details;
  const char *error_string;
  grpc_byte_buffer *send_bb, *recv_bb;
  double t0;
  long msgs;
  int saw_final, bad, got_end, got_status;
} slot;

typedef struct loop {
  grpc_channel *ch;
  grpc_completion_queue *cq;
  void *method; /* grpc_channel_register_call */
  grpc_slice request; /* serialized once */
  int stream;
  slot *slots;
  int conc;
  /* per phase */
  long total, started, done, chunks;
  double *lat;
} loop;

static void die(const char *what, const char *detail) {
  printf("ERROR client=rawc: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  fflush(stdout);
  exit(1);
}

static void *tag_of(slot *s, int kind) { return (void *)((uintptr_t)s | (uintptr_t)kind); }

/* The message's bytes, without a copy when it is one slice. */
static void *unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) return NULL;
  void *msg;
  if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
      bb->data.raw.slice_buffer.count == 1) {
    grpc_slice *s;
    grpc_byte_buffer_reader_peek(&r, &s);
    msg = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(*s), GRPC_SLICE_START_PTR(*s));
  } else {
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    msg = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
  }
  grpc_byte_buffer_reader_destroy(&r);
  return msg;
}

static void start(loop *l, slot *s) {
  memset(s, 0, sizeof *s);
  grpc_metadata_array_init(&s->md_init);
  grpc_metadata_array_init(&s->md_trail);
  gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(DEADLINE_S, GPR_TIMESPAN));
  s->call = grpc_channel_create_registered_call(l->ch, NULL, GRPC_PROPAGATE_DEFAULTS, l->cq, l->method, deadline, NULL);
  if (!s->call) die("grpc_channel_create_call", NULL);
  s->send_bb = grpc_raw_byte_buffer_create(&l->request, 1);
  s->t0 = bench_now_s();
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = s->send_bb;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->md_init;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &s->recv_bb;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &s->md_trail;
  ops[5].data.recv_status_on_client.status = &s->status;
  ops[5].data.recv_status_on_client.status_details = &s->details;
  ops[5].data.recv_status_on_client.error_string = &s->error_string;
  grpc_call_error e;
  if (!l->stream) {
    e = grpc_call_start_batch(s->call, ops, 6, tag_of(s, TAG_UNARY), NULL);
  } else {
    e = grpc_call_start_batch(s->call, ops, 5, tag_of(s, TAG_MSG), NULL);
    if (e == GRPC_CALL_OK) e = grpc_call_start_batch(s->call, ops + 5, 1, tag_of(s, TAG_STATUS), NULL);
  }
  if (e != GRPC_CALL_OK) die("grpc_call_start_batch", grpc_call_error_to_string(e));
  l->started++;
}

static const char *g_name = "GetEmbedding"; /* the RPC, for messages */

static void check_status(slot *s) {
  if (s->status != GRPC_STATUS_OK) {
    char *d = grpc_slice_to_c_string(s->details);
    char buf[512];
    snprintf(buf, sizeof buf, "status %d: %s", (int)s->status, d);
    die(g_name, buf);
  }
}

static void finish(loop *l, slot *s) {
  grpc_metadata_array_destroy(&s->md_init);
  grpc_metadata_array_destroy(&s->md_trail);
  grpc_slice_unref(s->details);
  gpr_free((void *)s->error_string);
  grpc_call_unref(s->call);
  s->call = NULL;
  if (l->lat) l->lat[l->done] = bench_now_s() - s->t0;
  l->done++;
  if (l->started < l->total) start(l, s);
}

static void on_unary(loop *l, slot *s) {
  grpc_byte_buffer_destroy(s->send_bb);
  check_status(s);
  if (!s->recv_bb) die("GetEmbedding", "no response message");
  AiService__EmbeddingResponse *r = unpack(s->recv_bb, &ai_service__embedding_response__descriptor);
  grpc_byte_buffer_destroy(s->recv_bb);
  if (!r) die("GetEmbedding", "cannot decode the response");
  if (r->n_semantic_vector != EMBED_DIMS || !r->success) die("GetEmbedding", "wrong response");
  ai_service__embedding_response__free_unpacked(r, NULL);
  finish(l, s);
}

static void recv_next(slot *s) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &s->recv_bb;
  grpc_call_error e = grpc_call_start_batch(s->call, &op, 1, tag_of(s, TAG_MSG), NULL);
  if (e != GRPC_CALL_OK) die("grpc_call_start_batch", grpc_call_error_to_string(e));
}

static void stream_done(loop *l, slot *s) {
  check_status(s);
  if (s->msgs != STREAM_CHUNKS || !s->saw_final || s->bad) die("ChatStream", "wrong message count or final flag");
  l->chunks += s->msgs;
  finish(l, s);
}

static void on_msg(loop *l, slot *s, int ok) {
  if (s->send_bb) {
    grpc_byte_buffer_destroy(s->send_bb);
    s->send_bb = NULL;
  }
  if (!ok || !s->recv_bb) {
    s->got_end = 1;
    if (s->got_status) stream_done(l, s);
    return;
  }
  AiService__ChatResponse *r = unpack(s->recv_bb, &ai_service__chat_response__descriptor);
  grpc_byte_buffer_destroy(s->recv_bb);
  s->recv_bb = NULL;
  if (!r) die("ChatStream", "cannot decode a message");
  if (s->saw_final) s->bad = 1;
  s->msgs++;
  if (r->is_final) s->saw_final = 1;
  ai_service__chat_response__free_unpacked(r, NULL);
  recv_next(s);
}

static void run_phase(loop *l, long total, double *lat) {
  l->total = total;
  l->started = l->done = l->chunks = 0;
  l->lat = lat;
  for (int i = 0; i < l->conc && l->started < total; i++) start(l, &l->slots[i]);
  while (l->done < total) {
    grpc_event ev = grpc_completion_queue_next(l->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type != GRPC_OP_COMPLETE) die("grpc_completion_queue_next", "unexpected event");
    slot *s = (slot *)((uintptr_t)ev.tag & ~(uintptr_t)3);
    switch ((uintptr_t)ev.tag & 3) {
      case TAG_UNARY:
        if (!ev.success) die("GetEmbedding", "batch failed");
        on_unary(l, s);
        break;
      case TAG_MSG:
        on_msg(l, s, ev.success);
        break;
      case TAG_STATUS:
        s->got_status = 1;
        if (s->got_end) stream_done(l, s);
        break;
    }
  }
}

int main(int argc, char **argv) {
  bench_args a;
  bench_parse_args(argc, argv, &a);
  grpc_init();
  loop l;
  memset(&l, 0, sizeof l);
  l.stream = strcmp(a.workload, "stream") == 0;
  g_name = l.stream ? "ChatStream" : "GetEmbedding";
  l.conc = a.conc;
  l.slots = calloc((size_t)a.conc, sizeof *l.slots);
  double *lat = calloc((size_t)a.calls, sizeof *lat);
  if (!l.slots || !lat) die("out of memory", NULL);
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  l.ch = grpc_channel_create(a.target, creds, NULL);
  grpc_channel_credentials_release(creds);
  l.cq = grpc_completion_queue_create_for_next(NULL);
  size_t len;
  uint8_t *buf;
  if (l.stream) {
    l.method = grpc_channel_register_call(l.ch, "/ai_service.AiWorker/ChatStream", NULL, NULL);
    AiService__ChatRequest req = AI_SERVICE__CHAT_REQUEST__INIT;
    req.query = (char *)STREAM_QUERY;
    len = ai_service__chat_request__get_packed_size(&req);
    buf = malloc(len ? len : 1);
    ai_service__chat_request__pack(&req, buf);
  } else {
    l.method = grpc_channel_register_call(l.ch, "/ai_service.AiWorker/GetEmbedding", NULL, NULL);
    AiService__EmbeddingRequest req = AI_SERVICE__EMBEDDING_REQUEST__INIT;
    req.content_case = AI_SERVICE__EMBEDDING_REQUEST__CONTENT_TEXT;
    req.text = (char *)EMBED_TEXT;
    req.type = AI_SERVICE__EMBEDDING_TYPE__EMBEDDING_SEMANTIC;
    len = ai_service__embedding_request__get_packed_size(&req);
    buf = malloc(len ? len : 1);
    ai_service__embedding_request__pack(&req, buf);
  }
  l.request = grpc_slice_from_copied_buffer((const char *)buf, len);
  free(buf);

  if (a.warmup > 0) run_phase(&l, a.warmup * a.conc, NULL);
  bench_meas m;
  bench_meas_begin(&m);
  run_phase(&l, a.calls, lat);
  bench_meas_end(&m);
  bench_print_result("rawc", a.workload, a.conc, a.calls, l.stream ? l.chunks : 0, &m, lat, a.calls);

  grpc_slice_unref(l.request);
  grpc_channel_destroy(l.ch);
  grpc_completion_queue_shutdown(l.cq);
  while (grpc_completion_queue_next(l.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(l.cq);
  free(l.slots);
  free(lat);
  grpc_shutdown();
  return 0;
}
