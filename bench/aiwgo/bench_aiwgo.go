// bench_aiwgo.go -- the benchmark client of the Go package aiworker
// (module github.com/thinkbank/libaiw/cgo, libaiw through cgo), built by
// bench/bench.mk; same arguments, workloads, measurement and checks as
// bench/go/bench_grpcgo.go and bench/harness.c (see bench/README.md).
//
//	bench_aiwgo TARGET unary CONC CALLS WARMUP
//	bench_aiwgo TARGET stream 1 STREAMS WARMUP       ChatStreamFunc (callback)
//	bench_aiwgo TARGET stream-recv 1 STREAMS WARMUP  ChatStream + Recv until io.EOF
//
// One aiworker.Client shared by all goroutines, a 30 s deadline on every call
// (context.WithTimeout, as the grpc-go client). Prints
// `RESULT client=aiwgo workload=... ...` exactly as the C harness does; the
// stream-recv variant reports itself as client=aiwgo-recv workload=stream.
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

	aiworker "github.com/thinkbank/libaiw/cgo"
)

const (
	embedText    = "the quick brown fox jumps over the lazy dog"
	embedDims    = 1024
	streamQuery  = "!many:1000"
	streamChunks = 1001 // 1000 "chunk-<i> " + the final empty one
	callTimeout  = 30 * time.Second
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s TARGET unary|stream|stream-recv CONC CALLS WARMUP\n", os.Args[0])
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

func printResult(client, workload string, conc, calls int, chunks int64, wall time.Duration, r0, r1 syscall.Rusage, lat []float64) {
	sort.Float64s(lat)
	fmt.Printf("RESULT client=%s workload=%s conc=%d calls=%d chunks=%d wall_s=%.6f cpu_user_s=%.6f cpu_sys_s=%.6f p50_us=%.1f p99_us=%.1f\n",
		client, workload, conc, calls, chunks, wall.Seconds(),
		tvSeconds(r1.Utime)-tvSeconds(r0.Utime), tvSeconds(r1.Stime)-tvSeconds(r0.Stime),
		percentile(lat, 0.50)*1e6, percentile(lat, 0.99)*1e6)
}

func unaryCall(client *aiworker.Client, req *aiworker.EmbeddingRequest) error {
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

// chunkCheck counts the messages of one stream and checks them as the other
// clients do: 1001 messages, the last one (and only it) final.
type chunkCheck struct {
	chunks        int64
	sawFinal, bad bool
}

func (c *chunkCheck) add(resp *aiworker.ChatResponse) {
	if c.sawFinal {
		c.bad = true
	}
	c.chunks++
	if resp.IsFinal {
		c.sawFinal = true
	}
}

func (c *chunkCheck) result() (int64, error) {
	if c.chunks != streamChunks || !c.sawFinal || c.bad {
		return 0, fmt.Errorf("ChatStream: %d chunks (final %v), want %d", c.chunks, c.sawFinal, streamChunks)
	}
	return c.chunks, nil
}

// streamFuncCall: ChatStreamFunc, the callback form (one C->Go callback per message).
func streamFuncCall(client *aiworker.Client, req *aiworker.ChatRequest) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var c chunkCheck
	if err := client.ChatStreamFunc(ctx, req, func(resp *aiworker.ChatResponse) error {
		c.add(resp)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("ChatStreamFunc: %v", err)
	}
	return c.result()
}

// streamRecvCall: ChatStream + Recv until io.EOF, the grpc-go form.
func streamRecvCall(client *aiworker.Client, req *aiworker.ChatRequest) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	stream, err := client.ChatStream(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("ChatStream: %v", err)
	}
	var c chunkCheck
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("ChatStream: %v", err)
		}
		c.add(resp)
	}
	return c.result()
}

func runUnary(client *aiworker.Client, conc, calls, warmup int) int {
	req := &aiworker.EmbeddingRequest{Text: embedText, Type: aiworker.EmbeddingType_EMBEDDING_SEMANTIC}
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
			fmt.Printf("ERROR client=aiwgo workload=unary thread=%d: %v\n", t, err)
			return 1
		}
	}
	printResult("aiwgo", "unary", conc, calls, 0, wall, r0, r1, lat)
	return 0
}

func runStream(client *aiworker.Client, name string, call func(*aiworker.Client, *aiworker.ChatRequest) (int64, error), calls, warmup int) int {
	req := &aiworker.ChatRequest{Query: streamQuery}
	for i := 0; i < warmup; i++ {
		if _, err := call(client, req); err != nil {
			fmt.Printf("ERROR client=%s workload=stream warm-up: %v\n", name, err)
			return 1
		}
	}
	lat := make([]float64, calls)
	var chunks int64
	r0 := rusage()
	t0 := time.Now()
	for i := 0; i < calls; i++ {
		s := time.Now()
		n, err := call(client, req)
		if err != nil {
			fmt.Printf("ERROR client=%s workload=stream: %v\n", name, err)
			return 1
		}
		lat[i] = time.Since(s).Seconds()
		chunks += n
	}
	wall := time.Since(t0)
	r1 := rusage()
	printResult(name, "stream", 1, calls, chunks, wall, r0, r1, lat)
	return 0
}

func main() {
	if len(os.Args) != 6 {
		usage()
	}
	target, workload := os.Args[1], os.Args[2]
	conc, calls, warmup := atoi(os.Args[3], 1), atoi(os.Args[4], 1), atoi(os.Args[5], 0)
	isStream := workload == "stream" || workload == "stream-recv"
	if (workload != "unary" && !isStream) || (isStream && conc != 1) || calls < conc {
		usage()
	}
	client, err := aiworker.Dial(target)
	if err != nil {
		fmt.Printf("ERROR client=aiwgo: dial: %v\n", err)
		os.Exit(1)
	}
	status := 0
	switch workload {
	case "unary":
		status = runUnary(client, conc, calls, warmup)
	case "stream":
		status = runStream(client, "aiwgo", streamFuncCall, calls, warmup)
	default:
		status = runStream(client, "aiwgo-recv", streamRecvCall, calls, warmup)
	}
	client.Close()
	os.Exit(status)
}
