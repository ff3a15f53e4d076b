// bench_server.cc -- the fast benchmark server for bench/ (see bench/README.md).
//
//   bench_server [--port N] [--host H] [--threads T] [--embed-dims D]
//
// An ai_service.AiWorker on the grpc++ asynchronous API: one completion
// queue, T threads polling it (default 1), no thread per call or stream, so
// that the server costs little next to the client being measured and 10,000
// streams can be open at once.
//
// - GetEmbedding: answers every request with the same precomputed response
//   bytes -- a 1024-float `semantic_vector` (the reference service's vector
//   for the benchmark's text, computed once at start-up) and success=true --
//   sent from a static slice (no encoding, no copy per call). The request is
//   not decoded (raw method).
// - ChatStream, query "!many:N": N messages `chunk="chunk-<i> "` then one
//   final message `is_final=true` (no sources), as the reference service's
//   `!many:N` without the sources.
// - ChatStream, query "!hold:MS:N": the first chunk at once, then the stream
//   waits MS milliseconds (a grpc::Alarm on the queue, no thread), then the
//   remaining N-1 chunks and the final message. N >= 1. This is what the
//   open-streams workload holds open.
// - Any other query: INVALID_ARGUMENT. ProcessAsset, VectorSearch:
//   UNIMPLEMENTED.
//
// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS is advertised as 1,000,000 (grpc-go
// clients otherwise assume 100 until they hear a value). Once it accepts
// calls it prints `LISTENING <port>` on stdout, as the reference service;
// SIGTERM or SIGINT stop it (exit 0).
#include <signal.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpc/grpc.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include "ai_service.grpc.pb.h"

