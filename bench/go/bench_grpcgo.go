// bench_grpcgo.go -- the grpc-go benchmark client (Debian's grpc-go 1.33,
// built in GOPATH mode by bench/bench.mk); same arguments, measurement and
// checks as bench/harness.c (see bench/README.md).
//
//	bench_grpcgo TARGET unary CONC CALLS WARMUP      GetEmbedding, CONC goroutines
//	bench_grpcgo TARGET stream CONC STREAMS WARMUP   ChatStream "!many:1000", CONC goroutines
//	bench_grpcgo TARGET open N CHUNKS HOLD_MS        N streams "!hold:HOLD_MS:CHUNKS" at once
//
// One ClientConn shared by all goroutines, a 30 s deadline on every call
// (120 s in the open-streams workload). Prints `RESULT client=grpcgo ...`
// exactly as the C harness does; the open workload adds peak_open= and
// completed=, hold_ms= and all_open_s= (the time until every stream had its
// first message), and its threads= is the peak sampled every 5 ms.
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
	"sync/atomic"
	"syscall"
	"time"

	pb "thinkbank/ai_service"

	"google.golang.org/grpc"
)

const (
	clientName   = "grpcgo"
	embedText    = "the quick brown fox jumps over the lazy dog"
	embedDims    = 1024
	streamQuery  = "!many:1000"
	streamChunks = 1001 // 1000 "chunk-<i> " + the final empty one
	callTimeout  = 30 * time.Second
	openTimeout  = 120 * time.Second
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s TARGET unary|stream CONC CALLS WARMUP\n       %s TARGET open N CHUNKS HOLD_MS\n",
		os.Args[0], os.Args[0])
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
			fs := strings.Fields(line[len(name)+1:])
			if len(fs) > 0 {
				v, err := strconv.ParseInt(fs[0], 10, 64)
				if err == nil {
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

type meas struct {
	r0, r1  syscall.Rusage
	t0      time.Time
	wall    time.Duration
	threads int64
}

func (m *meas) begin() {
	m.r0 = rusage()
	m.t0 = time.Now()
}

func (m *meas) end() {
	m.wall = time.Since(m.t0)
	m.r1 = rusage()
	if m.threads == 0 {
		m.threads = procStatus("Threads")
	}
}

func printResult(client, workload string, conc, calls int, chunks int64, m *meas, lat []float64, extra string) {
	sort.Float64s(lat)
	fmt.Printf("RESULT client=%s workload=%s conc=%d calls=%d chunks=%d wall_s=%.6f cpu_user_s=%.6f cpu_sys_s=%.6f csw_vol=%d csw_invol=%d threads=%d rss_kb=%d%s p50_us=%.1f p99_us=%.1f\n",
		client, workload, conc, calls, chunks, m.wall.Seconds(),
		tvSeconds(m.r1.Utime)-tvSeconds(m.r0.Utime), tvSeconds(m.r1.Stime)-tvSeconds(m.r0.Stime),
		m.r1.Nvcsw-m.r0.Nvcsw, m.r1.Nivcsw-m.r0.Nivcsw, m.threads, procStatus("VmHWM"), extra,
		percentile(lat, 0.50)*1e6, percentile(lat, 0.99)*1e6)
}

// ---- the calls ------------------------------------------------------------

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

// chunkCheck counts the messages of one stream and checks them: `want`
// messages, the last one (and only it) final.
type chunkCheck struct {
	chunks        int64
	sawFinal, bad bool
}

func (c *chunkCheck) add(resp *pb.ChatResponse) {
	if c.sawFinal {
		c.bad = true
	}
	c.chunks++
	if resp.IsFinal {
		c.sawFinal = true
	}
}

func (c *chunkCheck) result(want int64) (int64, error) {
	if c.chunks != want || !c.sawFinal || c.bad {
		return 0, fmt.Errorf("ChatStream: %d chunks (final %v), want %d", c.chunks, c.sawFinal, want)
	}
	return c.chunks, nil
}

// streamCall: ChatStream + Recv until io.EOF; first (if not nil) is called
// once the first message has arrived.
func streamCall(client pb.AiWorkerClient, req *pb.ChatRequest, timeout time.Duration, want int64, first func()) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
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
		if c.chunks == 1 && first != nil {
			first()
		}
	}
	return c.result(want)
}

// ---- workloads --------------------------------------------------------------

