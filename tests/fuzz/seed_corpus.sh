#!/usr/bin/env bash
# Seeds the fuzz corpus with one valid message of each response type, encoded
# by protoc from text format, each prefixed by the selector byte.
set -euo pipefail
dir=$1
enc() { # selector type text
  { printf "\\x$1"; printf '%s' "$3" | protoc -Iidl --encode="ai_service.$2" idl/ai_service.proto; } > "$dir/seed-$2"
}
enc 00 ProcessStatus 'success: true error: "x" stage: STAGE_COMPLETED progress: 0.5'
enc 01 ChatResponse 'chunk: "hi" is_final: true sources { asset_id: "a" score: 0.5 metadata { key: "k" value: "v" } }'
enc 02 EmbeddingResponse 'semantic_vector: [1, 2, 3] visual_vector: [4] success: true'
enc 03 SearchResponse 'results { asset_id: "a" caption: "c" metadata { key: "k" value: "v" } } total_count: 1 success: true'
