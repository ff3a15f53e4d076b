#!/usr/bin/env bash
# Writes the seed corpus (kept in the tree as tests/fuzz/corpus/): one valid
# message of each response type, encoded by protoc from text format, each
# prefixed by the selector byte (bits 0-1 the type, bit 2 raw, bits 3-7
# where gRPC's buffer is split in two slices). Run from the repository root:
#   bash tests/fuzz/seed_corpus.sh tests/fuzz/corpus
set -euo pipefail
dir=$1
mkdir -p "$dir"
enc() { # selector name type text
  { printf "\\x$1"; printf '%s' "$4" | protoc -Iidl --encode="ai_service.$3" idl/ai_service.proto; } > "$dir/seed-$2"
}
status='success: true error: "x" stage: STAGE_COMPLETED progress: 0.5'
chat='chunk: "hi" is_final: true sources { asset_id: "a" score: 0.5 metadata { key: "k" value: "v" } }'
emb='semantic_vector: [1, 2, 3] visual_vector: [4] success: true'
search='results { asset_id: "a" caption: "c" metadata { key: "k" value: "v" } } total_count: 1 success: true'
nul='chunk: "a\000b" sources { caption: "c\000d" metadata { key: "k\000" value: "\000v" } }'
enc 00 ProcessStatus ProcessStatus "$status"
enc 01 ChatResponse ChatResponse "$chat"
enc 02 EmbeddingResponse EmbeddingResponse "$emb"
enc 03 SearchResponse SearchResponse "$search"
enc 05 ChatResponse-raw ChatResponse "$chat"
enc 2a EmbeddingResponse-split EmbeddingResponse "$emb"
enc 19 ChatResponse-nul-split ChatResponse "$nul"
enc 1b SearchResponse-split SearchResponse "$search"
