#!/bin/bash
# cgo/gen_go.sh OUTDIR -- generates the package's message types from
# idl/ai_service.proto into OUTDIR/ai_service.pb.go (make gen-go writes cgo/,
# make check-generated compares).
#
# The messages are registered with protobuf-go under a proto package and
# file name of their own (libaiw.aiworker, libaiw/ai_service.proto), not
# ai_service's: a program that also links a client generated from the same
# .proto (protoc --go_out, as grpcconn users do) would otherwise register
# ai_service.proto twice, and protobuf-go panics at start-up. The wire form
# is the same (field numbers and types); gRPC method paths are spelled out
# by the package ("/ai_service.AiWorker/..."), not taken from descriptors.
set -eu
out=$1
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/libaiw"
sed -e 's/^package ai_service;/package libaiw.aiworker;/' idl/ai_service.proto > "$tmp/libaiw/ai_service.proto"
grep -q '^package libaiw.aiworker;' "$tmp/libaiw/ai_service.proto"
protoc -I"$tmp" --go_out="$tmp" --go_opt=paths=source_relative \
  --go_opt=Mlibaiw/ai_service.proto="github.com/thinkbank/libaiw/cgo;aiworker" libaiw/ai_service.proto
mkdir -p "$out"
cp "$tmp/libaiw/ai_service.pb.go" "$out/ai_service.pb.go"
