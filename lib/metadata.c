/* metadata.c -- copies of the response metadata (headers and trailers) a
 * call received, kept by its completions after the call is released. */
#include "metadata.h"

int aiw__md_copy(aiw_md_copy *out, const grpc_metadata_array *md) {
  out->n = 0;
  out->entries = NULL;
  if (md->count == 0) return 1;
  size_t bytes = md->count * sizeof(aiw_md_entry);
  for (size_t i = 0; i < md->count; i++)
    bytes += GRPC_SLICE_LENGTH(md->metadata[i].key) + GRPC_SLICE_LENGTH(md->metadata[i].value) + 2;
  aiw_md_entry *e = malloc(bytes);
  if (!e) return 0;
  char *p = (char *)(e + md->count);
  for (size_t i = 0; i < md->count; i++) {
    const grpc_slice *k = &md->metadata[i].key, *v = &md->metadata[i].value;
    e[i].key = p;
    e[i].key_len = GRPC_SLICE_LENGTH(*k);
    memcpy(p, GRPC_SLICE_START_PTR(*k), e[i].key_len);
    p += e[i].key_len;
    *p++ = '\0';
    e[i].value = p;
    e[i].value_len = GRPC_SLICE_LENGTH(*v);
    memcpy(p, GRPC_SLICE_START_PTR(*v), e[i].value_len);
    p += e[i].value_len;
    *p++ = '\0';
  }
  out->n = md->count;
  out->entries = e;
  return 1;
}

void aiw__md_free(aiw_md_copy *md) {
  free(md->entries);
  md->entries = NULL;
  md->n = 0;
}
