package aiworker

/*
#include <stdlib.h>
#include "aiwgo.h"
*/
import "C"

import (
	"context"
	"io"
	"strings"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/proto"
)

// Stream is a running server-streaming call read with RecvMsg, like a
// grpc-go client stream (ChatStream is AiWorker.ChatStream's, with a typed
// Recv; NewStream starts one of any method). It holds no goroutine and no OS thread: the
// client's poller delivers each message as it arrives, and libaiw reads the
// next one only once Recv has taken the previous one, so at most one
// message waits for the reader and a slow reader slows the server down
// (HTTP/2 flow control) instead of piling up memory.
//
// As in grpc-go, the caller must either read until Recv returns a non-nil
// error (io.EOF at the normal end), cancel the context, or call Close;
// otherwise the call stays open.
type Stream struct {
	c     *Client
	ctx   context.Context
	w     *waiter
	watch *watcher // nil when ctx can never be done

	recvMu sync.Mutex // one reader at a time (Recv, Close's drain)
	done   bool       // the RESULT was taken: err is final
	err    error

	mu        sync.Mutex // guards token against being recycled while cancelled
	token     *C.aiw_cancel_token
	closedBy  bool // Close ended it
	decode    error
	discarded bool // Close threw away a message (under recvMu)

	ci        callInfo
	peeked    *delivery // taken by Header before Recv wanted it
	gotHeader bool
	header    Metadata
	trailer   Metadata
}

// errStreamClosed is the error Recv returns after Close.
var errStreamClosed = &Error{Code: Canceled, Message: "aiworker: stream closed"}

// ChatStream is a running AiWorker.ChatStream call: Recv returns its
// messages; RecvMsg, Header, Trailer, Close and Context are its
// ClientStream's (a *Stream, or what the client's stream interceptors
// made of it).
type ChatStream struct{ ClientStream }

// ChatStream starts AiWorker.ChatStream. Errors found before the call starts
// (nil request, closed client, context already done) are returned here;
// everything else by Recv.
func (c *Client) ChatStream(ctx context.Context, req *ChatRequest, opts ...CallOption) (*ChatStream, error) {
	if req == nil {
		return nil, nilRequest("ChatRequest")
	}
	if req.Query == "" {
		return nil, Errorf(InvalidArgument, "ChatRequest.query is required")
	}
	s, err := c.openStream(ctx, pathChatStream, methodChatStream, req, opts)
	if err != nil {
		return nil, err
	}
	return &ChatStream{s}, nil
}

