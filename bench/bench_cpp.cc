// bench_cpp.cc -- the C++ (grpc++ synchronous API) benchmark client; same
// arguments, harness and checks as bench_aiw.c (see bench/README.md).
//
// One channel and one stub shared by all threads, a ClientContext per call
// with a 30 s deadline, every response checked.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "ai_service.grpc.pb.h"
#include "harness.h"

namespace {

constexpr const char *kEmbedText = "the quick brown fox jumps over the lazy dog";
constexpr int kEmbedDims = 1024;
constexpr const char *kStreamQuery = "!many:1000";
constexpr long kStreamChunks = 1001;  // 1000 "chunk-<i> " + the final empty one

struct Ctx {
  std::unique_ptr<ai_service::AiWorker::Stub> stub;
  ai_service::EmbeddingRequest embed;
  ai_service::ChatRequest chat;
};

void set_deadline(grpc::ClientContext *cc) {
  cc->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

int unary_call(void *p, int, char *msg, size_t msg_size) {
  Ctx *c = static_cast<Ctx *>(p);
  grpc::ClientContext cc;
  set_deadline(&cc);
  ai_service::EmbeddingResponse resp;
  grpc::Status st = c->stub->GetEmbedding(&cc, c->embed, &resp);
  if (!st.ok()) {
    std::snprintf(msg, msg_size, "GetEmbedding: code %d: %s", static_cast<int>(st.error_code()),
                  st.error_message().c_str());
    return -1;
  }
  if (resp.semantic_vector_size() != kEmbedDims || !resp.success()) {
    std::snprintf(msg, msg_size, "GetEmbedding: %d floats, want %d", resp.semantic_vector_size(), kEmbedDims);
    return -1;
  }
  return 0;
}

long stream_call(void *p, char *msg, size_t msg_size) {
  Ctx *c = static_cast<Ctx *>(p);
  grpc::ClientContext cc;
  set_deadline(&cc);
  std::unique_ptr<grpc::ClientReader<ai_service::ChatResponse>> reader(c->stub->ChatStream(&cc, c->chat));
  ai_service::ChatResponse resp;
  long chunks = 0;
  bool saw_final = false, bad = false;
  while (reader->Read(&resp)) {
    if (saw_final) bad = true;
    chunks++;
    if (resp.is_final()) saw_final = true;
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    std::snprintf(msg, msg_size, "ChatStream: code %d: %s", static_cast<int>(st.error_code()),
                  st.error_message().c_str());
    return -1;
  }
  if (chunks != kStreamChunks || !saw_final || bad) {
    std::snprintf(msg, msg_size, "ChatStream: %ld chunks (final %d), want %ld", chunks, saw_final, kStreamChunks);
    return -1;
  }
  return chunks;
}

}  // namespace

int main(int argc, char **argv) {
  bench_args a;
  bench_parse_args(argc, argv, &a);
  if (a.queue) {
    std::fprintf(stderr, "bench_cpp: no queue form (qunary / qstream)\n");
    return 2;
  }
  Ctx c;
  c.stub = ai_service::AiWorker::NewStub(grpc::CreateChannel(a.target, grpc::InsecureChannelCredentials()));
  c.embed.set_text(kEmbedText);
  c.embed.set_type(ai_service::EMBEDDING_SEMANTIC);
  c.chat.set_query(kStreamQuery);
  return std::strcmp(a.workload, "unary") == 0 ? bench_run_unary("cpp", &a, unary_call, &c)
                                                : bench_run_stream("cpp", &a, stream_call, &c);
}
