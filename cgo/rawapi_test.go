package aiworker

import (
	"context"
	"io"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Invoke and NewStream: any method path through the raw-message interface.
func TestInvokeAndNewStream(t *testing.T) {
	c := dial(t)
	defer c.Close()
	ctx := context.Background()
	resp := &EmbeddingResponse{}
	if err := c.Invoke(ctx, "/ai_service.AiWorker/GetEmbedding", embedText("raw"), resp); err != nil ||
		!sameVector(t, "semantic", resp.SemanticVector, refVector([]byte("raw"), false)) {
		t.Fatalf("Invoke GetEmbedding: %v", err)
	}
	// Health's messages have the wire form of StringValue / Int32Value.
	st := &wrapperspb.Int32Value{}
	if err := c.Invoke(ctx, "/grpc.health.v1.Health/Check", wrapperspb.String(""), st); err != nil || st.Value != 1 {
		t.Fatalf("Invoke Health/Check: %v %v", st, err)
	}
	if err := c.Invoke(ctx, "/ai_service.AiWorker/Nope", embedText("x"), resp); CodeOf(err) != Unimplemented {
		t.Fatalf("unknown method: %v", err)
	}
	if err := c.Invoke(ctx, "no-slash", embedText("x"), resp); CodeOf(err) != InvalidArgument {
		t.Fatalf("bad path: %v", err)
	}
	if err := c.Invoke(ctx, "/a/b", nil, resp); CodeOf(err) != InvalidArgument {
		t.Fatalf("nil request: %v", err)
	}
	s, err := c.NewStream(ctx, "/ai_service.AiWorker/ChatStream", &ChatRequest{Query: "!count:3"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		m := &ChatResponse{}
		err := s.RecvMsg(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Chunk != []string{"chunk-0 ", "chunk-1 ", "chunk-2 "}[n] {
			t.Fatalf("message %d: %q", n, m.Chunk)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d messages, want 3", n)
	}
	if _, err := c.NewStream(ctx, "/x\x00/y", &ChatRequest{}); CodeOf(err) != InvalidArgument {
		t.Fatalf("NUL in path: %v", err)
	}
}
