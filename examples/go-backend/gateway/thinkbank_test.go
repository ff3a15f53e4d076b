package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
)

// ThinkBank's web UI (web-ui/src/lib/api.ts, chatWithAssets) sends
//
//	fetch(`${API_BASE}/api/v1/chat`, {method: 'POST',
//	  headers: {'Content-Type': 'application/json'},
//	  body: JSON.stringify({query, history, top_k: topK})})
//
// with history = [{role, content}, ...] and topK = 5, and a browser's
// fetch sends Accept: */*. These tests send exactly that.

// thinkBankChat posts ThinkBank's chat body as its web UI does; accept is
// the Accept header ("" = fetch's default, */*).
func (ts *testServer) thinkBankChat(t *testing.T, body, accept string, header ...string) response {
	t.Helper()
	if accept == "" {
		accept = "*/*"
	}
	return ts.do(t, "POST", "/api/v1/chat", body, append([]string{"Accept: " + accept}, header...)...)
}

type thinkBankAnswer struct {
	Answer  *string        `json:"answer"`
	Sources []searchResult `json:"sources"`
}

const thinkBankBody = `{"query":"What is in the quarterly report?","history":[` +
	`{"role":"user","content":"hi"},{"role":"assistant","content":"Hello! How can I help?"}],"top_k":5}`

// Without Accept: text/event-stream the answer is one JSON document
// {answer, sources}: the chunks concatenated, the final message's sources
// in the other routes' form, the same as the stream gives.
func TestThinkBankChatJSON(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	r := ts.thinkBankChat(t, thinkBankBody, "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var keys map[string]json.RawMessage
	r.decode(t, &keys)
	if len(keys) != 2 || keys["answer"] == nil || keys["sources"] == nil {
		t.Fatalf("body %s: want exactly answer and sources", r.body)
	}
	var a thinkBankAnswer
	r.decode(t, &a)
	want := strings.Join(refAnswer("What is in the quarterly report?"), "")
	if a.Answer == nil || *a.Answer != want {
		t.Fatalf("answer %q, want %q", deref(a.Answer), want)
	}
	if len(a.Sources) == 0 || a.Sources[0].AssetID == "" || a.Sources[0].Metadata == nil {
		t.Fatalf("sources %+v", a.Sources)
	}
	if v := r.header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "Accept") {
		t.Errorf("Vary %q, want Accept", v)
	}

	// The same request as a stream: the same chunks and sources.
	resp := ts.send(t, "POST", "/api/v1/chat", thinkBankBody, "Accept: text/event-stream")
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("stream: %d %q", resp.StatusCode, ct)
	}
	var sb strings.Builder
	var final chatFrame
	for _, ev := range readAllEvents(t, resp.Body) {
		if ev.data == "" || ev.data == "[DONE]" {
			continue
		}
		var f chatFrame
		if err := json.Unmarshal([]byte(ev.data), &f); err != nil {
			t.Fatal(err)
		}
		sb.WriteString(deref(f.Chunk))
		if f.IsFinal {
			final = f
		}
	}
	if sb.String() != *a.Answer || assetIDs(final.Sources) != assetIDs(a.Sources) {
		t.Errorf("stream %q %s, JSON %q %s", sb.String(), assetIDs(final.Sources), *a.Answer, assetIDs(a.Sources))
	}
	// The SSE sources and the JSON sources are the same objects.
	js, _ := json.Marshal(a.Sources)
	ss, _ := json.Marshal(final.Sources)
	if string(js) != string(ss) {
		t.Errorf("sources differ:\nJSON %s\nSSE  %s", js, ss)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// history is mapped as on /api/v1/ai/chat (role, content; no timestamp:
// 0) and top_k becomes ChatOptions.max_context_docs; without top_k no
// options are sent.
func TestThinkBankChatRequestMapping(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	body := `{"query":"!echo","history":[{"role":"user","content":"hi"},{"role":"assistant","content":"Hello!"}],"top_k":5}`
	r := ts.thinkBankChat(t, body, "", "X-Request-Id: tb-echo")
	var a thinkBankAnswer
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	r.decode(t, &a)
	want := "user|hi|0\nassistant|Hello!|0\n" +
		"options:max_context_docs=5,similarity_threshold=0.0,include_images=0,stream_response=0"
	if deref(a.Answer) != want {
		t.Errorf("answer %q, want %q", deref(a.Answer), want)
	}
	if len(a.Sources) != 1 || a.Sources[0].Metadata["history"] != "2" || a.Sources[0].Metadata["options"] != "1" ||
		a.Sources[0].Metadata["md:x-request-id"] != "tb-echo" || a.Sources[0].Caption != "!echo" {
		t.Errorf("sources %+v", a.Sources)
	}

	r = ts.thinkBankChat(t, `{"query":"!echo","history":[]}`, "")
	r.decode(t, &a)
	if !strings.HasSuffix(deref(a.Answer), "options:max_context_docs=0,similarity_threshold=0.0,include_images=0,stream_response=0") ||
		a.Sources[0].Metadata["options"] != "0" {
		t.Errorf("without top_k: %s", r.body)
	}

	// Bad bodies: 400 as on /api/v1/ai/chat; a wrong method 405.
	for _, b := range []string{`{"history":[]}`, `{"query":"q","top_k":-1}`, `{"query":"q","top_k":"5"}`,
		`{"query":"q","history":[{"role":"robot","content":"x"}]}`, `not json`} {
		ts.thinkBankChat(t, b, "").wantError(t, 400, "INVALID_ARGUMENT", "")
	}
	ts.do(t, "GET", "/api/v1/chat", "").wantError(t, 405, "UNIMPLEMENTED", "")
}

// With Accept: text/event-stream the answer is /api/v1/ai/chat's stream.
func TestThinkBankChatSSE(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	for _, accept := range []string{"text/event-stream", "application/json;q=0.5, Text/Event-Stream"} {
		resp := ts.send(t, "POST", "/api/v1/chat", `{"query":"hello","history":[{"role":"user","content":"hi"}],"top_k":5}`,
			"Accept: "+accept)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream; charset=utf-8" {
			t.Fatalf("Accept %q: %d %q", accept, resp.StatusCode, ct)
		}
		evs := readAllEvents(t, resp.Body)
		resp.Body.Close()
		chunks := refAnswer("hello")
		if len(evs) != len(chunks)+1 || evs[len(evs)-1].data != "[DONE]" {
			t.Fatalf("Accept %q: events %+v", accept, evs)
		}
		for i, c := range chunks {
			var f chatFrame
			if err := json.Unmarshal([]byte(evs[i].data), &f); err != nil || deref(f.Chunk) != c {
				t.Errorf("event %d %q, want chunk %q", i, evs[i].data, c)
			}
			if (i == len(chunks)-1) != f.IsFinal || (f.IsFinal && len(f.Sources) == 0) {
				t.Errorf("event %d: %s", i, evs[i].data)
			}
		}
	}
	// q=0 refuses the stream: JSON.
	r := ts.thinkBankChat(t, `{"query":"hello"}`, "text/event-stream;q=0, application/json")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("Accept with q=0: %q", r.header.Get("Content-Type"))
	}
}

