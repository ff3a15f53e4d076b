package aiworker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests run against the reference service (tests/refservice), started
// once here on a free port.

var (
	target     string // 127.0.0.1:<port> of the reference service
	eventsPath string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if what := os.Getenv("AIW_ASAN_SELFTEST"); what != "" {
		// cgo.mk: prove that the sanitizers catch these (the process should die).
		n := map[string]int{"overflow": 1, "uaf": 2, "leak": 3}[what]
		asanSelfTest(n)
		if leakCheck() != 0 {
			fmt.Println("aiworker: LeakSanitizer: leaks found")
			return 1
		}
		fmt.Println("aiworker: sanitizer self-test", what, "was not caught (asan build:", asanBuild, ")")
		return 0
	}
	if t := os.Getenv("AIW_TEST_TARGET"); t != "" {
		// A child test process (inFreshProcess): the parent's service.
		target, eventsPath = t, os.Getenv("AIW_TEST_EVENTS")
		return runTests(m)
	}
	dir, err := os.MkdirTemp("", "aiworker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "aiworker tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	eventsPath = filepath.Join(dir, "events.jsonl")
	script := refServiceScript()
	cmd := refServiceCommand("--port", "0", "--events", eventsPath)
	// The service dies with this process even if a test crashes it (the
	// signal follows the thread that started the child: keep it alive).
	runtime.LockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "aiworker tests:", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "aiworker tests: cannot start the reference service %s: %v\n", script, err)
		return 1
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "LISTENING" {
				port <- f[1]
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			_ = cmd.Wait()
			fmt.Fprintf(os.Stderr, "aiworker tests: the reference service exited before LISTENING:\n%s\n", stderr.String())
			return 1
		}
		target = "127.0.0.1:" + p
	case <-time.After(60 * time.Second):
		fmt.Fprintf(os.Stderr, "aiworker tests: no LISTENING line from the reference service in 60 s:\n%s\n", stderr.String())
		return 1
	}
	return runTests(m)
}

// refServiceScript is the reference service's script ($AIW_TEST_SERVER, or the tree's).
func refServiceScript() string {
	if s := os.Getenv("AIW_TEST_SERVER"); s != "" {
		return s
	}
	return "../tests/refservice/ai_worker_server.py"
}

// refServiceCommand is the command that runs the reference service with
// args, on the Python that has grpc ($AIW_TEST_PYTHON, or Debian's).
func refServiceCommand(args ...string) *exec.Cmd {
	python := os.Getenv("AIW_TEST_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	return exec.Command(python, append([]string{refServiceScript()}, args...)...)
}

func runTests(m *testing.M) int {
	rc := m.Run()
	if asanBuild {
		// Every test closed its clients; free the pooled tokens, then let
		// LeakSanitizer look (tests/check/lsan.supp: gRPC-internal only).
		drainTokenPool()
		if leakCheck() != 0 {
			fmt.Println("aiworker: LeakSanitizer: leaks found")
			return 1
		}
		fmt.Println("aiworker: LeakSanitizer: no leaks")
	}
	return rc
}

// inFreshProcess runs the calling test alone in a new process of this test
// binary (same flags, -race or -asan alike; same reference service), for
// what depends on the process's history, like its OS thread count: the Go
// runtime keeps every thread it ever made. It returns true in that child,
// which then runs the test; in the parent it waits for the child and
// reports its outcome.
func inFreshProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv("AIW_TEST_CHILD") == t.Name() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v",
		"-test.timeout=220s")
	cmd.Env = append(os.Environ(), "AIW_TEST_CHILD="+t.Name(), "AIW_TEST_TARGET="+target, "AIW_TEST_EVENTS="+eventsPath)
	out, err := cmd.CombinedOutput()
	// The child's own PASS/FAIL lines are not counted twice (run_tests.sh).
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if f := strings.TrimSpace(l); strings.HasPrefix(f, "=== ") || strings.HasPrefix(f, "--- ") || f == "PASS" {
			continue
		}
		// Nor its LeakSanitizer verdict taken for the parent's.
		l = strings.ReplaceAll(l, "aiworker: LeakSanitizer:", "the child's LeakSanitizer:")
		lines = append(lines, "child: "+l)
	}
	t.Log("\n" + strings.Join(lines, "\n"))
	if err != nil {
		t.Fatalf("the test in a fresh process failed: %v", err)
	}
	return false
}

// dial makes a client closed at the end of the test.
func dial(t testing.TB, opts ...Option) *Client {
	t.Helper()
	c, err := Dial(target, opts...)
	if err != nil {
		t.Fatalf("Dial(%s): %v", target, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// noLeak records the goroutine count now; at the end of the test, after the
// cleanups registered later (dial's Close: a client holds its poller
// goroutine until then), it fails the test if the count does not come back
// within a generous settle time.
func noLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: %d before, %d after:\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

type event struct {
	RPC       string            `json:"rpc"`
	Outcome   string            `json:"outcome"`
	RequestID string            `json:"request_id"`
	Metadata  map[string]string `json:"metadata"`
}

// waitEvent returns the server's event for x-request-id id. The service
// writes it when the RPC ends server-side, which may be after the client
// has returned, so the file is polled (there is no other signal).
func waitEvent(t *testing.T, id string) event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(readEvents(), "\n") {
			var e event
			if line == "" || json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			if e.RequestID == id {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server event for request id %q", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var reqSeq int64

// withID tags ctx with a unique x-request-id and returns it.
func withID(ctx context.Context, t *testing.T) (context.Context, string) {
	n := atomic.AddInt64(&reqSeq, 1)
	id := fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), n)
	return AppendToOutgoingContext(ctx, "x-request-id", id), id
}

// The reference service's embeddings (tests/refservice/README.md).
func fnv1a(b []byte) uint32 {
	h := uint32(0x811c9dc5)
	for _, c := range b {
		h ^= uint32(c)
		h *= 0x01000193
	}
	if h == 0 {
		h = 1
	}
	return h
}

func refVector(seed uint32, n int) []float32 {
	v := make([]float32, n)
	x := seed
	for i := range v {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		v[i] = float32(float64(int64(x%20001)-10000) / 10000.0)
	}
	return v
}

func visualSeed(content []byte) uint32 {
	s := fnv1a(content) ^ 0x9e3779b9
	if s == 0 {
		s = 1
	}
	return s
}

func sameVector(t testing.TB, what string, got, want []float32) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d elements, want %d", what, len(got), len(want))
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			return false
		}
	}
	return true
}

func readEvents() string {
	data, _ := os.ReadFile(eventsPath)
	return string(data)
}

// osThreads is the number of OS threads of this process (/proc/self/status).
func osThreads(t testing.TB) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Threads:" {
			var n int
			if _, err := fmt.Sscan(f[1], &n); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no Threads line in /proc/self/status")
	return 0
}

// threadNames summarises this process's OS threads by name
// (/proc/self/task/*/comm), for failure messages.
func threadNames() string {
	tasks, _ := filepath.Glob("/proc/self/task/*/comm")
	count := map[string]int{}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err == nil {
			count[strings.TrimSpace(string(b))]++
		}
	}
	var names []string
	for n, k := range count {
		names = append(names, fmt.Sprintf("%s×%d", n, k))
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}
