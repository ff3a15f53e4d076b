/*
 * call_options.h -- the per-call options (call_options.c owns them; the
 * engine reads them when a call starts). Never installed.
 */
#ifndef AIW_CALL_OPTIONS_H
#define AIW_CALL_OPTIONS_H

#include "internal.h"

typedef struct aiw_metadata_entry {
  char *key;
  char *value;
  size_t key_len;
  size_t value_len;
} aiw_metadata_entry;

struct aiw_call_options {
  int64_t timeout_ms; /* 0: none */
  int wait_for_ready;
  aiw_metadata_entry *metadata;
  size_t n_metadata;
  size_t cap_metadata;
  aiw_cancel_token *token; /* borrowed */
  /* since 1.2 */
  int compression;         /* a grpc_compression_algorithm + 1; 0: the client's */
  size_t max_receive_size; /* 0: the client's */
  aiw_response_info *info; /* borrowed; blocking calls fill it */
};

#endif /* AIW_CALL_OPTIONS_H */
