// bench_grpcconn.go -- the grpcconn benchmark client: the client that
// protoc-gen-go-grpc generates from idl/ai_service.proto over three
// connections, one per process run, same workloads, measurement and
// checks as bench/go/bench_grpcgo.go and bench/harness.c:
//
//	bench_grpcconn TARGET CLIENT unary CONC CALLS WARMUP     GetEmbedding, CONC goroutines
//	bench_grpcconn TARGET CLIENT stream CONC STREAMS WARMUP  ChatStream "!many:1000" + Recv to io.EOF
//
// CLIENT:
//
//	grpcconn  pb.NewAiWorkerClient(grpcconn.Dial(target))   -- libaiw through grpcconn
//	grpcgo    pb.NewAiWorkerClient(grpc.Dial(target, ...))  -- grpc-go 1.33's own ClientConn
//	aiwgo     aiworker.Dial(target): GetEmbedding, ChatStream + Recv -- the Go package directly
//
// One connection shared by all goroutines, a 30 s deadline on every call
// (context.WithTimeout). CPU is getrusage(RUSAGE_SELF) user+sys over the
// measured phase (the warm-up excluded). Prints
// `RESULT client=CLIENT workload=... calls= chunks= wall_s= cpu_user_s=
// cpu_sys_s= csw_vol= csw_invol= threads= rss_kb= p50_us= p99_us=` (the C
// harness's format), or `ERROR ...` and exit status 1. bench/grpcconn/run.sh
// runs it in interleaved rounds.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/cgo/grpcconn"
	pb "github.com/thinkbank/libaiw/cgo/grpcconn/gen/ai_service"
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
	fmt.Fprintf(os.Stderr, "usage: %s TARGET grpcconn|grpcgo|aiwgo unary|stream CONC CALLS WARMUP\n", os.Args[0])
	os.Exit(2)
}

func atoi(s string, min int) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < min {
		usage()
	}
	return v
}

// ---- measuring, as harness.c ----------------------------------------------

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

func rusage() syscall.Rusage {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		panic(err)
	}
	return r
}

