package aiworker

// Defects found under bad input (issue 10) on the Go side: strings with NUL
// bytes in responses arrive whole; a ServiceError carries the service's
// whole text, however long, and every message is valid UTF-8.

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestNULInResponseStrings(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	s, err := c.VectorSearch(ctx, &SearchRequest{Query: "!nul"})
	if CodeOf(err) != ServiceError || err.(*Error).Message != "error\x00after NUL" {
		t.Fatalf("error %q", err)
	}
	r := s.GetResults()[0]
	if r.AssetId != "nul\x00id" || r.Caption != "cap\x00tion" || r.Metadata["k\x00ey"] != "v\x00alue" {
		t.Fatalf("result %q %q %q", r.AssetId, r.Caption, r.Metadata)
	}
	var chunks []string
	err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "!nul"}, func(m *ChatResponse) error {
		chunks = append(chunks, m.Chunk)
		return nil
	})
	if err != nil || len(chunks) != 2 || chunks[0] != "before\x00after " || chunks[1] != "second\x00chunk" {
		t.Fatalf("chunks %q, %v", chunks, err)
	}
	// And a NUL in a request string is sent, not refused (proto3 allows it).
	e, err := c.VectorSearch(ctx, &SearchRequest{Query: "!echo", Filters: []string{"a\x00b"}})
	if err != nil || e.Results[0].Metadata["filters"] != "a\x00b" {
		t.Fatalf("echoed filters %q, %v", e.GetResults(), err)
	}
}

func TestLongServiceErrorKeepsItsText(t *testing.T) {
	c := dial(t)
	long := strings.Repeat("é☺😈", 200) // 1,800 bytes, far past C's 512-byte buffer
	_, err := c.GetEmbedding(context.Background(), text("!fail:"+long))
	var e *Error
	if !errors.As(err, &e) || e.Code != ServiceError || e.Message != long {
		t.Fatalf("got %d bytes, want the whole %d", len(e.Message), len(long))
	}
	// A status message longer than C's buffer is cut at a character.
	_, err = c.GetEmbedding(context.Background(), text("!error:UNKNOWN:"+long))
	if !errors.As(err, &e) || e.Code != Unknown || !utf8.ValidString(e.Message) || !strings.HasPrefix(long, e.Message) {
		t.Fatalf("status message %q is not a valid prefix", e.Message)
	}
}

// Found in review: ChatStream.Close threw away a message that had arrived
// unread, and the stream then ended io.EOF.
func TestStreamCloseWithUnreadMessageIsNoCleanEnd(t *testing.T) {
	c := dial(t)
	for i := 0; i < 20; i++ {
		s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "!count:1"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the message arrives, the stream ends OK in C
		s.Close()
		if _, err := s.Recv(); err == io.EOF || CodeOf(err) != Canceled {
			t.Fatalf("run %d: Recv after Close with the message unread: %v, want Canceled", i, err)
		}
	}
}

// Found in review: after a message that could not be decoded, the next
// good message was returned as a success (a gap with no error).
func TestNothingAfterAnUndecodableMessage(t *testing.T) {
	c := dial(t)
	for i := 0; i < 50; i++ {
		s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "!garbage-mid"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Recv()
		if err != nil || m.Chunk != "before garbage " {
			t.Fatalf("first message: %v %v", m, err)
		}
		time.Sleep(time.Duration(i%3) * time.Millisecond) // vary whether the poller copies ahead
		m, err = s.Recv()
		if err == nil {
			t.Fatalf("run %d: got %q after the undecodable message, want its error", i, m.Chunk)
		}
		if CodeOf(err) != Internal || !strings.Contains(err.Error(), "could not decode") {
			t.Fatalf("run %d: %v, want Internal 'could not decode'", i, err)
		}
	}
}

// Found in review: Trailer() waited for a Recv running in another goroutine.
func TestTrailerDoesNotWaitForRecv(t *testing.T) {
	c := dial(t)
	s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "!slow:1500"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go s.Recv()
	time.Sleep(50 * time.Millisecond)
	done := make(chan Metadata, 1)
	go func() { done <- s.Trailer() }()
	select {
	case md := <-done:
		if md != nil {
			t.Fatalf("trailer before the end: %v", md)
		}
	case <-time.After(time.Second):
		t.Fatal("Trailer() blocked behind a Recv")
	}
}
