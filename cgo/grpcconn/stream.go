package grpcconn

import (
	"context"
	"sync"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// clientStream is a server-streaming call as grpc.ClientStream: SendMsg
// takes the one request, CloseSend starts the call on libaiw (or the first
// RecvMsg / Header does, when CloseSend was not called), RecvMsg reads it
// (an aiworker.Stream: no goroutine of its own, flow-controlled).
//
// As with grpc-go, RecvMsg must not be called from several goroutines at
// once, SendMsg and CloseSend belong to one goroutine too, and the caller
// reads until RecvMsg returns an error, cancels the context, or the stream
// stays open (Close on the Conn ends it).
type clientStream struct {
	conn   *Conn
	ctx    context.Context
	method string
	ci     callInfo

	mu      sync.Mutex // start: Header may race RecvMsg in grpc-go programs
	req     proto.Message
	sent    bool // SendMsg took the request
	started bool
	s       aiworker.ClientStream // nil until started, and when the start failed
	err     error                 // the start's error (a status error)
	ended   bool                  // RecvMsg returned an error: results are in
}

// SendMsg takes the request. It is serialized when the call starts (at
// CloseSend, straight after it in generated code); grpc-go serializes it
// here. A second request fails with codes.Internal, as in grpc-go.
func (s *clientStream) SendMsg(m interface{}) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent || s.started {
		return status.Error(codes.Internal, "SendMsg called after CloseSend")
	}
	req, err := messageOf(m, "marshaling")
	if err != nil {
		return err
	}
	if err := s.ci.checkSend(req); err != nil {
		return err
	}
	s.req, s.sent = req, true
	return nil
}

// CloseSend starts the call. As grpc-go's, it returns nil: a failure to
// start is what RecvMsg and Header return.
func (s *clientStream) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startLocked()
	return nil
}

func (s *clientStream) startLocked() {
	if s.started {
		return
	}
	s.started = true
	if !s.sent {
		s.err = status.Errorf(codes.Internal, "grpcconn: %s: the stream was started without a request (SendMsg)", s.method)
		return
	}
	st, err := s.conn.c.NewStream(withOutgoing(s.ctx), s.method, s.req, s.ci.aiw...)
	s.req = nil
	if err != nil {
		s.err = toStatus(err)
		return
	}
	s.s = st
}

// stream returns the running aiworker stream (starting it if need be), or
// the error that kept it from starting.
func (s *clientStream) stream() (aiworker.ClientStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startLocked()
	return s.s, s.err
}

// RecvMsg reads the next message into m; io.EOF after the last one;
// otherwise a status error, the same one again on later calls.
func (s *clientStream) RecvMsg(m interface{}) error {
	st, err := s.stream()
	if err != nil {
		s.end()
		return err
	}
	msg, err := messageOf(m, "unmarshaling")
	if err != nil {
		return err
	}
	if err := st.RecvMsg(msg); err != nil {
		s.end()
		return toStatus(err)
	}
	return nil
}

// end records that the call is over: the Header, Trailer and Peer call
// options get their final values, as grpc-go sets them.
func (s *clientStream) end() {
	s.mu.Lock()
	first := !s.ended
	s.ended = true
	s.mu.Unlock()
	if first {
		s.ci.after()
	}
}

// Header returns the response headers, waiting for them if need be (until
// the first message or the end of the call). As grpc-go documents it (and
// grpc-go 1.33 does), a call that ended without headers -- a trailers-only
// answer (an error status before any message), a deadline or a cancel --
// gives nil, nil, and RecvMsg returns the status.
func (s *clientStream) Header() (metadata.MD, error) {
	st, err := s.stream()
	if err != nil {
		return nil, err
	}
	md, err := st.Header()
	if err != nil {
		return nil, nil
	}
	if md == nil {
		return metadata.MD{}, nil
	}
	return metadata.MD(md), nil
}

// Trailer returns the response trailers once RecvMsg has returned an error
// (io.EOF included); before that an empty MD, as grpc-go's.
func (s *clientStream) Trailer() metadata.MD {
	s.mu.Lock()
	st, ended := s.s, s.ended
	s.mu.Unlock()
	if !ended || st == nil {
		return metadata.MD{}
	}
	if md := st.Trailer(); md != nil {
		return metadata.MD(md)
	}
	return metadata.MD{}
}

// Context returns the stream's context.
func (s *clientStream) Context() context.Context { return s.ctx }