namespace {

using ai_service::AiWorker;
using Service = AiWorker::WithRawMethod_GetEmbedding<
    AiWorker::WithRawMethod_ChatStream<AiWorker::WithAsyncMethod_ProcessAsset<
        AiWorker::WithAsyncMethod_VectorSearch<AiWorker::Service>>>>;

constexpr const char *kEmbedText = "the quick brown fox jumps over the lazy dog";

// The precomputed GetEmbedding response (never freed: static slice).
std::string g_embed_bytes;

// The reference service's vector (tests/refservice/README.md): FNV-1a of the
// text, xorshift32, ((x % 20001) - 10000) / 10000.
std::string make_embedding_response(int dims) {
  uint32_t seed = 0x811c9dc5u;
  for (const char *p = kEmbedText; *p; p++) seed = (seed ^ (uint8_t)*p) * 0x01000193u;
  if (seed == 0) seed = 1;
  ai_service::EmbeddingResponse resp;
  uint32_t x = seed;
  for (int i = 0; i < dims; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    resp.add_semantic_vector((float)(((double)(x % 20001) - 10000.0) / 10000.0));
  }
  resp.set_success(true);
  return resp.SerializeAsString();
}

// ChatResponse{chunk: "chunk-<i> "} encoded by hand: field 1, length-delimited.
grpc::ByteBuffer chunk_message(long i) {
  char buf[40];
  int n = std::snprintf(buf + 2, sizeof buf - 2, "chunk-%ld ", i);
  buf[0] = 0x0a;
  buf[1] = (char)n;
  grpc::Slice s(buf, (size_t)n + 2);
  return grpc::ByteBuffer(&s, 1);
}

// ChatResponse{is_final: true}: field 2, varint 1.
const char kFinalBytes[] = {0x10, 0x01};

grpc::ByteBuffer static_message(const void *p, size_t len) {
  grpc::Slice s(p, len, grpc::Slice::STATIC_SLICE);
  return grpc::ByteBuffer(&s, 1);
}

// Reads field 1 (query) of a serialized ChatRequest; false if malformed.
bool chat_query(const grpc::ByteBuffer &bb, std::string *query) {
  std::vector<grpc::Slice> slices;
  if (!bb.Dump(&slices).ok()) return false;
  std::string buf;
  for (auto &s : slices) buf.append((const char *)s.begin(), s.size());
  size_t i = 0;
  auto varint = [&](uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && i < buf.size(); shift += 7) {
      uint8_t b = (uint8_t)buf[i++];
      *v |= (uint64_t)(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  query->clear();
  while (i < buf.size()) {
    uint64_t key, v;
    if (!varint(&key)) return false;
    switch (key & 7) {
      case 0:
        if (!varint(&v)) return false;
        break;
      case 1: i += 8; break;
      case 5: i += 4; break;
      case 2:
        if (!varint(&v) || v > buf.size() - i) return false;
        if ((key >> 3) == 1) query->assign(buf, i, v);
        i += v;
        break;
      default: return false;
    }
    if (i > buf.size()) return false;
  }
  return true;
}

bool parse_long(const char *s, long min, long max, long *out, const char **end) {
  char *e;
  long v = std::strtol(s, &e, 10);
  if (e == s || v < min || v > max) return false;
  *out = v;
  *end = e;
  return true;
}

// ---- the calls ----------------------------------------------------------

struct Server;

struct Call {
  virtual ~Call() = default;
  virtual void proceed(bool ok) = 0;
};

struct Server {
  Service service;
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  std::unique_ptr<grpc::Server> server;
};

class EmbedCall : public Call {
 public:
  explicit EmbedCall(Server *s) : s_(s), writer_(&ctx_) {
    s_->service.RequestGetEmbedding(&ctx_, &req_, &writer_, s_->cq.get(), s_->cq.get(), this);
  }
  void proceed(bool ok) override {
    if (state_ == kRequested) {
      if (!ok) {  // shutting down
        delete this;
        return;
      }
      new EmbedCall(s_);
      state_ = kFinishing;
      writer_.Finish(static_message(g_embed_bytes.data(), g_embed_bytes.size()), grpc::Status::OK, this);
      return;
    }
    delete this;
  }

 private:
  enum { kRequested, kFinishing } state_ = kRequested;
  Server *s_;
  grpc::ServerContext ctx_;
  grpc::ByteBuffer req_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> writer_;
};

class ChatCall : public Call {
 public:
  explicit ChatCall(Server *s) : s_(s), writer_(&ctx_) {
    s_->service.RequestChatStream(&ctx_, &req_, &writer_, s_->cq.get(), s_->cq.get(), this);
  }
  void proceed(bool ok) override {
    switch (state_) {
      case kRequested: {
        if (!ok) {
          delete this;
          return;
        }
        new ChatCall(s_);
        std::string q;
        if (!chat_query(req_, &q) || !parse(q)) {
          state_ = kFinishing;
          writer_.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                      "bench server: the query must be !many:N or !hold:MS:N, got \"" + q + "\""),
                         this);
          return;
        }
        next();
        return;
      }
      case kWriting:
        if (!ok) {  // the client went away
          state_ = kFinishing;
          writer_.Finish(grpc::Status::CANCELLED, this);
          return;
        }
        if (hold_ms_ >= 0 && sent_ == 1) {
          state_ = kHolding;
          alarm_.Set(s_->cq.get(), std::chrono::system_clock::now() + std::chrono::milliseconds(hold_ms_), this);
          hold_ms_ = -1;
          return;
        }
        next();
        return;
      case kHolding:
        next();
        return;
      case kFinishing:
        delete this;
        return;
    }
  }

 private:
  bool parse(const std::string &q) {
    const char *p = q.c_str(), *e;
    if (q.compare(0, 6, "!many:") == 0)
      return parse_long(p + 6, 0, 100000000, &n_, &e) && *e == 0;
    if (q.compare(0, 6, "!hold:") == 0) {
      long ms;
      if (!parse_long(p + 6, 0, 3600000, &ms, &e) || *e != ':') return false;
      if (!parse_long(e + 1, 1, 100000000, &n_, &e) || *e != 0) return false;
      hold_ms_ = ms;
      return true;
    }
    return false;
  }
  void next() {
    if (sent_ < n_) {
      state_ = kWriting;
      writer_.Write(chunk_message(sent_++), this);
    } else {
      state_ = kFinishing;
      writer_.WriteAndFinish(static_message(kFinalBytes, sizeof kFinalBytes), grpc::WriteOptions(),
                             grpc::Status::OK, this);
    }
  }

  enum { kRequested, kWriting, kHolding, kFinishing } state_ = kRequested;
  Server *s_;
  grpc::ServerContext ctx_;
  grpc::ByteBuffer req_;
  grpc::ServerAsyncWriter<grpc::ByteBuffer> writer_;
  grpc::Alarm alarm_;
  long n_ = 0, sent_ = 0, hold_ms_ = -1;
};

template <class Req, class Resp, auto Request>
class UnimplementedCall : public Call {
 public:
  explicit UnimplementedCall(Server *s) : s_(s), writer_(&ctx_) {
    (s_->service.*Request)(&ctx_, &req_, &writer_, s_->cq.get(), s_->cq.get(), this);
  }
  void proceed(bool ok) override {
    if (!finishing_ && ok) {
      new UnimplementedCall(s_);
      finishing_ = true;
      writer_.FinishWithError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not in the bench server"), this);
      return;
    }
    delete this;
  }

