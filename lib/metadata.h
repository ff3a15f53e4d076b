/*
 * metadata.h -- copies of the response metadata a call received
 * (metadata.c), kept after the call is released. Part of the engine.
 * Never installed.
 */
#ifndef AIW_METADATA_H
#define AIW_METADATA_H

#include "engine.h"

/* A copy of a grpc_metadata_array that outlives the call: one allocation,
 * keys and values NUL-terminated (values may hold NULs: -bin). */
typedef struct aiw_md_entry {
  const char *key;
  const char *value;
  size_t key_len, value_len;
} aiw_md_entry;

typedef struct aiw_md_copy {
  size_t n;
  aiw_md_entry *entries; /* NULL when n is 0; the one block to free */
} aiw_md_copy;

void aiw__md_free(aiw_md_copy *md);

/* Copies `md` into *out (empty on no metadata). 0 when out of memory. */
int aiw__md_copy(aiw_md_copy *out, const grpc_metadata_array *md);

#endif /* AIW_METADATA_H */