// runConc: CONC goroutines, each making `call` one after another; warmup
// calls each first, then calls in all, measured.
func runConc(workload string, conc, calls, warmup int, call func() (int64, error)) int {
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
	var m meas
	m.begin()
	close(start)
	done.Wait()
	m.end()
	var total int64
	for t, err := range errs {
		if err != nil {
			fmt.Printf("ERROR client=%s workload=%s thread=%d: %v\n", clientName, workload, t, err)
			return 1
		}
		total += chunks[t]
	}
	printResult(clientName, workload, conc, calls, total, &m, lat, "")
	return 0
}

// runOpen: n streams started at once, each "!hold:holdMs:chunks": the first
// message at once, the others after holdMs. Samples the OS threads every
// 5 ms; peak_open = most streams between their first and last message at
// the same time.
func runOpen(client pb.AiWorkerClient, n, chunks, holdMs int) int {
	want := int64(chunks + 1)
	// the connection up first
	if _, err := streamCall(client, &pb.ChatRequest{Query: "!many:1"}, callTimeout, 2, nil); err != nil {
		fmt.Printf("ERROR client=%s workload=open warm-up: %v\n", clientName, err)
		return 1
	}
	req := &pb.ChatRequest{Query: fmt.Sprintf("!hold:%d:%d", holdMs, chunks)}
	var open, peakOpen, completed, everOpened int64
	var allOpen time.Duration // from the start until every stream had its first message
	var peakThreads int64 = procStatus("Threads")
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if t := procStatus("Threads"); t > peakThreads {
					peakThreads = t
				}
			}
		}
	}()
	lat := make([]float64, n)
	errs := make([]error, n)
	var done sync.WaitGroup
	var m meas
	m.begin()
	for i := 0; i < n; i++ {
		done.Add(1)
		go func(i int) {
			defer done.Done()
			t0 := time.Now()
			opened := false
			_, err := streamCall(client, req, openTimeout, want, func() {
				opened = true
				if atomic.AddInt64(&everOpened, 1) == int64(n) {
					allOpen = time.Since(m.t0)
				}
				o := atomic.AddInt64(&open, 1)
				for {
					p := atomic.LoadInt64(&peakOpen)
					if o <= p || atomic.CompareAndSwapInt64(&peakOpen, p, o) {
						break
					}
				}
			})
			if opened {
				atomic.AddInt64(&open, -1)
			}
			if err != nil {
				errs[i] = err
				return
			}
			atomic.AddInt64(&completed, 1)
			lat[i] = time.Since(t0).Seconds()
		}(i)
	}
	done.Wait()
	close(stop)
	<-sampled
	if t := procStatus("Threads"); t > peakThreads {
		peakThreads = t
	}
	m.threads = peakThreads
	m.end()
	ok := lat[:0]
	var firstErr error
	nerr := 0
	for i, err := range errs {
		if err != nil {
			nerr++
			if firstErr == nil {
				firstErr = err
			}
		} else {
			ok = append(ok, lat[i])
		}
	}
	if nerr > 0 {
		fmt.Printf("ERROR client=%s workload=open conc=%d: %d of %d streams failed; first: %v\n", clientName, n, nerr, n, firstErr)
		return 1
	}
	printResult(clientName, "open", n, n, completed*want, &m, ok,
		fmt.Sprintf(" peak_open=%d completed=%d hold_ms=%d all_open_s=%.6f", peakOpen, completed, holdMs, allOpen.Seconds()))
	return 0
}

func main() {
	if len(os.Args) != 6 {
		usage()
	}
	target, workload := os.Args[1], os.Args[2]
	a, b, c := atoi(os.Args[3], 1), atoi(os.Args[4], 0), atoi(os.Args[5], 0)
	switch workload {
	case "unary", "stream":
		if b < a || b < 1 {
			usage()
		}
	case "open":
		if b < 1 {
			usage()
		}
	default:
		usage()
	}
	conn, err := grpc.Dial(target, grpc.WithInsecure())
	if err != nil {
		fmt.Printf("ERROR client=%s: dial: %v\n", clientName, err)
		os.Exit(1)
	}
	client := pb.NewAiWorkerClient(conn)
	status := 0
	switch workload {
	case "unary":
		req := &pb.EmbeddingRequest{Content: &pb.EmbeddingRequest_Text{Text: embedText}, Type: pb.EmbeddingType_EMBEDDING_SEMANTIC}
		status = runConc("unary", a, b, c, func() (int64, error) { return 0, unaryCall(client, req) })
	case "stream":
		req := &pb.ChatRequest{Query: streamQuery}
		status = runConc("stream", a, b, c, func() (int64, error) {
			return streamCall(client, req, callTimeout, streamChunks, nil)
		})
	case "open":
		status = runOpen(client, a, b, c)
	}
	conn.Close()
	os.Exit(status)
}
