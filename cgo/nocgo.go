//go:build !cgo

package aiworker

// Package aiworker is a binding of libaiw, the C library: it needs cgo.
// This file exists so that a build without cgo fails with this message
// instead of a wall of undefined names: build with CGO_ENABLED=1 (the
// default when a C compiler is installed), with libaiw where pkg-config
// finds it (make lib; PKG_CONFIG_PATH=<checkout>/build/lib/pkgconfig).
// See README.md.
var _ = aiworker_needs_cgo_and_libaiw__build_with_CGO_ENABLED_1
