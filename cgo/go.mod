module github.com/thinkbank/libaiw/cgo

go 1.19

require google.golang.org/protobuf v1.28.1

// Debian's golang-google-protobuf-dev (make deps installs it); nothing is
// downloaded. A program that imports this module repeats this line in its
// own go.mod (a replace only counts in the main module).
replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
