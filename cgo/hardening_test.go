package aiworker

// Defects found under bad input (issue 10) on the Go side: strings with NUL
// bytes in responses arrive whole; a ServiceError carries the service's
// whole text, however long, and every message is valid UTF-8.

import (
	"context"
	"errors"
	"strings"
	"testing"
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
