package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
)

// ---- NaN and the infinities (the reference service's !nan) -------------------

// Floats that are not finite are written as protobuf's JSON mapping writes
// them ("NaN", "Infinity", "-Infinity"), everything else as before.
func TestNaNInUnaryAnswers(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	r := ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"!nan"}`)
	if want := `{"semantic_vector":[0.5,"NaN","Infinity","-Infinity"],"visual_vector":["Infinity"],"success":true}` + "\n"; r.status != 200 || string(r.body) != want {
		t.Errorf("embed !nan: %d %s\nwant %s", r.status, r.body, want)
	}

	r = ts.do(t, "POST", "/api/v1/ai/search", `{"query":"!nan"}`)
	want := `{"results":[` +
		`{"asset_id":"nan","score":"NaN","caption":"nan","mime_type":"text/plain","thumbnail_url":"","metadata":{}},` +
		`{"asset_id":"inf","score":"Infinity","caption":"inf","mime_type":"text/plain","thumbnail_url":"","metadata":{}},` +
		`{"asset_id":"-inf","score":"-Infinity","caption":"-inf","mime_type":"text/plain","thumbnail_url":"","metadata":{}}` +
		`],"total_count":3}` + "\n"
	if r.status != 200 || string(r.body) != want {
		t.Errorf("search !nan: %d %s\nwant %s", r.status, r.body, want)
	}

	r = ts.do(t, "POST", "/api/v1/assets/!nan/process", `{"file_path":"f","mime_type":"text/plain"}`)
	if want := `{"asset_id":"!nan","success":true,"stage":"STAGE_PROCESSING","progress":"NaN"}` + "\n"; r.status != 200 || string(r.body) != want {
		t.Errorf("process !nan: %d %s\nwant %s", r.status, r.body, want)
	}

	// Finite floats keep encoding/json's form (the existing tests decode
	// them; this pins the text of a few).
	r = ts.do(t, "POST", "/api/v1/ai/search", `{"query":"q","type":"hybrid","limit":2}`)
	if !strings.Contains(string(r.body), `"asset_id":"img-002","score":0.875,`) ||
		!strings.Contains(string(r.body), `"asset_id":"img-004","score":0.75,`) {
		t.Errorf("finite scores changed: %s", r.body)
	}
	r = ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"hello"}`)
	if !strings.HasPrefix(string(r.body), `{"semantic_vector":[-0.61,0.0621,-0.361,`) {
		t.Errorf("finite vector changed: %.80s", r.body)
	}
}