// Failures of the JSON form are ordinary JSON errors with the code's HTTP
// status, also after some chunks arrived (nothing was sent yet); a client
// that goes away is logged 499 and the call cancelled; -max-chats counts.
func TestThinkBankChatErrors(t *testing.T) {
	ts := newMetricsServer(t, gateway.Config{MaxChats: 1})
	ts.thinkBankChat(t, `{"query":"!error:NOT_FOUND:no such thing"}`, "").wantError(t, 404, "NOT_FOUND", "no such thing")
	ts.thinkBankChat(t, `{"query":"!error-after:2:INTERNAL:boom"}`, "").wantError(t, 500, "INTERNAL", "boom")

	id := "tb-dropped-" + time.Now().Format("150405.000000")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/api/v1/chat", strings.NewReader(`{"query":"!hold:5000","history":[],"top_k":5}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", id)
	time.AfterFunc(300*time.Millisecond, cancel)
	if resp, err := ts.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d before the stream ended", resp.StatusCode)
	}
	if a := waitLogLine(t, ts, id); a.Status != 499 || a.Route != "/api/v1/chat" {
		t.Errorf("access log %+v, want 499", a)
	}
	if ev, err := env.Svc.WaitEvent("ChatStream", id, 10*time.Second); err != nil || ev.Outcome != "CANCELLED" {
		t.Errorf("service event %+v %v, want CANCELLED", ev, err)
	}

	// One chat at a time (MaxChats 1): a second one while a chat is held is 503.
	done := make(chan response, 1)
	go func() { done <- ts.thinkBankChat(t, `{"query":"!hold:2000"}`, "") }()
	for deadline := time.Now().Add(5 * time.Second); ts.scrape(t).value(t, "aiw_backend_chat_streams_open") != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the held chat never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.thinkBankChat(t, `{"query":"hello"}`, "").wantError(t, 503, "UNAVAILABLE", "too many concurrent chats (limit 1)")
	if r := <-done; r.status != 200 {
		t.Errorf("the held chat: %d %s", r.status, r.body)
	}
}

// GET /api/v1/ai/health carries ThinkBank's available, host, port (a
// string, as ThinkBank's backend sends it) and message beside the
// gateway's own fields.
func TestThinkBankHealth(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	r := ts.do(t, "GET", "/api/v1/ai/health", "", "Accept: */*")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var raw map[string]interface{}
	r.decode(t, &raw)
	host, port, _ := net.SplitHostPort(env.Svc.Addr)
	if raw["available"] != true || raw["host"] != host || raw["port"] != port || raw["message"] == "" ||
		raw["status"] != "healthy" || raw["grpc_endpoint"] != env.Svc.Addr || raw["connectivity"] != "READY" ||
		raw["serving_status"] != "SERVING" {
		t.Fatalf("body %s", r.body)
	}

	target := freeAddr(t)
	c, err := aiworker.Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	down := newServerWith(t, c, "dns:///"+target, gateway.Config{})
	st, h := down.health(t)
	host, port, _ = net.SplitHostPort(target)
	if st != 503 || h.Available || h.Host != host || h.Port != port ||
		!strings.Contains(h.Message, "UNAVAILABLE") || h.Status != "unhealthy" {
		t.Fatalf("%d %+v", st, h)
	}
}
