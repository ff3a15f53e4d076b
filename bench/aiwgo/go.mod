module github.com/thinkbank/libaiw/bench/aiwgo

go 1.19

require (
	github.com/thinkbank/libaiw/cgo v0.0.0
	google.golang.org/protobuf v1.28.1
)

replace github.com/thinkbank/libaiw/cgo => ../../cgo

// The Go package's message types are protoc-gen-go's: a replace counts only
// in the main module, so this one repeats cgo/'s (Debian's source, offline).
replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
