package grpcconn_test

// Go benchmarks (go test -bench . -benchmem): the generated client over
// grpcconn.Conn beside the Go package's typed client and grpc-go's
// ClientConn, in one process. The number to read here is allocs/op (what
// the grpcconn layer adds per call); CPU per call and latency, measured
// properly, are bench/grpcconn's. Against the benchmark server when
// GRPCCONN_BENCH_SERVER names it (build/bench/bench_server), else against
// the reference service.

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/cgo/grpcconn"
	pb "github.com/thinkbank/libaiw/cgo/grpcconn/gen/ai_service"
	"google.golang.org/grpc"
)

func benchTarget(b *testing.B) string {
	bin := os.Getenv("GRPCCONN_BENCH_SERVER")
	if bin == "" {
		return startService(b).addr
	}
	cmd := exec.Command(bin, "--port", "0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "LISTENING ") {
		b.Fatalf("%s did not start", bin)
	}
	return "127.0.0.1:" + strings.TrimPrefix(sc.Text(), "LISTENING ")
}

func BenchmarkGetEmbedding(b *testing.B) {
	target := benchTarget(b)
	ctx := context.Background()
	run := func(b *testing.B, call func() error) {
		for i := 0; i < 50; i++ { // connected and warm
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
	}
	req := &pb.EmbeddingRequest{Content: &pb.EmbeddingRequest_Text{Text: "the quick brown fox jumps over the lazy dog"}}
	b.Run("grpcconn", func(b *testing.B) {
		conn, err := grpcconn.Dial(target)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		ai := pb.NewAiWorkerClient(conn)
		run(b, func() error { _, err := ai.GetEmbedding(ctx, req); return err })
	})
	b.Run("aiworker", func(b *testing.B) {
		c, err := aiworker.Dial(target)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		areq := &aiworker.EmbeddingRequest{Content: &aiworker.EmbeddingRequest_Text{Text: req.GetText()}}
		run(b, func() error { _, err := c.GetEmbedding(ctx, areq); return err })
	})
	b.Run("grpcgo", func(b *testing.B) {
		conn, err := grpc.Dial(target, grpc.WithInsecure())
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		ai := pb.NewAiWorkerClient(conn)
		run(b, func() error { _, err := ai.GetEmbedding(ctx, req); return err })
	})
}

func BenchmarkChatStream(b *testing.B) {
	target := benchTarget(b)
	ctx := context.Background()
	const query = "!many:100"
	run := func(b *testing.B, stream func() (int, error)) {
		b.ReportAllocs()
		b.ResetTimer()
		msgs := 0
		t0 := time.Now()
		for i := 0; i < b.N; i++ {
			n, err := stream()
			if err != nil {
				b.Fatal(err)
			}
			msgs += n
		}
		b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(msgs), "ns/msg")
	}
	recvAll := func(recv func() error) (int, error) {
		n := 0
		for {
			if err := recv(); err == io.EOF {
				return n, nil
			} else if err != nil {
				return n, err
			}
			n++
		}
	}
	generated := func(cc grpc.ClientConnInterface) func() (int, error) {
		ai := pb.NewAiWorkerClient(cc)
		return func() (int, error) {
			st, err := ai.ChatStream(ctx, &pb.ChatRequest{Query: query})
			if err != nil {
				return 0, err
			}
			return recvAll(func() error { _, err := st.Recv(); return err })
		}
	}
	b.Run("grpcconn", func(b *testing.B) {
		conn, err := grpcconn.Dial(target)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		run(b, generated(conn))
	})
	b.Run("aiworker", func(b *testing.B) {
		c, err := aiworker.Dial(target)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, func() (int, error) {
			st, err := c.ChatStream(ctx, &aiworker.ChatRequest{Query: query})
			if err != nil {
				return 0, err
			}
			return recvAll(func() error { _, err := st.Recv(); return err })
		})
	})
	b.Run("grpcgo", func(b *testing.B) {
		conn, err := grpc.Dial(target, grpc.WithInsecure())
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		run(b, generated(conn))
	})
}