// openStream starts a stream through the client's stream interceptors.
func (c *Client) openStream(ctx context.Context, path *C.char, method string, req proto.Message,
	opts []CallOption) (ClientStream, error) {
	if c.stream != nil {
		return c.intercepted(ctx, method, req, opts)
	}
	s, err := c.newStream(ctx, path, method, req, opts)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

// streamFinal is the streamer at the end of a chain of interceptors.
func streamFinal(ctx context.Context, method string, req proto.Message, c *Client, opts ...CallOption) (ClientStream, error) {
	path := knownPath(method)
	if path == nil {
		if strings.IndexByte(method, 0) >= 0 {
			return nil, Errorf(InvalidArgument, "aiworker: method %q contains a NUL byte", method)
		}
		path = C.CString(method)
		defer C.free(unsafe.Pointer(path))
	}
	s, err := c.newStream(ctx, path, method, req, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Recv returns the next ChatResponse; io.EOF after the last one; otherwise
// the stream's error, as RecvMsg.
func (s *ChatStream) Recv() (*ChatResponse, error) {
	m := new(ChatResponse)
	if err := s.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// NewStream starts a server-streaming call of any method of any service on
// the channel, named by its gRPC path ("/pkg.Service/Method"), with req as
// its one request: the raw-message interface with the protobuf runtime as
// codec (no in-band success check). Read it with RecvMsg until io.EOF (the
// ClientStream is a *Stream unless stream interceptors wrapped it). Call
// options and errors as for every call.
func (c *Client) NewStream(ctx context.Context, method string, req proto.Message, opts ...CallOption) (ClientStream, error) {
	if req == nil {
		return nil, nilRequest("request")
	}
	if c.stream != nil {
		return c.intercepted(ctx, method, req, opts)
	}
	return streamFinal(ctx, method, req, c, opts...)
}

// intercepted starts a stream through the client's stream interceptors,
// which must give a stream or an error.
func (c *Client) intercepted(ctx context.Context, method string, req proto.Message, opts []CallOption) (ClientStream, error) {
	s, err := c.stream(ctx, method, req, c, streamFinal, opts...)
	if err == nil && s == nil {
		return nil, Errorf(Internal, "aiworker: a stream interceptor returned neither a stream nor an error")
	}
	return s, err
}

// newStream starts a stream of `method` (path: the same as a C string).
func (c *Client) newStream(ctx context.Context, path *C.char, method string, req proto.Message,
	opts []CallOption) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	timeout, err := c.timeoutMS(ctx, false)
	if err != nil {
		return nil, err
	}
	ci := callInfoOf(opts)
	b := getBuf()
	defer putBuf(b)
	if err := b.prepare(ctx, c, method, req, &ci); err != nil {
		return nil, err
	}
	token, err := getToken()
	if err != nil {
		return nil, err
	}
	w := newWaiter()
	w.stream = true
	w.wantPeer = ci.peer != nil
	tag, ok := c.register(w, false)
	if !ok {
		putToken(token)
		return nil, ErrClientClosed
	}
	if rc := c.start(b, tag, path, true, token, timeout, &ci); rc != C.AIW_OK {
		c.unregister(tag)
		putToken(token)
		return nil, c.callError(ctx, rc, errMessage(b.err), false)
	}
	s := &Stream{c: c, ctx: ctx, w: w, token: token, ci: ci}
	if done := ctx.Done(); done != nil {
		s.watch = startWatch(done, c.closeDone, token)
	}
	return s, nil
}

// RecvMsg reads the next message into m; io.EOF after the last one;
// otherwise the stream's error (an *Error; after a context cancel or deadline also
// errors.Is(err, context.Canceled / context.DeadlineExceeded)). A stream
// that was cancelled or closed before its last message was read ends with
// an error, never io.EOF. Recv must not be called from several goroutines
// at once (as in grpc-go).
func (s *Stream) RecvMsg(m proto.Message) error {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	for {
		d, ok := s.nextMessage()
		if !ok {
			break
		}
		if s.decode != nil { // after a message that could not be decoded: none is returned
			s.release(&d)
			continue
		}
		var err error
		if d.ev.completion == nil { // copied by the poller, which let the stream read on
			if err = proto.Unmarshal(d.data, m); err != nil {
				err = decodeError(len(d.data), m)
			}
		} else {
			err = unmarshalC(d.ev.data, d.ev.len, m)
		}
		if err != nil {
			s.cancel(func() { s.decode = err })
		}
		s.release(&d)
		if err == nil {
			return nil
		}
	}
	return s.err
}

// release frees a delivered message's completion if it came with one:
// that is what lets libaiw read the next message (or, after a cancel, end
// the call).
func (s *Stream) release(d *delivery) {
	if d.ev.completion != nil {
		cgoEnter()
		C.aiw_completion_free(d.ev.completion)
		cgoLeave()
		d.ev.completion = nil
	}
}

// next is the stream's next event (the one Header peeked at first). A
// message's headers are kept. Under recvMu.
func (s *Stream) next() delivery {
	var d delivery
	if s.peeked != nil {
		d, s.peeked = *s.peeked, nil
	} else {
		d = <-s.w.ch
	}
	if d.ev.is_message != 0 && !s.gotHeader {
		s.gotHeader = true
		if d.ev.completion != nil {
			s.header = readMetadata(d.ev.completion, false, d.ev.n_headers)
		} else {
			s.header = d.header
		}
		if s.ci.header != nil {
			*s.ci.header = s.header
		}
	}
	return d
}

// Header returns the response headers, waiting for them if need be (until
// the first message or the end of the stream), as grpc-go's
// ClientStream.Header. An error when the stream failed before any header.
func (s *Stream) Header() (Metadata, error) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if !s.gotHeader && !s.done && s.peeked == nil {
		d := s.next()
		if d.ev.completion != nil && d.ev.is_message != 0 {
			// Kept aside, the message must not hold its completion: Close
			// could not free it, and the stream could not read on.
			d.data = C.GoBytes(unsafe.Pointer(d.ev.data), C.int(d.ev.len))
			cgoEnter()
			C.aiw_completion_free(d.ev.completion)
			cgoLeave()
			d.ev.completion, d.ev.data = nil, nil
		}
		s.peeked = &d
		if d.ev.is_message == 0 {
			s.gotHeader = true
			s.header = s.w.endHeader
			if d.ev.code != C.AIW_OK && s.header == nil {
				s.finish(&d.ev)
				s.peeked = nil
				return nil, s.err
			}
		}
	}
	if !s.gotHeader && s.done && s.err != io.EOF {
		return nil, s.err
	}
	return s.header, nil
}

// Trailer returns the response trailers once Recv has returned an error
// (io.EOF included); nil before, as grpc-go's ClientStream.Trailer.
func (s *Stream) Trailer() Metadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trailer
}

// cancel cancels the call (once its token is still the call's) after
// running note under s.mu.
func (s *Stream) cancel(note func()) {
	s.mu.Lock()
	note()
	if s.token != nil {
		C.aiw_cancel_token_cancel(s.token)
	}
	s.mu.Unlock()
}

// finish takes the stream's RESULT: its error, and the token back to the pool.
func (s *Stream) finish(ev *C.aiwgo_event) {
	s.watch.end() // no watcher touches the token any more
	s.mu.Lock()
	token := s.token
	s.token = nil
	closedBy, decode := s.closedBy, s.decode
	s.mu.Unlock()
	C.aiw_cancel_token_reset(token) // pooled tokens are clean
	putToken(token)
	s.done = true
	if !s.gotHeader {
		s.gotHeader = true
		s.header = s.w.endHeader
	}
	s.mu.Lock()
	s.trailer = s.w.endTrailer
	s.mu.Unlock()
	if s.ci.header != nil {
		*s.ci.header = s.header
	}
	if s.ci.trailer != nil {
		*s.ci.trailer = s.trailer
	}
	if s.ci.peer != nil {
		*s.ci.peer = s.w.endPeer
	}
	rc := C.aiw_code(ev.code)
	switch {
	case decode != nil:
		s.err = decode
	case rc == C.AIW_OK && s.discarded:
		s.err = errStreamClosed
	case rc == C.AIW_OK && s.c.droppedBy(s.w):
		// Close threw away a message this reader never saw: the stream did
		// not deliver everything, whatever the server said.
		s.err = ErrClientClosed
	case rc == C.AIW_OK:
		s.err = io.EOF
	case closedBy && rc == C.AIW_CANCELLED && s.ctx.Err() == nil:
		s.err = errStreamClosed
	default:
		s.err = s.c.callError(s.ctx, rc, s.w.endMsg, ev.deadline_expired != 0)
		if e, ok := s.err.(*Error); ok && e != ErrClientClosed {
			e.details = s.w.endDetails
		}
	}
}

// Context returns the stream's context.
func (s *Stream) Context() context.Context { return s.ctx }

// Close cancels the stream if it is still running and waits until it has
// ended. Idempotent, any goroutine; later Recv calls return the stream's
// final error (Canceled "aiworker: stream closed" if Close ended it).
// Always nil.
func (s *Stream) Close() error {
	s.cancel(func() { s.closedBy = true })
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	for {
		d, ok := s.nextMessage()
		if !ok {
			return nil
		}
		s.discarded = true // a message nobody will read: the end cannot be io.EOF
		s.release(&d)
	}
}

// nextMessage is the stream's next message; false once the stream has
// ended (its RESULT taken by finish, now or before). Under recvMu.
func (s *Stream) nextMessage() (delivery, bool) {
	if s.done {
		return delivery{}, false
	}
	d := s.next()
	if d.ev.is_message == 0 {
		s.finish(&d.ev)
		return delivery{}, false
	}
	return d, true
}

// ChatStreamFunc calls AiWorker.ChatStream and calls f with each message, in
// order, as it arrives. It returns nil after the last message, the stream's
// error, or -- when f returns a non-nil error -- f's error itself (the
// stream is cancelled first). Messages are not buffered: a slow f slows the
// stream down (gRPC flow control).
//
// f runs on the goroutine that called ChatStreamFunc, outside any C call:
// it may start other calls through the same client. If f panics (or calls
// runtime.Goexit), the stream is cancelled and the panic goes on unchanged,
// with its original stack.
func (c *Client) ChatStreamFunc(ctx context.Context, req *ChatRequest, f func(*ChatResponse) error,
	opts ...CallOption) error {
	if f == nil {
		return Errorf(InvalidArgument, "aiworker: nil ChatStreamFunc function")
	}
	s, err := c.ChatStream(ctx, req, opts...)
	if err != nil {
		return err
	}
	returned := false
	defer func() {
		if !returned { // f panicked or called Goexit
			s.Close()
		}
	}()
	for {
		m, err := s.Recv()
		if err == io.EOF {
			returned = true
			return nil
		}
		if err != nil {
			returned = true
			return err
		}
		if ferr := f(m); ferr != nil {
			returned = true
			s.Close()
			return ferr
		}
	}
}

// watcher cancels a stream's token when its context is done.
type watcher struct {
	stop chan struct{}
	left chan struct{}
}

// It leaves when the stream ends (end) or its client is closed (Close
// cancelled the stream already), so an abandoned stream does not keep it.
func startWatch(done, clientClosed <-chan struct{}, token *C.aiw_cancel_token) *watcher {
	w := &watcher{stop: make(chan struct{}), left: make(chan struct{})}
	go func() {
		defer close(w.left)
		select {
		case <-done:
			C.aiw_cancel_token_cancel(token)
		case <-w.stop:
		case <-clientClosed:
		}
	}()
	return w
}

// end stops the watcher and waits until it has left.
func (w *watcher) end() {
	if w == nil {
		return
	}
	close(w.stop)
	<-w.left
}
