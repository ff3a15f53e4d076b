package aiworker

/*
#include "aiwgo.h"
*/
import "C"

import (
	"context"
	"errors"
	"io"
	"runtime/cgo"
	"sync"
	"sync/atomic"
)

// streamState is what the exported chunk callback reaches through its
// cgo.Handle; C holds only the handle's integer.
type streamState struct {
	f        func(*ChatResponse) error
	err      error       // the error f returned
	panicked bool        // f panicked with panicVal
	panicVal interface{} // re-raised after C returns
}

// ChatStreamFunc calls AiWorker.ChatStream and calls f with each message, in
// order, as it arrives. It returns nil after the last message, the stream's
// error, or -- when f returns a non-nil error -- f's error itself (the
// stream is cancelled first). Messages are not buffered: a slow f slows the
// stream down (gRPC flow control), no memory piles up.
//
// f runs on the goroutine that called ChatStreamFunc, inside the C call: it
// must not start calls through any Client (they fail with
// FailedPrecondition; use ChatStream for that) and must not call
// runtime.Goexit (so not t.FailNow either). If f panics, the stream is
// cancelled and the panic is re-raised by ChatStreamFunc once C has returned.
func (c *Client) ChatStreamFunc(ctx context.Context, req *ChatRequest, f func(*ChatResponse) error) error {
	if req == nil {
		return nilRequest("ChatRequest")
	}
	if f == nil {
		return Errorf(InvalidArgument, "aiworker: nil ChatStreamFunc function")
	}
	b := getBuf()
	st := &streamState{f: f}
	err := c.chatStream(ctx, b, req, st)
	putBuf(b)
	if st.panicked {
		panic(st.panicVal)
	}
	return err
}

func (c *Client) chatStream(ctx context.Context, b *callBuf, req *ChatRequest, st *streamState) error {
	r := &b.cs.chat
	*r = C.aiwgo_chat_req{}
	b.metadata(ctx, &r.call)
	r.query = b.str("ChatRequest.Query", req.Query)
	for _, h := range req.History {
		if h == nil {
			return Errorf(InvalidArgument, "aiworker: nil ChatMessage in ChatRequest.History")
		}
		b.items = append(b.items, C.aiwgo_item{
			a: b.str("ChatMessage.Role", h.Role),
			b: b.str("ChatMessage.Content", h.Content),
			n: C.int64_t(h.Timestamp),
		})
	}
	r.history_count = C.uint32_t(len(req.History))
	if o := req.Options; o != nil {
		r.has_options = 1
		r.max_context_docs = C.int32_t(o.MaxContextDocs)
		r.similarity_threshold = C.float(o.SimilarityThreshold)
		r.include_images = cbool(o.IncludeImages)
		r.stream_response = cbool(o.StreamResponse)
	}
	if err := b.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	timeout, err := c.timeoutMS(ctx, false)
	if err != nil {
		return err
	}
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.calls.Done()
	w, err := watch(ctx)
	if err != nil {
		return err
	}
	if w != nil {
		r.call.token = w.token
	}
	r.call.timeout_ms = C.int64_t(timeout)
	if c.opts.waitForReady {
		r.call.wait_for_ready = 1
	}
	h := cgo.NewHandle(st)
	cs := b.cs
	creq, errp := &cs.chat, &cs.res.err
	rc := C.aiwgo_chat_stream(c.c, creq, b.arenaPtr(), b.itemsPtr(), C.uintptr_t(h), errp)
	h.Delete()
	w.end()
	switch {
	case rc == C.AIW_OK:
		return nil
	case rc == C.AIW_CALLBACK_ABORTED && st.panicked:
		return Errorf(Canceled, "aiworker: stream function panicked")
	case rc == C.AIW_CALLBACK_ABORTED && st.err != nil:
		return st.err
	case rc == C.AIW_CALLBACK_ABORTED:
		return Errorf(ResourceExhausted, "aiworker: out of memory flattening a chat chunk")
	}
	return c.callError(ctx, rc, &b.cs.res.err)
}

// ChatStream is a running AiWorker.ChatStream call read with Recv, like a
// grpc-go client stream.
//
// As in grpc-go, the caller must either read until Recv returns a non-nil
// error (io.EOF at the normal end), cancel the context, or call Close:
// otherwise the goroutine and the gRPC call behind the stream stay blocked
// waiting for the reader.
type ChatStream struct {
	ctx    context.Context
	cancel context.CancelFunc
	msgs   chan *ChatResponse
	done   chan struct{}
	err    error // valid once done is closed
	once   sync.Once
	// produced counts the messages C has handed to the stream (for tests:
	// with no buffering it is at most one more than Recv has returned).
	produced int64
}

// errStreamClosed is the error Recv returns after Close.
var errStreamClosed = &Error{Code: Canceled, Message: "aiworker: stream closed"}

// ChatStream starts AiWorker.ChatStream. Errors found before the call starts
// (nil request, closed client, context already done) are returned here;
// everything else by Recv. There is no buffering between the network and
// Recv: each message is handed over when Recv takes it.
func (c *Client) ChatStream(ctx context.Context, req *ChatRequest) (*ChatStream, error) {
	if req == nil {
		return nil, nilRequest("ChatRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClientClosed
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &ChatStream{ctx: sctx, cancel: cancel, msgs: make(chan *ChatResponse), done: make(chan struct{})}
	go s.run(ctx, c, req)
	return s, nil
}

func (s *ChatStream) run(parent context.Context, c *Client, req *ChatRequest) {
	defer close(s.done)
	err := c.ChatStreamFunc(s.ctx, req, func(m *ChatResponse) error {
		atomic.AddInt64(&s.produced, 1)
		select {
		case s.msgs <- m:
			return nil
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-c.closeStart: // Close must not wait for a reader that may never come
			return ErrClientClosed
		}
	})
	if err != nil && s.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		if perr := parent.Err(); perr != nil {
			err = ctxError(perr)
		} else {
			err = errStreamClosed
		}
	}
	s.err = err
	s.cancel()
}

// Recv returns the next message; io.EOF after the last one; otherwise the
// stream's error (an *Error; after a context cancel or deadline also
// errors.Is(err, context.Canceled / context.DeadlineExceeded)).
func (s *ChatStream) Recv() (*ChatResponse, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case <-s.done:
		if s.err == nil {
			return nil, io.EOF
		}
		return nil, s.err
	}
}

// Context returns the stream's context.
func (s *ChatStream) Context() context.Context { return s.ctx }

// Close cancels the stream if it is still running and waits until it has
// ended. Idempotent; later Recv calls return the stream's final error
// (Canceled "aiworker: stream closed" if Close ended it). Always nil.
func (s *ChatStream) Close() error {
	s.once.Do(s.cancel)
	<-s.done
	return nil
}
