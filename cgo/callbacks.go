package aiworker

// The //export functions live here alone: a file with //export may have only
// declarations in its preamble.

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// aiwgoChatChunk is called by aiwgo.c once per chat message, on the thread
// (and goroutine) that called aiwgo_chat_stream, with the message flattened
// into data[0..n), valid during the call. It returns non-zero to stop the
// stream: when the user's function returns an error or panics (the panic is
// recovered here, never unwinds through C, and is re-raised by
// ChatStreamFunc once C has returned).
//
//export aiwgoChatChunk
func aiwgoChatChunk(handle C.uintptr_t, data *C.char, n C.size_t) (rc C.int) {
	st := cgo.Handle(handle).Value().(*streamState)
	defer func() {
		if p := recover(); p != nil {
			st.panicked = true
			st.panicVal = p
			rc = 1
		}
	}()
	msg := parseChat(unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
	if err := st.f(msg); err != nil {
		st.err = err
		return 1
	}
	return 0
}
