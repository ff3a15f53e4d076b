package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// handleChat answers POST /api/v1/ai/chat with text/event-stream:
//
//	data: {"chunk":"..."}                                   one per message, flushed
//	data: {"chunk":"...","is_final":true,"sources":[...]}   the final message
//	data: [DONE]                                            the end
//	: ping                                                  heartbeat while idle
//	event: error
//	data: {"code":"INTERNAL","message":"..."}               a failure after the stream began
//
// A failure before anything was sent (bad body, service unavailable, an
// error status before the first message) is an ordinary JSON error with the
// code's HTTP status. Beyond Config.MaxChats open chats a new one is 503
// UNAVAILABLE with Retry-After: 1. When the browser goes away the request
// context ends, which cancels the gRPC stream at once, and the access log
// says 499. Floats that are not finite are written as "NaN", "Infinity" and
// "-Infinity"; a message that cannot be encoded at all becomes an error
// event (INTERNAL), which ends the stream.
func (s *server) handleChat(w http.ResponseWriter, r *http.Request) {
	serveChat(s, w, r, (*chatRequestJSON).toRequest, true)
}

// serveChat answers a chat route: the request read as B and converted by
// toRequest, then ChatStream, streamed as text/event-stream (sse) or
// collected into one JSON answer (ThinkBank's /api/v1/chat without
// Accept: text/event-stream).
func serveChat[B any](s *server, w http.ResponseWriter, r *http.Request,
	toRequest func(*B) (*aiworker.ChatRequest, string), sse bool) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	// The chat counts against -max-chats from here until the handler
	// returns (the RPC is over by then, see the deferred clean-up below).
	// Over the limit the chat is refused at once, before its body is read.
	if !s.chats.tryAcquire() {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE",
			fmt.Sprintf("too many concurrent chats (limit %d)", cap(s.chats)))
		return
	}
	defer s.chats.release()

	req, ok := readRequest(s, w, r, toRequest)
	if !ok {
		return
	}
	var flusher http.Flusher
	if sse {
		if flusher, ok = w.(http.Flusher); !ok {
			writeError(w, http.StatusInternalServerError, "INTERNAL", "streaming not supported by this server")
			return
		}
	}

	var ctx context.Context
	var cancel context.CancelFunc
	if s.cfg.ChatTimeout > 0 {
		ctx, cancel = context.WithTimeout(outgoing(r.Context()), s.cfg.ChatTimeout)
	} else {
		ctx, cancel = context.WithCancel(outgoing(r.Context()))
	}
	defer cancel()

	stream, err := s.client.ChatStream(ctx, req)
	if err != nil {
		writeCallError(w, err)
		return
	}
	if sse {
		s.streamChat(w, r, ctx, cancel, stream, flusher)
	} else {
		s.collectChat(w, r, ctx, stream)
	}
}

// streamChat writes the stream's messages as Server-Sent Events (see
// handleChat) until it ends, fails, or the browser goes away.
func (s *server) streamChat(w http.ResponseWriter, r *http.Request, ctx context.Context, cancel context.CancelFunc,
	stream *aiworker.ChatStream, flusher http.Flusher) {
	// One goroutine receives; this one writes (a ResponseWriter is not safe
	// for concurrent use) and interleaves heartbeats. The channel is
	// unbuffered, so a slow browser slows the stream down (backpressure).
	type received struct {
		msg *aiworker.ChatResponse
		err error
	}
	msgs := make(chan received)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			m, err := stream.Recv()
			select {
			case msgs <- received{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	// Cancel first (ends a blocked Recv), wait for the receiver, then for the
	// call itself, so the RPC is over when the handler returns.
	defer func() {
		cancel()
		<-recvDone
		_ = stream.Close()
	}()

	started := false
	start := func() {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Connection", "keep-alive")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)
		started = true
	}
	// send writes one event and flushes it; false when the browser is gone
	// (then the access log says 499).
	send := func(frame []byte) bool {
		if !started {
			start()
		}
		if _, err := w.Write(frame); err != nil {
			clientClosed(w)
			return false
		}
		flusher.Flush()
		return true
	}
	fail := func(err error) {
		if !started {
			writeCallError(w, err)
			return
		}
		b, _ := json.Marshal(callErrorJSON(err))
		send(sseEvent("error", b))
	}

	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			clientClosed(w)
			return // the browser went away; the deferred cancel ends the RPC
		case <-ctx.Done():
			if r.Context().Err() != nil {
				clientClosed(w)
				return
			}
			fail(&aiworker.Error{Code: aiworker.DeadlineExceeded, Message: "chat deadline exceeded"})
			return
		case <-heartbeat.C:
			if !send([]byte(": ping\n\n")) {
				return
			}
		case rcv := <-msgs:
			if errors.Is(rcv.err, io.EOF) {
				send([]byte("data: [DONE]\n\n"))
				return
			}
			if rcv.err != nil {
				if r.Context().Err() != nil {
					clientClosed(w)
				} else {
					fail(rcv.err)
				}
				return
			}
			var frame []byte
			var ok bool
			if m := rcv.msg; m.IsFinal {
				frame, ok = dataEvent(chatFinalJSON{Chunk: m.Chunk, IsFinal: true, Sources: searchResultsFrom(m.Sources)})
			} else {
				frame, ok = dataEvent(chatChunkJSON{Chunk: m.Chunk})
			}
			if !send(frame) || !ok {
				return // the browser is gone, or the message could not be encoded
			}
		}
	}
}

// dataEvent frames v's JSON as a data event. If v cannot be encoded it
// returns an error event in its place (code INTERNAL, saying why) and
// false: the stream must then end, as after any error event. A message is
// never turned into an empty event or dropped silently.
func dataEvent(v interface{}) ([]byte, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		e, _ := json.Marshal(errorJSON{Code: "INTERNAL", Message: "encoding a chat message: " + err.Error()})
		return sseEvent("error", e), false
	}
	return sseEvent("", b), true
}

// sseEvent frames one event. JSON from encoding/json has no raw newlines,
// so one data line always suffices.
func sseEvent(name string, data []byte) []byte {
	out := make([]byte, 0, len(name)+len(data)+16)
	if name != "" {
		out = append(out, "event: "...)
		out = append(out, name...)
		out = append(out, '\n')
	}
	out = append(out, "data: "...)
	out = append(out, data...)
	return append(out, '\n', '\n')
}