// A NaN score in the sources of a chat's final message used to become an
// empty "data: " event.
func TestNaNInChatSources(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	resp := ts.postChat(t, `{"query":"!nan"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	evs := readAllEvents(t, resp.Body)
	want := []string{
		`data: {"chunk":"nan "}`,
		`data: {"chunk":"","is_final":true,"sources":[` +
			`{"asset_id":"nan","score":"NaN","caption":"nan","mime_type":"text/plain","thumbnail_url":"","metadata":{}},` +
			`{"asset_id":"inf","score":"Infinity","caption":"inf","mime_type":"text/plain","thumbnail_url":"","metadata":{}},` +
			`{"asset_id":"-inf","score":"-Infinity","caption":"-inf","mime_type":"text/plain","thumbnail_url":"","metadata":{}}]}`,
		`data: [DONE]`,
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i := range want {
		if evs[i].raw != want[i] {
			t.Errorf("event %d\n got %q\nwant %q", i, evs[i].raw, want[i])
		}
	}
}

// ---- read deadlines ---------------------------------------------------------------

// dialRaw opens a plain TCP connection to the test server.
func dialRaw(t *testing.T, ts *testServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trickle writes s one byte every interval until it is written, the
// connection fails or stop is closed.
func trickle(c net.Conn, s string, interval time.Duration, stop <-chan struct{}) {
	for i := 0; i < len(s); i++ {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
	}
}

// waitClosed reads from c until the server closes it, for at most limit;
// it returns what was read and when the connection ended.
func waitClosed(t *testing.T, c net.Conn, limit time.Duration) (string, time.Time) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still held by the server after %s (read so far %q)", limit, got)
			}
			return string(got), time.Now() // EOF or reset: closed by the server
		}
	}
}

// A client that sends its body one byte per second is answered 408 and cut
// off once Config.ReadTimeout has passed.
func TestSlowLorisBodyCutOff(t *testing.T) {
	const readTimeout = 1500 * time.Millisecond
	ts := newServer(t, gateway.Config{ReadTimeout: readTimeout})
	c := dialRaw(t, ts)
	body := `{"query":"` + strings.Repeat("x", 200) + `"}`
	head := fmt.Sprintf("POST /api/v1/ai/search HTTP/1.1\r\nHost: test\r\nX-Request-Id: loris-body\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go trickle(c, body, time.Second, stop)

	got, end := waitClosed(t, c, 15*time.Second)
	if took := end.Sub(start); took < readTimeout-100*time.Millisecond || took > readTimeout+3*time.Second {
		t.Errorf("connection closed after %s, want about %s", took, readTimeout)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil {
		t.Fatalf("no HTTP answer before the close (%v): %q", err, got)
	}
	b, _ := io.ReadAll(resp.Body)
	response{status: resp.StatusCode, header: resp.Header, body: b}.
		wantError(t, 408, "DEADLINE_EXCEEDED", "request not received within 1.5s")
	if !resp.Close {
		t.Errorf("408 without Connection: close: %v", resp.Header)
	}
	if line := waitLogLine(t, ts, "loris-body"); line.Status != 408 {
		t.Errorf("access log %+v", line)
	}
}

// The chat endpoint reads its body under the same deadline.
func TestSlowLorisChatBodyCutOff(t *testing.T) {
	ts := newServer(t, gateway.Config{ReadTimeout: 700 * time.Millisecond})
	c := dialRaw(t, ts)
	body := `{"query":"hello"}`
	head := fmt.Sprintf("POST /api/v1/ai/chat HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go trickle(c, body, time.Second, stop)
	got, _ := waitClosed(t, c, 10*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Fatalf("answer %q, want a 408", got)
	}
}

// Headers sent one byte at a time are cut off after Config.ReadHeaderTimeout.
func TestSlowLorisHeadersCutOff(t *testing.T) {
	const headerTimeout = 500 * time.Millisecond
	ts := newServer(t, gateway.Config{ReadHeaderTimeout: headerTimeout})
	c := dialRaw(t, ts)
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go trickle(c, "GET /api/v1/ai/health HTTP/1.1\r\nHost: test\r\nX-Slow: "+strings.Repeat("a", 100)+"\r\n\r\n",
		100*time.Millisecond, stop)
	_, end := waitClosed(t, c, 10*time.Second)
	if took := end.Sub(start); took > headerTimeout+3*time.Second {
		t.Errorf("connection closed after %s, want about %s", took, headerTimeout)
	}
}

// ReadTimeout bounds reading the request only: a chat streaming for longer
// than it completes, and a browser that goes away after the deadline would
// have passed is still noticed (the RPC is cancelled).
func TestChatLongerThanReadTimeout(t *testing.T) {
	ts := newServer(t, gateway.Config{ReadTimeout: 300 * time.Millisecond, ReadHeaderTimeout: 300 * time.Millisecond})
	start := time.Now()
	resp := ts.postChat(t, `{"query":"!slow:250"}`, "X-Request-Id: long-chat")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	finishChat(t, resp, "long-chat")
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the chat took %s: not longer than ReadTimeout", took)
	}
	if line := waitLogLine(t, ts, "long-chat"); line.Status != 200 {
		t.Errorf("access log %+v", line)
	}

	id := fmt.Sprintf("late-disconnect-%d", time.Now().UnixNano())
	resp = ts.postChat(t, `{"query":"!slow:400"}`, "X-Request-Id: "+id)
	if _, err := readEvent(bufio.NewReader(resp.Body)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // past the body's read deadline
	resp.Body.Close()
	got, err := env.Svc.WaitEvent("ChatStream", id, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "CANCELLED" {
		t.Errorf("service outcome %q, want CANCELLED", got.Outcome)
	}
}

// ---- the access log: 499 for a client that went away -------------------------------

// waitLogLine waits for the access log line of request id and returns it.
func waitLogLine(t *testing.T, ts *testServer, id string) accessLine {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a, ok := ts.findAccess(t, id); ok {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for %s within 10s; log:\n%s", id, ts.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A chat the browser dropped before anything was written is logged 499, not
// status 200 with 0 bytes; so is one dropped mid-stream. A chat read to its end
// stays 200.
func TestAccessLogClientClosedChat(t *testing.T) {
	ts := newServer(t, gateway.Config{}) // default heartbeat (15s): nothing is written for a while

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", ts.URL+"/api/v1/ai/chat", strings.NewReader(`{"query":"!slow:3000"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", "dropped-early")
	time.AfterFunc(300*time.Millisecond, cancel)
	if resp, err := ts.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the chat answered %d before its first message", resp.StatusCode)
	}
	if line := waitLogLine(t, ts, "dropped-early"); line.Status != 499 || line.Bytes != 0 {
		t.Errorf("access log %+v, want status 499, bytes 0", line)
	}

	resp := ts.postChat(t, `{"query":"!slow:300"}`, "X-Request-Id: dropped-mid")
	if _, err := readEvent(bufio.NewReader(resp.Body)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if line := waitLogLine(t, ts, "dropped-mid"); line.Status != 499 || line.Bytes <= 0 {
		t.Errorf("access log %+v, want status 499 with the bytes sent", line)
	}

	finishChat(t, ts.postChat(t, `{"query":"hello"}`, "X-Request-Id: read-to-end"), "read-to-end")
	if line := waitLogLine(t, ts, "read-to-end"); line.Status != 200 {
		t.Errorf("access log %+v, want status 200", line)
	}
}

// Strings with NUL bytes in answers (issue 10) reach the browser whole, as
// JSON's \u0000, in unary answers, in errors and in chat events.
func TestNULInAnswers(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	r := ts.do(t, "POST", "/api/v1/ai/search", `{"query":"!nul"}`)
	r.wantError(t, 502, "SERVICE_ERROR", "error\x00after NUL")
	if !strings.Contains(string(r.body), `error\u0000after NUL`) {
		t.Errorf("search !nul: %s", r.body)
	}
	resp := ts.postChat(t, `{"query":"!nul"}`)
	evs := readAllEvents(t, resp.Body)
	if len(evs) < 2 || evs[0].raw != `data: {"chunk":"before\u0000after "}` ||
		!strings.Contains(evs[1].raw, `"chunk":"second\u0000chunk"`) || !strings.Contains(evs[1].raw, `cap\u0000tion`) {
		t.Fatalf("chat !nul events: %+v", evs)
	}
}
