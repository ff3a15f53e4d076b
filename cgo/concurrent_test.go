package aiworker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// 64 goroutines share one Client; every answer is checked against its own
// request, so crossed wires or shared buffers would show.
func TestConcurrent64(t *testing.T) {
	noLeak(t)
	c := dial(t)
	const goroutines, rounds = 64, 12
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			errs <- worker(c, g, rounds)
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func worker(c *Client, g, rounds int) error {
	for r := 0; r < rounds; r++ {
		ctx := context.Background()
		var cancel context.CancelFunc = func() {}
		if r%2 == 1 { // half the calls carry a deadline (cancel token + watcher)
			ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		}
		key := fmt.Sprintf("g%d-r%d", g, r)
		switch r % 4 {
		case 0, 1:
			text := "embed " + key
			typ := EmbeddingType_EMBEDDING_SEMANTIC
			if g%2 == 1 {
				typ = EmbeddingType_EMBEDDING_BOTH
			}
			resp, err := c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: text}, Type: typ})
			if err != nil {
				cancel()
				return fmt.Errorf("%s: %v", key, err)
			}
			if !equal(resp.SemanticVector, refVector([]byte(text), false)) {
				cancel()
				return fmt.Errorf("%s: semantic vector of another request", key)
			}
			if typ == EmbeddingType_EMBEDDING_BOTH && !equal(resp.VisualVector, refVector([]byte(text), true)) {
				cancel()
				return fmt.Errorf("%s: visual vector of another request", key)
			}
		case 2:
			ctx = AppendToOutgoingContext(ctx, "x-key", key)
			resp, err := c.VectorSearch(ctx, &SearchRequest{Query: "!echo", Limit: int32(g + 1), Filters: []string{key}})
			if err != nil {
				cancel()
				return fmt.Errorf("%s: %v", key, err)
			}
			md := resp.Results[0].Metadata
			if md["filters"] != key || md["md:x-key"] != key || md["limit"] != strconv.Itoa(g+1) {
				cancel()
				return fmt.Errorf("%s: echo of another request: %v", key, md)
			}
		case 3:
			var got string
			err := c.ChatStreamFunc(ctx, &ChatRequest{Query: "!echo", History: []*ChatMessage{{Role: "user", Content: key, Timestamp: int64(g)}}},
				func(m *ChatResponse) error {
					if got == "" {
						got = m.Chunk
					}
					return nil
				})
			if err != nil {
				cancel()
				return fmt.Errorf("%s: %v", key, err)
			}
			if want := fmt.Sprintf("user|%s|%d\n", key, g); got != want {
				cancel()
				return fmt.Errorf("%s: chat echo %q, want %q", key, got, want)
			}
		}
		cancel()
	}
	return nil
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
