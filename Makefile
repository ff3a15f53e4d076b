# libaiw -- top-level build. `make help` lists the targets.
#
# Everything is built under build/. Each component has its own fragment
# (lib/lib.mk, examples/aiw/aiw.mk, cgo/cgo.mk, examples/go-backend/backend.mk,
# tests/tests.mk) included below; this file holds what they share.

SHELL := /bin/bash
.DEFAULT_GOAL := all

BUILD   := build
PREFIX  ?= /usr/local
DESTDIR ?=

CC      ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
PKG_CONFIG ?= pkg-config
PYTHON_GRPC := /usr/bin/python3

# Debian packages the project needs; `make deps` installs the missing ones.
DEB_PACKAGES := build-essential pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev \
	check libjansson-dev openssl golang-go python3-grpcio python3-protobuf protobuf-compiler \
	protobuf-compiler-grpc valgrind abigail-tools chromium libclang-rt-14-dev clang \
	libgrpc++-dev golang-google-grpc-dev golang-google-protobuf-dev \
	golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc debootstrap curl clang-format \
	golang-github-prometheus-client-golang-dev golang-github-prometheus-common-dev \
	golang-github-prometheus-client-model-dev golang-protobuf-extensions-dev golang-github-prometheus-procfs-dev \
	golang-github-beorn7-perks-dev golang-github-cespare-xxhash-dev golang-golang-x-sys-dev

DEPS_STAMP := $(BUILD)/.deps-ok

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-missing-field-initializers
CSTD     := -std=c11 -D_GNU_SOURCE
OPT      ?= -O2 -g

.PHONY: all deps help clean test demo install bench
all: lib

help:
	@echo "make            build the library, the aiw CLI and the examples"
	@echo "make deps       install missing Debian packages (apt-get)"
	@echo "make test       build everything and run the whole test suite"
	@echo "make demo       run one of each RPC against the bundled reference service"
	@echo "make install    install under PREFIX=$(PREFIX) (DESTDIR supported)"
	@echo "make bench      run the benchmarks in bench/"
	@echo "make clean      remove build/"

# `make deps` always checks; other targets check once per build tree.
deps:
	@bash .ci/deps.sh $(DEB_PACKAGES)
	@mkdir -p $(BUILD) && touch $(DEPS_STAMP)

$(DEPS_STAMP):
	@bash .ci/deps.sh $(DEB_PACKAGES)
	@mkdir -p $(BUILD) && touch $@

clean:
	rm -rf $(BUILD)

include lib/lib.mk
-include examples/aiw/aiw.mk
-include cgo/cgo.mk
-include examples/go-backend/backend.mk
-include tests/tests.mk
-include bench/bench.mk
-include cgo/grpcconn/grpcconn.mk
-include tests/schema/schema.mk
-include tests/fuzz/fuzz.mk
-include tests/torture/torture.mk
-include tests/tsan/tsan.mk
-include tests/soak.mk
-include examples/static.mk
