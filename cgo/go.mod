module github.com/thinkbank/libaiw/cgo

go 1.19
