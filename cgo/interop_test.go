package aiworker

// The interop cases: gRPC's interop test descriptions
// (doc/interop-test-descriptions.md in grpc/grpc) adapted to AiWorker and
// the reference service, one subtest each. The C half is suite "interop" of
// tests/check/check_interop.c. Soak counts are small here (AIW_SOAK_CALLS
// raises them).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

func text(s string) *EmbeddingRequest {
	return &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: s}}
}

func soakCalls(def int) int {
	if n, err := strconv.Atoi(os.Getenv("AIW_SOAK_CALLS")); err == nil && n > 0 {
		return n
	}
	return def
}

func TestInterop(t *testing.T) {
	c := dial(t)
	ctx := context.Background()

	t.Run("empty_unary", func(t *testing.T) {
		// An empty response message (zero bytes on the wire) through the
		// raw path, decoded as the empty message.
		resp := new(EmbeddingResponse)
		if err := c.invokeMethod(ctx, "/ai_service.AiWorker/GetEmbedding", text("!empty"), resp); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(resp, &EmbeddingResponse{}) {
			t.Fatalf("got %v, want the empty message", resp)
		}
	})

	t.Run("large_unary", func(t *testing.T) {
		img := bytes.Repeat([]byte{0}, 271828) // interop's request size, all zero bytes
		r, err := c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Image{
			Image: &ImageData{Data: img, Format: "png"}}, Type: EmbeddingType_EMBEDDING_VISUAL})
		if err != nil || len(r.GetVisualVector()) != 1152 {
			t.Fatalf("large request: %v, %d floats", err, len(r.GetVisualVector()))
		}
		s, err := c.VectorSearch(ctx, &SearchRequest{Query: "!big:314159"}) // interop's response size
		if err != nil || len(s.GetResults()) != 1 || len(s.Results[0].Caption) != 314159 {
			t.Fatalf("large response: %v", err)
		}
	})

	t.Run("server_streaming", func(t *testing.T) {
		sizes := []int{31415, 9, 2653, 58979}
		s, err := c.ChatStream(ctx, &ChatRequest{Query: "!sizes:31415,9,2653,58979"})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range sizes {
			m, err := s.Recv()
			if err != nil || len(m.Chunk) != want || strings.Trim(m.Chunk, "x") != "" {
				t.Fatalf("message %d: %v (want %d x)", i, err, want)
			}
		}
		if _, err := s.Recv(); err != io.EOF {
			t.Fatalf("after the last message: %v, want io.EOF", err)
		}
	})

	t.Run("custom_metadata", func(t *testing.T) {
		const initial = "test_initial_metadata_value"
		trailing := string([]byte{0x0a, 0x0b, 0x0a, 0x0b, 0x0a, 0x0b})
		mctx := AppendToOutgoingContext(ctx, "x-grpc-test-echo-initial", initial,
			"x-grpc-test-echo-trailing-bin", trailing)
		var h, tr Metadata
		if _, err := c.GetEmbedding(mctx, text("hello"), Header(&h), Trailer(&tr)); err != nil {
			t.Fatal(err)
		}
		if got := h.Get("x-grpc-test-echo-initial"); len(got) != 1 || got[0] != initial {
			t.Errorf("unary header: %q", got)
		}
		if got := tr.Get("x-grpc-test-echo-trailing-bin"); len(got) != 1 || got[0] != trailing {
			t.Errorf("unary trailer: %q", got)
		}
		s, err := c.ChatStream(mctx, &ChatRequest{Query: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		sh, err := s.Header()
		if err != nil || len(sh.Get("x-grpc-test-echo-initial")) != 1 || sh.Get("x-grpc-test-echo-initial")[0] != initial {
			t.Errorf("stream header: %v %q", err, sh)
		}
		for {
			if _, err := s.Recv(); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				break
			}
		}
		if got := s.Trailer().Get("x-grpc-test-echo-trailing-bin"); len(got) != 1 || got[0] != trailing {
			t.Errorf("stream trailer: %q", got)
		}
		// Also on a status error, as the interop server does.
		var h2, tr2 Metadata
		_, err = c.GetEmbedding(mctx, text("!error:NOT_FOUND:gone"), Header(&h2), Trailer(&tr2))
		if CodeOf(err) != NotFound || len(tr2.Get("x-grpc-test-echo-trailing-bin")) != 1 {
			t.Errorf("error call: %v, trailer %q", err, tr2)
		}
	})

	t.Run("status_code_and_message", func(t *testing.T) {
		_, err := c.GetEmbedding(ctx, text("!error:UNKNOWN:test status message"))
		var e *Error
		if !errors.As(err, &e) || e.Code != Unknown || e.Message != "test status message" {
			t.Fatalf("unary: %v", err)
		}
		err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "!error:UNKNOWN:test status message"},
			func(*ChatResponse) error { return nil })
		if !errors.As(err, &e) || e.Code != Unknown || e.Message != "test status message" {
			t.Fatalf("stream: %v", err)
		}
	})

	t.Run("special_status_message", func(t *testing.T) {
		const msg = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
		_, err := c.GetEmbedding(ctx, text("!error:UNKNOWN:"+msg))
		var e *Error
		if !errors.As(err, &e) || e.Code != Unknown || e.Message != msg {
			t.Fatalf("got %#v, want the message kept exactly", err)
		}
	})

	t.Run("unimplemented_method", func(t *testing.T) {
		err := c.invokeMethod(ctx, "/ai_service.AiWorker/NoSuchMethod", text("x"), new(EmbeddingResponse))
		if CodeOf(err) != Unimplemented {
			t.Fatalf("got %v, want Unimplemented", err)
		}
	})

	t.Run("unimplemented_service", func(t *testing.T) {
		err := c.invokeMethod(ctx, "/grpc.testing.UnimplementedService/UnimplementedCall", text("x"),
			new(EmbeddingResponse))
		if CodeOf(err) != Unimplemented {
			t.Fatalf("got %v, want Unimplemented", err)
		}
	})

	t.Run("cancel_after_begin", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		s, err := c.ChatStream(cctx, &ChatRequest{Query: "!slow:200"})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = s.Recv()
		if CodeOf(err) != Canceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want Canceled from the context", err)
		}
	})

	t.Run("cancel_after_first_response", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		s, err := c.ChatStream(cctx, &ChatRequest{Query: "!slow:100"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		for {
			_, err = s.Recv()
			if err != nil {
				break
			}
		}
		if CodeOf(err) != Canceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want Canceled (never io.EOF)", err)
		}
	})

	t.Run("timeout_on_sleeping_server", func(t *testing.T) {
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.ChatStreamFunc(tctx, &ChatRequest{Query: "!slow:2000"}, func(*ChatResponse) error { return nil })
		if CodeOf(err) != DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want DeadlineExceeded from the context", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	})

	t.Run("concurrent_large_unary", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					s, err := c.VectorSearch(ctx, &SearchRequest{Query: "!big:314159"})
					if err != nil || len(s.Results[0].Caption) != 314159 {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("a call failed: %v", err)
		}
	})

	t.Run("rpc_soak", func(t *testing.T) {
		n := soakCalls(200)
		for i := 0; i < n; i++ {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r, err := c.GetEmbedding(cctx, text("soak "+strconv.Itoa(i)))
			cancel()
			if err != nil || len(r.SemanticVector) != 1024 {
				t.Fatalf("call %d of %d: %v", i, n, err)
			}
		}
	})

	t.Run("channel_soak", func(t *testing.T) {
		n := soakCalls(200) / 10
		for i := 0; i < n; i++ {
			cc, err := Dial(target)
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = cc.GetEmbedding(cctx, text("channel soak"))
			cancel()
			cc.Close()
			if err != nil {
				t.Fatalf("client %d of %d: %v", i, n, err)
			}
		}
	})
}
