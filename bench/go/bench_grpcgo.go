// bench_grpcgo.go -- the grpc-go benchmark client (Debian's grpc-go 1.33,
// built in GOPATH mode by bench/bench.mk); same arguments, measurement and
// checks as bench/harness.c (see bench/README.md).
//
//	bench_grpcgo TARGET unary CONC CALLS WARMUP
//	bench_grpcgo TARGET stream 1 STREAMS WARMUP
//
// One ClientConn shared by all goroutines, a 30 s deadline on every call.
// Prints `RESULT client=grpcgo ...` exactly as the C harness does.
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	pb "thinkbank/ai_service"

	"google.golang.org/grpc"
)

const (
	embedText    = "the quick brown fox jumps over the lazy dog"
	embedDims    = 1024
	streamQuery  = "!many:1000"
	streamChunks = 1001 // 1000 "chunk-<i> " + the final empty one
	callTimeout  = 30 * time.Second
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s TARGET unary|stream CONC CALLS WARMUP\n", os.Args[0])
	os.Exit(2)
}

func atoi(s string, min int) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < min {
		usage()
	}
	return v
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

func rusage() syscall.Rusage {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		panic(err)
	}
	return r
}

// percentile: nearest rank of a sorted slice, as harness.c.
func percentile(v []float64, p float64) float64 {
	rank := int(math.Ceil(p*float64(len(v)) - 1e-6))
	if rank < 1 {
		rank = 1
	}
	if rank > len(v) {
		rank = len(v)
	}
	return v[rank-1]
}

func printResult(workload string, conc, calls int, chunks int64, wall time.Duration, r0, r1 syscall.Rusage, lat []float64) {
	sort.Float64s(lat)
	fmt.Printf("RESULT client=grpcgo workload=%s conc=%d calls=%d chunks=%d wall_s=%.6f cpu_user_s=%.6f cpu_sys_s=%.6f p50_us=%.1f p99_us=%.1f\n",
		workload, conc, calls, chunks, wall.Seconds(),
		tvSeconds(r1.Utime)-tvSeconds(r0.Utime), tvSeconds(r1.Stime)-tvSeconds(r0.Stime),
		percentile(lat, 0.50)*1e6, percentile(lat, 0.99)*1e6)
}

func unaryCall(client pb.AiWorkerClient, req *pb.EmbeddingRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := client.GetEmbedding(ctx, req)
	if err != nil {
		return fmt.Errorf("GetEmbedding: %v", err)
	}
	if len(resp.SemanticVector) != embedDims || !resp.Success {
		return fmt.Errorf("GetEmbedding: %d floats, want %d", len(resp.SemanticVector), embedDims)
	}
	return nil
}

func streamCall(client pb.AiWorkerClient, req *pb.ChatRequest) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	stream, err := client.ChatStream(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("ChatStream: %v", err)
	}
	var chunks int64
	sawFinal, bad := false, false
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("ChatStream: %v", err)
		}
		if sawFinal {
			bad = true
		}
		chunks++
		if resp.IsFinal {
			sawFinal = true
		}
	}
	if chunks != streamChunks || !sawFinal || bad {
		return 0, fmt.Errorf("ChatStream: %d chunks (final %v), want %d", chunks, sawFinal, streamChunks)
	}
	return chunks, nil
}

func runUnary(client pb.AiWorkerClient, conc, calls, warmup int) int {
	req := &pb.EmbeddingRequest{Content: &pb.EmbeddingRequest_Text{Text: embedText}, Type: pb.EmbeddingType_EMBEDDING_SEMANTIC}
	lat := make([]float64, calls)
	errs := make([]error, conc)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	off := 0
	for t := 0; t < conc; t++ {
		n := calls / conc
		if t < calls%conc {
			n++
		}
		mine := lat[off : off+n]
		off += n
		ready.Add(1)
		done.Add(1)
		go func(t int, mine []float64) {
			defer done.Done()
			for i := 0; i < warmup && errs[t] == nil; i++ {
				errs[t] = unaryCall(client, req)
			}
			ready.Done()
			<-start
			if errs[t] != nil {
				return
			}
			for i := range mine {
				t0 := time.Now()
				if err := unaryCall(client, req); err != nil {
					errs[t] = err
					return
				}
				mine[i] = time.Since(t0).Seconds()
			}
		}(t, mine)
	}
	ready.Wait()
	r0 := rusage()
	t0 := time.Now()
	close(start)
	done.Wait()
	wall := time.Since(t0)
	r1 := rusage()
	for t, err := range errs {
		if err != nil {
			fmt.Printf("ERROR client=grpcgo workload=unary thread=%d: %v\n", t, err)
			return 1
		}
	}
	printResult("unary", conc, calls, 0, wall, r0, r1, lat)
	return 0
}

func runStream(client pb.AiWorkerClient, calls, warmup int) int {
	req := &pb.ChatRequest{Query: streamQuery}
	for i := 0; i < warmup; i++ {
		if _, err := streamCall(client, req); err != nil {
			fmt.Printf("ERROR client=grpcgo workload=stream warm-up: %v\n", err)
			return 1
		}
	}
	lat := make([]float64, calls)
	var chunks int64
	r0 := rusage()
	t0 := time.Now()
	for i := 0; i < calls; i++ {
		s := time.Now()
		n, err := streamCall(client, req)
		if err != nil {
			fmt.Printf("ERROR client=grpcgo workload=stream: %v\n", err)
			return 1
		}
		lat[i] = time.Since(s).Seconds()
		chunks += n
	}
	wall := time.Since(t0)
	r1 := rusage()
	printResult("stream", 1, calls, chunks, wall, r0, r1, lat)
	return 0
}

func main() {
	if len(os.Args) != 6 {
		usage()
	}
	target, workload := os.Args[1], os.Args[2]
	conc, calls, warmup := atoi(os.Args[3], 1), atoi(os.Args[4], 1), atoi(os.Args[5], 0)
	if (workload != "unary" && workload != "stream") || (workload == "stream" && conc != 1) || calls < conc {
		usage()
	}
	conn, err := grpc.Dial(target, grpc.WithInsecure())
	if err != nil {
		fmt.Printf("ERROR client=grpcgo: dial: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close()
	client := pb.NewAiWorkerClient(conn)
	status := 0
	if workload == "unary" {
		status = runUnary(client, conc, calls, warmup)
	} else {
		status = runStream(client, calls, warmup)
	}
	conn.Close()
	os.Exit(status)
}