// procStatus: `Name:  <number>` of /proc/self/status, or -1.
func procStatus(name string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+":") {
			if fs := strings.Fields(line[len(name)+1:]); len(fs) > 0 {
				if v, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

// percentile: nearest rank of a sorted slice, as harness.c.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(v)) - 1e-6))
	if rank < 1 {
		rank = 1
	}
	if rank > len(v) {
		rank = len(v)
	}
	return v[rank-1]
}

// ---- the clients -------------------------------------------------------------

// client is one way to make the two calls; each returns the chunks seen.
type client struct {
	unary  func(ctx context.Context) error
	stream func(ctx context.Context) (int64, error)
	close  func()
}

func checkEmbedding(n int, ok bool) error {
	if n != embedDims || !ok {
		return fmt.Errorf("GetEmbedding: %d floats (success %v), want %d", n, ok, embedDims)
	}
	return nil
}

// chunkCheck: `want` messages, the last one (and only it) final.
type chunkCheck struct {
	chunks        int64
	sawFinal, bad bool
}

func (c *chunkCheck) add(final bool) {
	if c.sawFinal {
		c.bad = true
	}
	c.chunks++
	c.sawFinal = c.sawFinal || final
}

func (c *chunkCheck) result() (int64, error) {
	if c.chunks != streamChunks || !c.sawFinal || c.bad {
		return 0, fmt.Errorf("ChatStream: %d chunks (final %v), want %d", c.chunks, c.sawFinal, streamChunks)
	}
	return c.chunks, nil
}

// generated: the protoc-gen-go-grpc client over any grpc.ClientConnInterface.
func generated(cc grpc.ClientConnInterface, closeFn func()) *client {
	ai := pb.NewAiWorkerClient(cc)
	ereq := &pb.EmbeddingRequest{Content: &pb.EmbeddingRequest_Text{Text: embedText}, Type: pb.EmbeddingType_EMBEDDING_SEMANTIC}
	creq := &pb.ChatRequest{Query: streamQuery}
	return &client{
		unary: func(ctx context.Context) error {
			r, err := ai.GetEmbedding(ctx, ereq)
			if err != nil {
				return fmt.Errorf("GetEmbedding: %v", err)
			}
			return checkEmbedding(len(r.SemanticVector), r.Success)
		},
		stream: func(ctx context.Context) (int64, error) {
			st, err := ai.ChatStream(ctx, creq)
			if err != nil {
				return 0, fmt.Errorf("ChatStream: %v", err)
			}
			var c chunkCheck
			for {
				m, err := st.Recv()
				if err == io.EOF {
					return c.result()
				}
				if err != nil {
					return 0, fmt.Errorf("ChatStream: %v", err)
				}
				c.add(m.IsFinal)
			}
		},
		close: closeFn,
	}
}

// direct: the Go package's own typed client.
func direct(c *aiworker.Client) *client {
	ereq := &aiworker.EmbeddingRequest{Content: &aiworker.EmbeddingRequest_Text{Text: embedText},
		Type: aiworker.EmbeddingType_EMBEDDING_SEMANTIC}
	creq := &aiworker.ChatRequest{Query: streamQuery}
	return &client{
		unary: func(ctx context.Context) error {
			r, err := c.GetEmbedding(ctx, ereq)
			if err != nil {
				return fmt.Errorf("GetEmbedding: %v", err)
			}
			return checkEmbedding(len(r.SemanticVector), r.Success)
		},
		stream: func(ctx context.Context) (int64, error) {
			st, err := c.ChatStream(ctx, creq)
			if err != nil {
				return 0, fmt.Errorf("ChatStream: %v", err)
			}
			var cc chunkCheck
			for {
				m, err := st.Recv()
				if err == io.EOF {
					return cc.result()
				}
				if err != nil {
					return 0, fmt.Errorf("ChatStream: %v", err)
				}
				cc.add(m.IsFinal)
			}
		},
		close: func() { c.Close() },
	}
}

func dial(name, target string) (*client, error) {
	switch name {
	case "grpcconn":
		conn, err := grpcconn.Dial(target) // the one line a grpc-go program changes
		if err != nil {
			return nil, err
		}
		return generated(conn, func() { conn.Close() }), nil
	case "grpcgo":
		conn, err := grpc.Dial(target, grpc.WithInsecure())
		if err != nil {
			return nil, err
		}
		return generated(conn, func() { conn.Close() }), nil
	case "aiwgo":
		c, err := aiworker.Dial(target)
		if err != nil {
			return nil, err
		}
		return direct(c), nil
	}
	usage()
	return nil, nil
}

// ---- the workload --------------------------------------------------------------

// runConc: CONC goroutines, each making `call` one after another; warmup
// calls each first, then calls in all, measured.
func runConc(name, workload string, conc, calls, warmup int, call func() (int64, error)) int {
	lat := make([]float64, calls)
	errs := make([]error, conc)
	chunks := make([]int64, conc)
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
				_, errs[t] = call()
			}
			ready.Done()
			<-start
			if errs[t] != nil {
				return
			}
			for i := range mine {
				t0 := time.Now()
				n, err := call()
				if err != nil {
					errs[t] = err
					return
				}
				mine[i] = time.Since(t0).Seconds()
				chunks[t] += n
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
	threads := procStatus("Threads")
	var total int64
	for t, err := range errs {
		if err != nil {
			fmt.Printf("ERROR client=%s workload=%s thread=%d: %v\n", name, workload, t, err)
			return 1
		}
		total += chunks[t]
	}
	sort.Float64s(lat)
	fmt.Printf("RESULT client=%s workload=%s conc=%d calls=%d chunks=%d wall_s=%.6f cpu_user_s=%.6f cpu_sys_s=%.6f csw_vol=%d csw_invol=%d threads=%d rss_kb=%d p50_us=%.1f p99_us=%.1f\n",
		name, workload, conc, calls, total, wall.Seconds(),
		tvSeconds(r1.Utime)-tvSeconds(r0.Utime), tvSeconds(r1.Stime)-tvSeconds(r0.Stime),
		r1.Nvcsw-r0.Nvcsw, r1.Nivcsw-r0.Nivcsw, threads, procStatus("VmHWM"),
		percentile(lat, 0.50)*1e6, percentile(lat, 0.99)*1e6)
	return 0
}

func main() {
	if len(os.Args) != 7 {
		usage()
	}
	target, name, workload := os.Args[1], os.Args[2], os.Args[3]
	conc, calls, warmup := atoi(os.Args[4], 1), atoi(os.Args[5], 1), atoi(os.Args[6], 0)
	if calls < conc || (workload != "unary" && workload != "stream") {
		usage()
	}
	c, err := dial(name, target)
	if err != nil {
		fmt.Printf("ERROR client=%s: dial: %v\n", name, err)
		os.Exit(1)
	}
	var status int
	if workload == "unary" {
		status = runConc(name, workload, conc, calls, warmup, func() (int64, error) {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			return 0, c.unary(ctx)
		})
	} else {
		status = runConc(name, workload, conc, calls, warmup, func() (int64, error) {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			return c.stream(ctx)
		})
	}
	c.close()
	os.Exit(status)
}
