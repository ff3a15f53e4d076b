/* methods.c -- the four RPCs of ai_service.AiWorker as the engine and the
 * client need them: path, name, response type, streaming, and where a
 * response reports success=false in-band. */
#include <stddef.h>

#include "internal.h"

#define UNARY(id, rpc, type, lower)                                                                                    \
  [id] = {"/ai_service.AiWorker/" rpc,                                                                                 \
          rpc,                                                                                                         \
          &ai_service__##lower##__descriptor,                                                                          \
          0,                                                                                                           \
          id,                                                                                                          \
          offsetof(AiService__##type, success),                                                                        \
          offsetof(AiService__##type, error)}
const aiw_method aiw__methods[AIW_METHOD_COUNT] = {
    UNARY(AIW_METHOD_PROCESS_ASSET, "ProcessAsset", ProcessStatus, process_status),
    [AIW_METHOD_CHAT_STREAM] = {"/ai_service.AiWorker/ChatStream", "ChatStream", &ai_service__chat_response__descriptor,
                                1, AIW_METHOD_CHAT_STREAM, 0, 0},
    UNARY(AIW_METHOD_GET_EMBEDDING, "GetEmbedding", EmbeddingResponse, embedding_response),
    UNARY(AIW_METHOD_VECTOR_SEARCH, "VectorSearch", SearchResponse, search_response),
};
#undef UNARY
