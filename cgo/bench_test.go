package aiworker

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// make bench-go, or: go test -run '^$' -bench . -benchmem
//
// Wall time per op is dominated by the Python reference service sharing the
// machine; "client-cpu-us/op" is this process's own CPU (user+system) per op,
// the figure to compare with other clients measured in the same run.

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clientCPU reports the process CPU per op since start.
func clientCPU(b *testing.B, start time.Duration, ops int) {
	if ops > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(time.Microsecond)/float64(ops), "client-cpu-us/op")
	}
}

func benchEmbedding(b *testing.B, ctx context.Context) {
	c := dial(b)
	req := &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "hello"}}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := c.GetEmbedding(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	clientCPU(b, start, b.N)
}

// BenchmarkGetEmbedding: one unary call (1024 floats back), no cancellation.
func BenchmarkGetEmbedding(b *testing.B) { benchEmbedding(b, context.Background()) }

// BenchmarkGetEmbeddingCancellable: the same with a cancellable context
// (a pooled cancel token, and the caller waits in a select on ctx.Done()).
func BenchmarkGetEmbeddingCancellable(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchEmbedding(b, ctx)
}

func BenchmarkGetEmbeddingParallel(b *testing.B) {
	c := dial(b)
	req := &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "hello"}}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetEmbedding(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	clientCPU(b, start, b.N)
}

// BenchmarkVectorSearch: 10 results with metadata maps.
func BenchmarkVectorSearch(b *testing.B) {
	c := dial(b)
	req := &SearchRequest{Query: "q"}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := c.VectorSearch(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	clientCPU(b, start, b.N)
}

// BenchmarkChatStream: one op is one streamed message (!many:1000 streams).
func BenchmarkChatStream(b *testing.B) {
	c := dial(b)
	const chunks = 1000
	req := &ChatRequest{Query: "!many:1000"}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	done := 0
	for done < b.N {
		n := 0
		if err := c.ChatStreamFunc(context.Background(), req, func(*ChatResponse) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != chunks+1 {
			b.Fatalf("%d messages", n)
		}
		done += n
	}
	clientCPU(b, start, done)
}

// BenchmarkChatStreamRecv: the same through ChatStream.Recv.
func BenchmarkChatStreamRecv(b *testing.B) {
	c := dial(b)
	req := &ChatRequest{Query: "!many:1000"}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	done := 0
	for done < b.N {
		s, err := c.ChatStream(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
			done++
		}
	}
	clientCPU(b, start, done)
}
