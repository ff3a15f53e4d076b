/* probe.c -- tests/schema/run.sh: the fields the test adds to the copy's
 * idl/ai_service.proto, read through the C getters generated for them.
 * Compiled against the copy's include/aiw.h and libaiw only (these
 * functions exist nowhere else). Usage: probe TARGET; prints one line per
 * value, which run.sh compares. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "aiw.h"

static aiw_search_response *search(aiw_client *client, const char *query) {
  aiw_search_request *req = aiw_search_request_new();
  aiw_search_response *resp = NULL;
  aiw_error err;
  if (!req || aiw_search_request_set_query(req, query) != AIW_OK || aiw_search_request_set_limit(req, 2) != AIW_OK ||
      aiw_vector_search(client, req, NULL, &resp, &err) != AIW_OK)
    fprintf(stderr, "probe: VectorSearch %s failed: %s\n", query, err.message);
  aiw_search_request_free(req);
  return resp;
}

int main(int argc, char **argv) {
  aiw_client *client = NULL;
  aiw_error err;
  if (argc != 2 || aiw_client_new(argv[1], NULL, &client, &err) != AIW_OK) return 2;

  /* SearchResponse.model_version (string): getter, _with_len, NULL object. */
  aiw_search_response *resp = search(client, "!set:model_version=v7");
  size_t len = 99;
  const char *s = aiw_search_response_model_version_with_len(resp, &len);
  printf("model_version=%s len=%zu same=%d\n", aiw_search_response_model_version(resp), len,
         s == aiw_search_response_model_version(resp));
  printf("null=\"%s\"\n", aiw_search_response_model_version(NULL));
  aiw_search_response_free(resp);

  /* SearchResult.indexed_at (int64), in every result of the response. */
  resp = search(client, "!set:results.indexed_at=1700000000123");
  printf("results=%zu", aiw_search_response_result_count(resp));
  for (size_t i = 0; i < aiw_search_response_result_count(resp); i++)
    printf(" indexed_at=%" PRId64, aiw_search_result_indexed_at(aiw_search_response_result(resp, i)));
  printf(" null=%" PRId64 "\n", aiw_search_result_indexed_at(NULL));
  aiw_search_response_free(resp);

  /* Unset: the proto3 defaults. */
  resp = search(client, "q");
  printf("default model_version=\"%s\" indexed_at=%" PRId64 "\n", aiw_search_response_model_version(resp),
         aiw_search_result_indexed_at(aiw_search_response_result(resp, 0)));
  aiw_search_response_free(resp);
  aiw_client_free(client);
  return 0;
}
