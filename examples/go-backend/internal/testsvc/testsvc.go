// Package testsvc starts the project's reference AI service
// (tests/refservice/ai_worker_server.py) for the backend's tests, dials it
// and reads its events file.
package testsvc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// Python is the interpreter that has grpc (the python3 on PATH may not).
const Python = "/usr/bin/python3"

// RepoRoot walks up from the working directory to the libaiw checkout (the
// directory holding idl/ai_service.proto).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "idl", "ai_service.proto")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testsvc: libaiw checkout (idl/ai_service.proto) not found above the working directory")
		}
		dir = parent
	}
}

// RefVector is the reference service's vector of content (a text's UTF-8
// bytes, or an image's data): the semantic one, or the visual one when
// visual, as the float32 values the service sends. It runs the service's own
// formula, tests/refservice/embedding.py (its only implementation), once per
// call: `embedding.py --serve` with the one request on its stdin.
func RefVector(content []byte, visual bool) ([]float32, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	kind := "semantic"
	if visual {
		kind = "visual"
	}
	cmd := exec.Command(Python, filepath.Join(root, "tests", "refservice", "embedding.py"), "--serve")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("%s %x\n", kind, content))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("testsvc: %v: %w", cmd.Args, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 || fields[0] == "error:" {
		return nil, fmt.Errorf("testsvc: %v answered %q", cmd.Args, strings.TrimSpace(string(out)))
	}
	v := make([]float32, len(fields))
	for i, f := range fields {
		x, err := strconv.ParseFloat(f, 32) // the double's decimal rounded to float32: the service's value
		if err != nil {
			return nil, fmt.Errorf("testsvc: %v: element %d: %w", cmd.Args, i, err)
		}
		v[i] = float32(x)
	}
	return v, nil
}

// Service is a running reference service.
type Service struct {
	Addr   string // 127.0.0.1:PORT
	Events string // path of its --events file ("" for a script without one)
	cmd    *exec.Cmd
	stderr *Buffer
	done   chan struct{} // closed once the process has been waited for
}

// Start runs the reference service on a free port, with its events file in
// dir, and returns once it printed LISTENING (or fails after timeout).
func Start(dir string, timeout time.Duration) (*Service, error) {
	return StartWith(dir, timeout)
}

// StartWith is Start with more arguments for the reference service
// (--name r0, --not-serving, ...).
func StartWith(dir string, timeout time.Duration, args ...string) (*Service, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	events := filepath.Join(dir, "events.jsonl")
	script := filepath.Join(root, "tests", "refservice", "ai_worker_server.py")
	return start(root, script, events, timeout, append([]string{"--port", "0", "--events", events}, args...))
}

// StartScript runs another Python server (path relative to the checkout)
// that prints "LISTENING <port>" on its first line of stdout, as the
// reference service does, with args; it has no events file.
func StartScript(script string, timeout time.Duration, args ...string) (*Service, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return start(root, filepath.Join(root, script), "", timeout, args)
}

func start(root, script, events string, timeout time.Duration, args []string) (*Service, error) {
	cmd := exec.Command(Python, append([]string{script}, args...)...)
	cmd.Dir = root
	// If the test binary dies without Stop (a panic), the service goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &Service{Events: events, cmd: cmd, stderr: &Buffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testsvc: starting %s %s: %w", Python, script, err)
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case line := <-lines:
		var port int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "LISTENING %d", &port); err != nil || port <= 0 {
			s.Stop()
			return nil, fmt.Errorf("testsvc: %s did not print LISTENING (got %q); stderr:\n%s", script, line, s.Stderr())
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		return s, nil
	case <-time.After(timeout):
		s.Stop()
		return nil, fmt.Errorf("testsvc: %s not listening after %s; stderr:\n%s", script, timeout, s.Stderr())
	}
}

// Stop ends the service (SIGTERM, then SIGKILL after 5 s) and waits for it.
// It may be called more than once, and after Kill.
func (s *Service) Stop() {
	if s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Kill ends the service abruptly (SIGKILL: no grace for its calls, as a
// crash) and waits for it.
func (s *Service) Kill() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Signal sends sig to the service (the reference service: SIGUSR1 makes its
// health service NOT_SERVING, SIGUSR2 SERVING).
func (s *Service) Signal(sig syscall.Signal) error { return s.cmd.Process.Signal(sig) }

// Stderr returns what the service wrote on stderr so far.
func (s *Service) Stderr() string { return s.stderr.String() }

// Event is one line of the events file.
type Event struct {
	RPC       string            `json:"rpc"`
	Outcome   string            `json:"outcome"`
	RequestID string            `json:"request_id"`
	Metadata  map[string]string `json:"metadata"`
	Replica   string            `json:"replica"` // its --name
}

// ReadEvents returns the events written so far.
func (s *Service) ReadEvents() ([]Event, error) {
	data, err := os.ReadFile(s.Events)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Event
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue // a line being written right now
		}
		out = append(out, e)
	}
	return out, nil
}

// WaitEvent waits up to timeout for an event with this rpc and request id
// (the service writes it when the RPC ends server-side) and returns it.
func (s *Service) WaitEvent(rpc, requestID string, timeout time.Duration) (Event, error) {
	deadline := time.Now().Add(timeout)
	for {
		evs, err := s.ReadEvents()
		if err != nil {
			return Event{}, err
		}
		for _, e := range evs {
			if e.RPC == rpc && e.RequestID == requestID {
				return e, nil
			}
		}
		if time.Now().After(deadline) {
			return Event{}, fmt.Errorf("testsvc: no %s event for request id %q within %s (%d events)", rpc, requestID, timeout, len(evs))
		}
		time.Sleep(20 * time.Millisecond) // polling a file: there is no other signal
	}
}

// Buffer is a bytes.Buffer safe for concurrent Write and String (exec
// copies a child's output on its own goroutine; loggers write from handler
// goroutines).
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Env is what a test package shares between its tests: the reference
// service and a client dialled to it, both set up by Run.
type Env struct {
	Svc    *Service
	Client *aiworker.Client
}

// Run is the body of a test package's TestMain: it starts the reference
// service (events file in a fresh temporary directory named after
// tempPrefix), dials it, fills e, runs the tests and stops everything. It
// returns the exit code for os.Exit: m.Run's, or 1 when the service cannot
// be set up.
func (e *Env) Run(m *testing.M, tempPrefix string) int {
	dir, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FATAL:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	e.Svc, err = Start(dir, 60*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: cannot start the reference AI service:", err)
		return 1
	}
	defer e.Svc.Stop()
	e.Client, err = aiworker.Dial(e.Svc.Addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: aiworker.Dial:", err)
		return 1
	}
	defer e.Client.Close()
	return m.Run()
}
