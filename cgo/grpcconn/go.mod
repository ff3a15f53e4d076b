module github.com/thinkbank/libaiw/cgo/grpcconn

// Its own module, so that grpc-go stays out of the Go package aiworker's
// dependencies (cgo/go.mod needs only google.golang.org/protobuf).

go 1.19

require (
	github.com/thinkbank/libaiw/cgo v0.0.0
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)

require (
	github.com/golang/protobuf v1.5.0 // indirect
	golang.org/x/net v0.0.0-20190311183353-d8887717615a // indirect
	golang.org/x/sys v0.5.0 // indirect
	golang.org/x/text v0.7.0 // indirect
)

// Nothing is downloaded. A replace only counts in the main module: a
// program that imports grpcconn repeats these lines (README.md), with the
// paths of ./ and ./stubs as seen from its own go.mod.
replace github.com/thinkbank/libaiw/cgo => ../

// Debian's sources (golang-google-grpc-dev 1.33, golang-google-protobuf-dev,
// golang-google-genproto-dev, golang-github-golang-protobuf-1-5-dev,
// golang-golang-x-{net,sys,text}-dev, golang-github-google-go-cmp-dev).
replace (
	github.com/golang/protobuf => /usr/share/gocode/src/github.com/golang/protobuf
	github.com/google/go-cmp => /usr/share/gocode/src/github.com/google/go-cmp
	golang.org/x/net => /usr/share/gocode/src/golang.org/x/net
	golang.org/x/sys => /usr/share/gocode/src/golang.org/x/sys
	golang.org/x/text => /usr/share/gocode/src/golang.org/x/text
	google.golang.org/genproto => /usr/share/gocode/src/google.golang.org/genproto
	google.golang.org/grpc => /usr/share/gocode/src/google.golang.org/grpc
	google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
)

// grpc-go 1.33's go.mod predates graph pruning: Go wants the go.mod of every
// module in its requirement graph, also of those no imported package uses.
// Each of these is a directory holding just `module <path>`.
replace (
	github.com/cncf/udpa/go => ./stubs/github.com/cncf/udpa/go
	github.com/envoyproxy/go-control-plane => ./stubs/github.com/envoyproxy/go-control-plane
	github.com/golang/glog => ./stubs/github.com/golang/glog
	github.com/google/uuid => ./stubs/github.com/google/uuid
	golang.org/x/lint => ./stubs/golang.org/x/lint
	golang.org/x/mod => ./stubs/golang.org/x/mod
	golang.org/x/oauth2 => ./stubs/golang.org/x/oauth2
	golang.org/x/term => ./stubs/golang.org/x/term
	golang.org/x/tools => ./stubs/golang.org/x/tools
	honnef.co/go/tools => ./stubs/honnef.co/go/tools
)
