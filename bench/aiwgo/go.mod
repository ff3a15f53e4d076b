module github.com/thinkbank/libaiw/bench/aiwgo

go 1.19

require github.com/thinkbank/libaiw/cgo v0.0.0

replace github.com/thinkbank/libaiw/cgo => ../../cgo
