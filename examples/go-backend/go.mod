module github.com/thinkbank/libaiw/examples/go-backend

go 1.19

require (
	github.com/prometheus/client_golang v1.14.0
	github.com/prometheus/client_model v0.3.0
	github.com/prometheus/common v0.37.0
	github.com/thinkbank/libaiw/cgo v0.0.0
	google.golang.org/protobuf v1.28.1
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.1.2 // indirect
	github.com/golang/protobuf v1.5.2 // indirect
	github.com/matttproud/golang_protobuf_extensions v1.0.4 // indirect
	github.com/prometheus/procfs v0.8.0 // indirect
	golang.org/x/sys v0.3.0 // indirect
)

replace github.com/thinkbank/libaiw/cgo => ../../cgo

// Nothing is downloaded (GOPROXY=off): every other module is Debian's copy
// under /usr/share/gocode/src. A replace only counts in the main module, so
// a program of your own that imports these packages repeats these lines.
//
// The Go package's messages are protoc-gen-go's: golang-google-protobuf-dev
// (cgo/go.mod has the same replace).
replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf

// GET /metrics: golang-github-prometheus-client-golang-dev (1.14) and the
// packages it depends on (golang-github-beorn7-perks-dev,
// golang-github-cespare-xxhash-dev, golang-github-golang-protobuf-1-5-dev,
// golang-github-prometheus-client-model-dev, golang-github-prometheus-common-dev,
// golang-github-prometheus-procfs-dev, golang-protobuf-extensions-dev,
// golang-golang-x-sys-dev; golang-github-google-go-cmp-dev for the module
// graph only). Debian's golang_protobuf_extensions has no go.mod: the
// directory in third_party/debian is one, with its pbutil package a symlink
// to Debian's.
replace (
	github.com/beorn7/perks => /usr/share/gocode/src/github.com/beorn7/perks
	github.com/cespare/xxhash/v2 => /usr/share/gocode/src/github.com/cespare/xxhash
	github.com/golang/protobuf => /usr/share/gocode/src/github.com/golang/protobuf
	github.com/google/go-cmp => /usr/share/gocode/src/github.com/google/go-cmp
	github.com/matttproud/golang_protobuf_extensions => ./third_party/debian/golang_protobuf_extensions
	github.com/prometheus/client_golang => /usr/share/gocode/src/github.com/prometheus/client_golang
	github.com/prometheus/client_model => /usr/share/gocode/src/github.com/prometheus/client_model
	github.com/prometheus/common => /usr/share/gocode/src/github.com/prometheus/common
	github.com/prometheus/procfs => /usr/share/gocode/src/github.com/prometheus/procfs
	golang.org/x/sys => /usr/share/gocode/src/golang.org/x/sys
)
