package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
	"github.com/thinkbank/libaiw/examples/go-backend/internal/testsvc"
)

// env is the reference service and a client of it, shared by the tests.
var env testsvc.Env

func TestMain(m *testing.M) { os.Exit(env.Run(m, "aiw-backend-test-")) }

type testServer struct {
	*httptest.Server
	log *testsvc.Buffer // the access log (and the gateway's other messages)
}

// newServer runs the gateway over the shared client; cfg.Target,
// cfg.Logger and cfg.AccessLog are filled in.
func newServer(t *testing.T, cfg gateway.Config) *testServer {
	t.Helper()
	return newServerWith(t, env.Client, env.Svc.Addr, cfg)
}

func newServerWith(t *testing.T, c gateway.AIClient, target string, cfg gateway.Config) *testServer {
	t.Helper()
	lb := &testsvc.Buffer{}
	cfg.Target = target
	cfg.Logger = log.New(lb, "", 0)
	cfg.AccessLog = lb
	ts := httptest.NewUnstartedServer(gateway.NewServer(c, cfg))
	gateway.ConfigureServer(ts.Config, cfg) // as aiw-backend does: header and body read deadlines
	ts.Start()
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, log: lb}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// send sends one request and returns the response with its body open;
// header is "Key: value" pairs.
func (ts *testServer) send(t *testing.T, method, path, body string, header ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// do sends one request and reads the whole answer.
func (ts *testServer) do(t *testing.T, method, path, body string, header ...string) response {
	t.Helper()
	resp := ts.send(t, method, path, body, header...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// postOK posts body to path, requires status 200 and decodes the answer
// into v.
func (ts *testServer) postOK(t *testing.T, path, body string, v interface{}, header ...string) response {
	t.Helper()
	r := ts.do(t, http.MethodPost, path, body, header...)
	if r.status != 200 {
		t.Fatalf("status %d: %.300s", r.status, r.body)
	}
	r.decode(t, v)
	return r
}

// decode unmarshals the body into v, failing the test on error.
func (r response) decode(t *testing.T, v interface{}) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not the expected JSON (%v): %s", err, r.body)
	}
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// wantError checks an error answer: status, JSON content type, code and
// (when message is not "") message.
func (r response) wantError(t *testing.T, status int, code, message string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e apiError
	r.decode(t, &e)
	if e.Code != code {
		t.Errorf("code %q, want %q (body %s)", e.Code, code, r.body)
	}
	if message != "" && e.Message != message {
		t.Errorf("message %q, want %q", e.Message, message)
	}
	if e.Message == "" {
		t.Errorf("empty error message (body %s)", r.body)
	}
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	name     string   // "" for the default
	data     string   // data lines joined by "\n"
	comments []string // ": ..." lines
	raw      string   // the event's lines as sent, without the blank line
}

// readEvent reads one event (up to a blank line); io.EOF at the end.
func readEvent(r *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	var lines, data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" && len(lines) == 0 {
				return ev, io.EOF
			}
			return ev, fmt.Errorf("unterminated event %q (%q): %w", lines, line, err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			ev.raw = strings.Join(lines, "\n")
			ev.data = strings.Join(data, "\n")
			return ev, nil
		}
		lines = append(lines, line)
		switch {
		case strings.HasPrefix(line, ":"):
			ev.comments = append(ev.comments, line)
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		default:
			return ev, fmt.Errorf("unexpected SSE line %q", line)
		}
	}
}

// readAllEvents reads events until EOF.
func readAllEvents(t *testing.T, body io.Reader) []sseEvent {
	t.Helper()
	r := bufio.NewReader(body)
	var out []sseEvent
	for {
		ev, err := readEvent(r)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		out = append(out, ev)
	}
}

// postChat starts a chat request and returns the response (body open).
func (ts *testServer) postChat(t *testing.T, body string, header ...string) *http.Response {
	t.Helper()
	resp := ts.send(t, http.MethodPost, "/api/v1/ai/chat", body, header...)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// freeAddr returns a local address where nothing listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// accessLine is one line of the JSON access log.
type accessLine struct {
	Time       string  `json:"time"`
	RequestID  string  `json:"request_id"`
	TraceID    string  `json:"trace_id"`
	Method     string  `json:"method"`
	Route      string  `json:"route"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	Bytes      int64   `json:"bytes"`
	DurationMS float64 `json:"duration_ms"`
	RemoteAddr string  `json:"remote_addr"`
}

// accessLines parses the access log lines written so far (the lines that
// are JSON objects; the gateway's other messages are not).
func (ts *testServer) accessLines(t *testing.T) []accessLine {
	t.Helper()
	var out []accessLine
	for _, line := range strings.Split(ts.log.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var a accessLine
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("access log line is not JSON (%v): %s", err, line)
		}
		out = append(out, a)
	}
	return out
}

// findAccess returns the access log line of request id, if written.
func (ts *testServer) findAccess(t *testing.T, id string) (accessLine, bool) {
	t.Helper()
	for _, a := range ts.accessLines(t) {
		if a.RequestID == id {
			return a, true
		}
	}
	return accessLine{}, false
}
