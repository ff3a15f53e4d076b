package aiworker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	return exec.Command(testPython(), append([]string{refServiceScript()}, args...)...)
}

// testPython is the Python that has grpc ($AIW_TEST_PYTHON, or Debian's).
func testPython() string {
	if python := os.Getenv("AIW_TEST_PYTHON"); python != "" {
		return python
	}
	return "/usr/bin/python3"
}

func runTests(m *testing.M) int {
	rc := m.Run()
	stopRefEmbedder()
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

// The reference service's embeddings come from the service's own formula,
// tests/refservice/embedding.py (next to the service's script), its only
// implementation: one `embedding.py --serve` helper per test binary, started
// by the first refVector call and ended by runTests.
var refEmbedder struct {
	once sync.Once
	err  error      // set by the start
	mu   sync.Mutex // one request at a time
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
}

// refVector is the reference service's vector of content (text: its UTF-8
// bytes; or an image's data): the semantic one, or the visual one when
// visual, as the float32 values the service sends. Safe for concurrent use.
// It panics when the helper fails: no embedding test can pass without it.
func refVector(content []byte, visual bool) []float32 {
	e := &refEmbedder
	kind := "semantic"
	if visual {
		kind = "visual"
	}
	e.once.Do(startRefEmbedder)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		panic("reference embeddings: " + e.err.Error())
	}
	if _, err := fmt.Fprintf(e.in, "%s %x\n", kind, content); err != nil {
		panic(fmt.Sprintf("reference embeddings: writing to %v: %v", e.cmd.Args, err))
	}
	line, err := e.out.ReadString('\n')
	if err != nil {
		panic(fmt.Sprintf("reference embeddings: reading from %v: %v", e.cmd.Args, err))
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] == "error:" {
		panic(fmt.Sprintf("reference embeddings: %v answered %q", e.cmd.Args, strings.TrimSpace(line)))
	}
	v := make([]float32, len(fields))
	for i, f := range fields {
		x, err := strconv.ParseFloat(f, 32) // the double's decimal rounded to float32: the service's value
		if err != nil {
			panic(fmt.Sprintf("reference embeddings: element %d: %v", i, err))
		}
		v[i] = float32(x)
	}
	return v
}

func startRefEmbedder() {
	e := &refEmbedder
	script := filepath.Join(filepath.Dir(refServiceScript()), "embedding.py")
	e.cmd = exec.Command(testPython(), script, "--serve")
	e.cmd.Stderr = os.Stderr
	in, err := e.cmd.StdinPipe()
	if err != nil {
		e.err = err
		return
	}
	out, err := e.cmd.StdoutPipe()
	if err != nil {
		e.err = err
		return
	}
	if err := e.cmd.Start(); err != nil {
		e.err = fmt.Errorf("starting %v: %w", e.cmd.Args, err)
		return
	}
	e.in, e.out = in, bufio.NewReaderSize(out, 64<<10)
}

// stopRefEmbedder ends the helper, if it was started (it exits at EOF).
func stopRefEmbedder() {
	e := &refEmbedder
	e.once.Do(func() {}) // no start from now on
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil && e.in != nil {
		_ = e.in.Close()
		_ = e.cmd.Wait()
	}
	if e.err == nil {
		e.err = errors.New("stopped")
	}
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
