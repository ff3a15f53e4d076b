module github.com/thinkbank/libaiw/examples/go-backend

go 1.19

require (
	github.com/thinkbank/libaiw/cgo v0.0.0
	google.golang.org/protobuf v1.28.1
)

replace github.com/thinkbank/libaiw/cgo => ../../cgo

// The Go package's messages are protoc-gen-go's; the module it needs is
// Debian's golang-google-protobuf-dev (make deps installs it), so nothing is
// downloaded. cgo/go.mod has the same replace, but a replace only counts in
// the main module, so it is repeated here.
replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