 private:
  Server *s_;
  bool finishing_ = false;
  grpc::ServerContext ctx_;
  Req req_;
  grpc::ServerAsyncResponseWriter<Resp> writer_;
};

using AssetCall = UnimplementedCall<ai_service::AssetRequest, ai_service::ProcessStatus, &Service::RequestProcessAsset>;
using SearchCall =
    UnimplementedCall<ai_service::SearchRequest, ai_service::SearchResponse, &Service::RequestVectorSearch>;

void poll_loop(Server *s) {
  void *tag;
  bool ok;
  while (s->cq->Next(&tag, &ok)) static_cast<Call *>(tag)->proceed(ok);
}

void usage(const char *prog) {
  std::fprintf(stderr, "usage: %s [--port N] [--host H] [--threads T] [--embed-dims D]\n", prog);
  std::exit(2);
}

}  // namespace

int main(int argc, char **argv) {
  std::string host = "127.0.0.1";
  long port = 0, threads = 1, dims = 1024;
  for (int i = 1; i < argc; i++) {
    const char *e;
    if (i + 1 >= argc) usage(argv[0]);
    if (!std::strcmp(argv[i], "--port")) {
      if (!parse_long(argv[++i], 0, 65535, &port, &e) || *e) usage(argv[0]);
    } else if (!std::strcmp(argv[i], "--host")) {
      host = argv[++i];
    } else if (!std::strcmp(argv[i], "--threads")) {
      if (!parse_long(argv[++i], 1, 64, &threads, &e) || *e) usage(argv[0]);
    } else if (!std::strcmp(argv[i], "--embed-dims")) {
      if (!parse_long(argv[++i], 0, 1 << 20, &dims, &e) || *e) usage(argv[0]);
    } else {
      usage(argv[0]);
    }
  }
  g_embed_bytes = make_embedding_response((int)dims);

  // Signals are taken by sigwait in main; every other thread blocks them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  Server s;
  grpc::ServerBuilder b;
  int bound = 0;
  std::string addr = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  b.AddListeningPort(addr, grpc::InsecureServerCredentials(), &bound);
  b.RegisterService(&s.service);
  b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1000000);
  b.SetMaxReceiveMessageSize(64 << 20);
  b.SetMaxSendMessageSize(64 << 20);
  s.cq = b.AddCompletionQueue();
  s.server = b.BuildAndStart();
  if (!s.server || bound == 0) {
    std::fprintf(stderr, "bench_server: cannot listen on %s\n", addr.c_str());
    return 1;
  }
  // Calls requested ahead: the core queues any more until they are re-armed.
  for (int i = 0; i < 32; i++) {
    new EmbedCall(&s);
    new ChatCall(&s);
  }
  new AssetCall(&s);
  new SearchCall(&s);
  std::vector<std::thread> pollers;
  for (long i = 0; i < threads; i++) pollers.emplace_back(poll_loop, &s);
  std::printf("LISTENING %d\n", bound);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&sigs, &sig);
  // Calls in flight get 0.2 s, then the process ends without tearing the
  // queue down (a held stream's alarm may still be pending on it).
  s.server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  std::fflush(stdout);
  std::_Exit(0);
}
