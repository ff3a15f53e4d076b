package gateway_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
	"github.com/thinkbank/libaiw/examples/go-backend/internal/testsvc"
)

// ---- expected values of the reference service (tests/refservice/README.md) ----

// refVector is the service's vector of content (testsvc.RefVector: the
// service's own formula); the visual one when visual.
func refVector(t *testing.T, content []byte, visual bool) []float32 {
	t.Helper()
	v, err := testsvc.RefVector(content, visual)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func refAnswer(query string) []string {
	return []string{"You asked: " + query + ". ", "This is the reference AI service; ",
		"its answers are deterministic, ", "streamed in five chunks, ", "with sources on the last one."}
}

type searchResult struct {
	AssetID      string            `json:"asset_id"`
	Score        float32           `json:"score"`
	Caption      string            `json:"caption"`
	MimeType     string            `json:"mime_type"`
	ThumbnailURL string            `json:"thumbnail_url"`
	Metadata     map[string]string `json:"metadata"`
}

type searchBody struct {
	Results    []searchResult `json:"results"`
	TotalCount *int32         `json:"total_count"`
}

type embedBody struct {
	SemanticVector []float32 `json:"semantic_vector"`
	VisualVector   []float32 `json:"visual_vector"`
	Success        bool      `json:"success"`
}

type processBody struct {
	AssetID  string   `json:"asset_id"`
	Success  bool     `json:"success"`
	Stage    string   `json:"stage"`
	Progress *float32 `json:"progress"`
	Error    string   `json:"error"`
}

type chatFrame struct {
	Chunk   *string        `json:"chunk"`
	IsFinal bool           `json:"is_final"`
	Sources []searchResult `json:"sources"`
}

func assetIDs(rs []searchResult) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.AssetID
	}
	return strings.Join(ids, ",")
}

func equalVectors(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", name, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s[%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

// ---- page and routing -----------------------------------------------------------

func TestIndexPage(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	r := ts.do(t, "GET", "/", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{`id="chat-form"`, `id="search-form"`, "getReader()", "/api/v1/ai/chat", "/api/v1/ai/search"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	ts.do(t, "GET", "/nope", "").wantError(t, 404, "NOT_FOUND", "")
	ts.do(t, "POST", "/", "{}").wantError(t, 405, "UNIMPLEMENTED", "")
}

func TestMethodNotAllowed(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	for _, p := range []string{"/api/v1/ai/embed", "/api/v1/ai/search", "/api/v1/ai/chat", "/api/v1/assets/a/process"} {
		r := ts.do(t, "GET", p, "")
		r.wantError(t, 405, "UNIMPLEMENTED", "")
		if r.header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q", p, r.header.Get("Allow"))
		}
	}
	ts.do(t, "POST", "/api/v1/ai/health", "{}").wantError(t, 405, "UNIMPLEMENTED", "")
}

// ---- health -------------------------------------------------------------------

func TestHealthHealthy(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	r := ts.do(t, "GET", "/api/v1/ai/health", "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var h healthBody
	r.decode(t, &h)
	if h.Status != "healthy" || h.GRPCEndpoint != env.Svc.Addr {
		t.Fatalf("body %s", r.body)
	}
}

func TestHealthUnreachable(t *testing.T) {
	target := freeAddr(t)
	c, err := aiworker.Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts := newServerWith(t, c, target, gateway.Config{HealthTimeout: 2 * time.Second})
	r := ts.do(t, "GET", "/api/v1/ai/health", "")
	if r.status != 503 {
		t.Fatalf("status %d, want 503: %s", r.status, r.body)
	}
	var h healthBody
	r.decode(t, &h)
	if h.Status != "unhealthy" || h.Error == "" {
		t.Fatalf("body %s", r.body)
	}
	// Every other endpoint reports the service as unavailable too.
	ts.do(t, "POST", "/api/v1/ai/search", `{"query":"q"}`).wantError(t, 503, "UNAVAILABLE", "")
	ts.do(t, "POST", "/api/v1/ai/chat", `{"query":"q"}`).wantError(t, 503, "UNAVAILABLE", "")
}

// ---- embed ----------------------------------------------------------------------

func TestEmbedText(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	var e embedBody
	r := ts.postOK(t, "/api/v1/ai/embed", `{"text":"hello"}`, &e)
	equalVectors(t, "semantic_vector", e.SemanticVector, refVector(t, []byte("hello"), false))
	if e.SemanticVector[0] != float32(-0.61) || len(e.VisualVector) != 0 || !e.Success {
		t.Fatalf("semantic[0]=%v visual=%d success=%v", e.SemanticVector[0], len(e.VisualVector), e.Success)
	}
	if !strings.Contains(string(r.body), `"visual_vector":[]`) {
		t.Errorf("visual_vector not an empty array: %.100s", r.body)
	}

	r = ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"hello","type":"both"}`)
	r.decode(t, &e)
	equalVectors(t, "semantic_vector", e.SemanticVector, refVector(t, []byte("hello"), false))
	equalVectors(t, "visual_vector", e.VisualVector, refVector(t, []byte("hello"), true))
}

func TestEmbedImage(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	data := []byte{0x61, 0x00, 0x62}
	body := fmt.Sprintf(`{"image":{"data":%q,"format":"png"},"type":"visual"}`, base64.StdEncoding.EncodeToString(data))
	var e embedBody
	ts.postOK(t, "/api/v1/ai/embed", body, &e)
	equalVectors(t, "visual_vector", e.VisualVector, refVector(t, data, true))
	if e.VisualVector[0] != float32(0.7972) || len(e.SemanticVector) != 0 {
		t.Fatalf("visual[0]=%v semantic=%d", e.VisualVector[0], len(e.SemanticVector))
	}

	// An unsupported format is success=false: 502 with the service's text.
	body = fmt.Sprintf(`{"image":{"data":%q,"format":"bmp"}}`, base64.StdEncoding.EncodeToString(data))
	ts.do(t, "POST", "/api/v1/ai/embed", body).wantError(t, 502, "SERVICE_ERROR", "unsupported image format: bmp")
}

func TestEmbedErrors(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"!fail:model not loaded"}`).
		wantError(t, 502, "SERVICE_ERROR", "model not loaded")
	ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"!error:RESOURCE_EXHAUSTED:gpu busy"}`).
		wantError(t, 429, "RESOURCE_EXHAUSTED", "gpu busy")
	ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"x","image":{"data":"AA==","format":"png"}}`).
		wantError(t, 400, "INVALID_ARGUMENT", "")
	ts.do(t, "POST", "/api/v1/ai/embed", `{}`).wantError(t, 400, "INVALID_ARGUMENT", "text or image is required")
	ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"x","type":"audio"}`).wantError(t, 400, "INVALID_ARGUMENT", "")
	ts.do(t, "POST", "/api/v1/ai/embed", `{"image":{"data":"not base64!","format":"png"}}`).
		wantError(t, 400, "INVALID_ARGUMENT", "")
}

// ---- search ---------------------------------------------------------------------

func TestSearchDefaults(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	var s searchBody
	r := ts.postOK(t, "/api/v1/ai/search", `{"query":"q"}`, &s)
	if s.TotalCount == nil || *s.TotalCount != 12 || len(s.Results) != 10 {
		t.Fatalf("total_count/results: %s", r.body)
	}
	if got := assetIDs(s.Results); got != "doc-001,img-002,doc-003,img-004,doc-005,img-006,doc-007,img-008,doc-009,img-010" {
		t.Fatalf("results %s", got)
	}
	first := s.Results[0]
	want := searchResult{AssetID: "doc-001", Score: 0.95, Caption: "Quarterly report 2024 Q1",
		MimeType: "application/pdf", ThumbnailURL: "https://thumbs.example.com/doc-001.jpg",
		Metadata: map[string]string{"owner": "alice", "year": "2024", "kind": "report"}}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Fatalf("first result\n got %+v\nwant %+v", first, want)
	}
	for _, key := range []string{`"asset_id"`, `"thumbnail_url"`, `"mime_type"`, `"total_count"`} {
		if !strings.Contains(string(r.body), key) {
			t.Errorf("body lacks %s", key)
		}
	}
}

func TestSearchTypeThresholdLimitFilters(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	r := ts.do(t, "POST", "/api/v1/ai/search", `{"query":"sunset","type":"visual","limit":2,"threshold":0.8,"filters":["image/"]}`)
	var s searchBody
	r.decode(t, &s)
	if r.status != 200 || *s.TotalCount != 4 || assetIDs(s.Results) != "img-002,img-004" || s.Results[0].Score != 0.97 {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	r = ts.do(t, "POST", "/api/v1/ai/search", `{"query":"q","type":"semantic","filters":["owner=alice"]}`)
	r.decode(t, &s)
	if assetIDs(s.Results) != "doc-001,doc-003,img-006" {
		t.Fatalf("owner=alice: %s", r.body)
	}
	r = ts.do(t, "POST", "/api/v1/ai/search", `{"query":"q","type":"hybrid","limit":1}`)
	r.decode(t, &s)
	if assetIDs(s.Results) != "img-002" || s.Results[0].Score != 0.875 {
		t.Fatalf("hybrid: %s", r.body)
	}
	// No match is an empty list, not null.
	r = ts.do(t, "POST", "/api/v1/ai/search", `{"query":"q","filters":["owner=nobody"]}`)
	if !strings.Contains(string(r.body), `"results":[]`) || !strings.Contains(string(r.body), `"total_count":0`) {
		t.Fatalf("no match: %s", r.body)
	}
}

// The request id reaches the AI service as x-request-id metadata, is echoed
// in the response header and is written in the access log.
func TestSearchEchoAndRequestID(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	var s searchBody
	r := ts.postOK(t, "/api/v1/ai/search",
		`{"query":"!echo","type":"hybrid","limit":7,"threshold":0.25,"filters":["a=b","image/"]}`, &s,
		"X-Request-Id: req-echo-42")
	if len(s.Results) != 1 {
		t.Fatalf("body %s", r.body)
	}
	e := s.Results[0]
	want := map[string]string{"query": "!echo", "type": "SEARCH_HYBRID", "limit": "7", "threshold": "0.25",
		"filters": "a=b|image/", "md:x-request-id": "req-echo-42"}
	for k, v := range want {
		if e.Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q", k, e.Metadata[k], v)
		}
	}
	if e.AssetID != "echo" || e.Score != 0.25 || e.MimeType != "SEARCH_HYBRID" || *s.TotalCount != 1 {
		t.Errorf("echo result %+v", e)
	}
	if got := r.header.Get("X-Request-Id"); got != "req-echo-42" {
		t.Errorf("response X-Request-Id %q", got)
	}
	if a, ok := ts.findAccess(t, "req-echo-42"); !ok || a.Method != "POST" || a.Path != "/api/v1/ai/search" ||
		a.Route != "/api/v1/ai/search" || a.Status != 200 || a.Bytes != int64(len(r.body)) {
		t.Errorf("access log line %+v (found %v); log:\n%s", a, ok, ts.log.String())
	}
}

func TestGeneratedRequestID(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	for _, header := range []string{"", "X-Request-Id: has space", "X-Request-Id: " + strings.Repeat("x", 200)} {
		var hs []string
		if header != "" {
			hs = append(hs, header)
		}
		r := ts.do(t, "POST", "/api/v1/ai/search", `{"query":"!echo"}`, hs...)
		id := r.header.Get("X-Request-Id")
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
			t.Fatalf("%q: generated id %q", header, id)
		}
		var s searchBody
		r.decode(t, &s)
		if got := s.Results[0].Metadata["md:x-request-id"]; got != id {
			t.Errorf("%q: service saw x-request-id %q, header says %q", header, got, id)
		}
		if _, ok := ts.findAccess(t, id); !ok {
			t.Errorf("%q: id %s not in the access log", header, id)
		}
	}
}

func TestSearchErrors(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	cases := []struct {
		code   string
		status int
	}{
		{"NOT_FOUND", 404}, {"UNAVAILABLE", 503}, {"PERMISSION_DENIED", 403}, {"UNAUTHENTICATED", 401},
		{"INTERNAL", 500}, {"FAILED_PRECONDITION", 400}, {"ALREADY_EXISTS", 409}, {"UNIMPLEMENTED", 501},
		{"DEADLINE_EXCEEDED", 504}, {"DATA_LOSS", 500}, {"OUT_OF_RANGE", 400}, {"ABORTED", 409},
	}
	for _, c := range cases {
		body := fmt.Sprintf(`{"query":"!error:%s:the message: with colons"}`, c.code)
		ts.do(t, "POST", "/api/v1/ai/search", body).wantError(t, c.status, c.code, "the message: with colons")
	}
	ts.do(t, "POST", "/api/v1/ai/search", `{"query":"!fail:index offline"}`).
		wantError(t, 502, "SERVICE_ERROR", "index offline")
	ts.do(t, "POST", "/api/v1/ai/search", `{"query":"q","limit":-1}`).wantError(t, 400, "INVALID_ARGUMENT", "")
	ts.do(t, "POST", "/api/v1/ai/search", `{"query":"q","type":"fuzzy"}`).wantError(t, 400, "INVALID_ARGUMENT", "")
	ts.do(t, "POST", "/api/v1/ai/search", `{"type":"semantic"}`).wantError(t, 400, "INVALID_ARGUMENT", "query is required")
}

func TestUnaryTimeout(t *testing.T) {
	ts := newServer(t, gateway.Config{Timeout: 300 * time.Millisecond})
	ts.do(t, "POST", "/api/v1/ai/search", `{"query":"!slow:5000"}`).wantError(t, 504, "DEADLINE_EXCEEDED", "")
}

func TestMalformedBodies(t *testing.T) {
	ts := newServer(t, gateway.Config{MaxBodyBytes: 1 << 10})
	common := []string{"", "  ", "{", `{"query":`, "not json", "[1,2]", `"a string"`, `{"query":"q"} trailing`, `{}{}`}
	typed := map[string][]string{
		"/api/v1/ai/embed": {`{"text":5}`, `{"image":"x"}`, `{"image":{"data":"AA==","format":7}}`, `{"text":"x","type":3}`},
		"/api/v1/ai/search": {`{"query":5}`, `{"query":"q","limit":"ten"}`, `{"query":"q","filters":"a"}`,
			`{"query":"q","limit":1.5}`, `{"query":"q","threshold":"high"}`},
		"/api/v1/ai/chat": {`{"query":5}`, `{"query":"q","history":{}}`, `{"query":"q","options":[]}`,
			`{"query":"q","history":[{"role":"user","timestamp":"x"}]}`, `{"query":"q","options":{"include_images":"yes"}}`},
		"/api/v1/assets/a1/process": {`{"file_path":5}`, `{"file_path":"x","options":[]}`,
			`{"file_path":"x","options":{"max_chunk_size":"big"}}`, `{"file_path":"x","options":{"enable_ocr":1}}`},
	}
	for p, bad := range typed {
		for _, b := range append(append([]string{}, common...), bad...) {
			r := ts.do(t, "POST", p, b)
			if r.status != 400 {
				t.Errorf("POST %s %q: status %d, want 400 (%.300s)", p, b, r.status, r.body)
				continue
			}
			var e apiError
			r.decode(t, &e)
			if e.Code != "INVALID_ARGUMENT" || e.Message == "" {
				t.Errorf("POST %s %q: %s", p, b, r.body)
			}
		}
		big := `{"query":"` + strings.Repeat("x", 2000) + `"}`
		ts.do(t, "POST", p, big).wantError(t, 413, "RESOURCE_EXHAUSTED", "")
	}
}

// ---- process --------------------------------------------------------------------

func TestProcess(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	var p processBody
	r := ts.postOK(t, "/api/v1/assets/a-17/process", `{"file_path":"bucket/a-17.pdf","mime_type":"application/pdf"}`, &p)
	if p.AssetID != "a-17" || !p.Success || p.Stage != "STAGE_COMPLETED" || p.Progress == nil || *p.Progress != 1 || p.Error != "" {
		t.Fatalf("body %s", r.body)
	}

	// Every field reaches the service: !echo (percent-encoded in the path).
	r = ts.do(t, "POST", "/api/v1/assets/%21echo/process",
		`{"file_path":"bucket/o b.png","mime_type":"image/png","options":{"enable_ocr":true,"enable_caption":false,"enable_embedding":true,"enable_summary":true,"max_chunk_size":512}}`)
	r.decode(t, &p)
	if want := "asset_id=!echo;file_path=bucket/o b.png;mime_type=image/png;ocr=1;caption=0;embedding=1;summary=1;max_chunk_size=512;options=1"; p.Error != want || p.Stage != "STAGE_PROCESSING" || *p.Progress != 0.5 {
		t.Fatalf("echo: %s\nwant error %q", r.body, want)
	}
	r = ts.do(t, "POST", "/api/v1/assets/!echo/process", `{"file_path":"f","mime_type":"text/plain"}`)
	r.decode(t, &p)
	if !strings.HasSuffix(p.Error, ";options=0") {
		t.Fatalf("echo without options: %s", r.body)
	}

	ts.do(t, "POST", "/api/v1/assets/!fail:disk%20full/process", `{"file_path":"f","mime_type":"text/plain"}`).
		wantError(t, 502, "SERVICE_ERROR", "disk full")
	ts.do(t, "POST", "/api/v1/assets/!error:NOT_FOUND:no such object/process", `{"file_path":"f","mime_type":"text/plain"}`).
		wantError(t, 404, "NOT_FOUND", "no such object")
	ts.do(t, "POST", "/api/v1/assets/a1/process", `{"mime_type":"x"}`).wantError(t, 400, "INVALID_ARGUMENT", "file_path is required")
	ts.do(t, "POST", "/api/v1/assets/a1/process", `{"file_path":"x"}`).wantError(t, 400, "INVALID_ARGUMENT", "mime_type is required")
	for _, p := range []string{"/api/v1/assets/", "/api/v1/assets//process", "/api/v1/assets/a1", "/api/v1/assets/a1/other", "/api/v1/assets/a1/process/x"} {
		ts.do(t, "POST", p, `{"file_path":"f","mime_type":"text/plain"}`).wantError(t, 404, "NOT_FOUND", "")
	}
}

// ---- chat -----------------------------------------------------------------------

func TestChatStream(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	resp := ts.postChat(t, `{"query":"hello"}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	evs := readAllEvents(t, resp.Body)
	want := refAnswer("hello")
	if len(evs) != len(want)+1 {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want)+1, evs)
	}
	// Exact framing of an ordinary message.
	if evs[0].raw != `data: {"chunk":"You asked: hello. "}` {
		t.Errorf("first event %q", evs[0].raw)
	}
	for i, w := range want {
		ev := evs[i]
		var f chatFrame
		if ev.name != "" || json.Unmarshal([]byte(ev.data), &f) != nil || f.Chunk == nil || *f.Chunk != w {
			t.Fatalf("event %d = %q, want chunk %q", i, ev.raw, w)
		}
		final := i == len(want)-1
		if f.IsFinal != final || strings.Contains(ev.data, "is_final") != final || strings.Contains(ev.data, "sources") != final {
			t.Errorf("event %d: is_final/sources wrong: %s", i, ev.data)
		}
		if final {
			if assetIDs(f.Sources) != "doc-001,doc-003,doc-005" || f.Sources[0].ThumbnailURL != "https://thumbs.example.com/doc-001.jpg" {
				t.Errorf("sources: %s", ev.data)
			}
		}
	}
	if last := evs[len(evs)-1]; last.raw != "data: [DONE]" {
		t.Errorf("last event %q, want data: [DONE]", last.raw)
	}
}

func TestChatEchoHistoryOptionsMetadata(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	resp := ts.postChat(t, `{"query":"!echo","history":[{"role":"user","content":"hi","timestamp":1700000000},{"role":"assistant","content":"hello there","timestamp":1700000005}],"options":{"max_context_docs":4,"similarity_threshold":0.5,"include_images":true,"stream_response":true}}`,
		"X-Request-Id: chat-echo-1")
	evs := readAllEvents(t, resp.Body)
	var chunks []string
	var final chatFrame
	for _, ev := range evs[:len(evs)-1] {
		var f chatFrame
		if err := json.Unmarshal([]byte(ev.data), &f); err != nil {
			t.Fatalf("event %q: %v", ev.raw, err)
		}
		chunks = append(chunks, *f.Chunk)
		final = f
	}
	want := []string{"user|hi|1700000000\n", "assistant|hello there|1700000005\n",
		"options:max_context_docs=4,similarity_threshold=0.5,include_images=1,stream_response=1"}
	if fmt.Sprintf("%q", chunks) != fmt.Sprintf("%q", want) {
		t.Fatalf("chunks %q\nwant   %q", chunks, want)
	}
	if !final.IsFinal || len(final.Sources) != 1 {
		t.Fatalf("final %+v", final)
	}
	md := final.Sources[0].Metadata
	if md["md:x-request-id"] != "chat-echo-1" || md["history"] != "2" || md["options"] != "1" {
		t.Errorf("source metadata %v", md)
	}
}

func TestChatErrorMidStream(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	resp := ts.postChat(t, `{"query":"!error-after:2:INTERNAL:boom"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	evs := readAllEvents(t, resp.Body)
	if len(evs) != 3 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	if evs[0].raw != `data: {"chunk":"chunk-0 "}` || evs[1].raw != `data: {"chunk":"chunk-1 "}` {
		t.Errorf("chunks %q %q", evs[0].raw, evs[1].raw)
	}
	if evs[2].raw != "event: error\n"+`data: {"code":"INTERNAL","message":"boom"}` {
		t.Errorf("error event %q", evs[2].raw)
	}
}

func TestChatErrorBeforeStream(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	ts.do(t, "POST", "/api/v1/ai/chat", `{"query":"!error:UNAVAILABLE:model warming up"}`).
		wantError(t, 503, "UNAVAILABLE", "model warming up")
	ts.do(t, "POST", "/api/v1/ai/chat", `{"query":""}`).wantError(t, 400, "INVALID_ARGUMENT", "query is required")
	ts.do(t, "POST", "/api/v1/ai/chat", `{"query":"q","history":[{"role":"system","content":"x"}]}`).
		wantError(t, 400, "INVALID_ARGUMENT", "")
}

func TestChatManyChunksFlushedInOrder(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	resp := ts.postChat(t, `{"query":"!many:200"}`)
	evs := readAllEvents(t, resp.Body)
	if len(evs) != 202 {
		t.Fatalf("%d events, want 202", len(evs))
	}
	for i := 0; i < 200; i++ {
		if want := fmt.Sprintf(`data: {"chunk":"chunk-%d "}`, i); evs[i].raw != want {
			t.Fatalf("event %d %q, want %q", i, evs[i].raw, want)
		}
	}
	if !strings.HasPrefix(evs[200].data, `{"chunk":"","is_final":true,"sources":[`) || evs[201].raw != "data: [DONE]" {
		t.Fatalf("tail %q %q", evs[200].raw, evs[201].raw)
	}
}

// Each message is flushed as it arrives: the first chunk is readable while
// the service is still sleeping before the second.
func TestChatHeartbeatAndIncrementalFlush(t *testing.T) {
	ts := newServer(t, gateway.Config{Heartbeat: 40 * time.Millisecond})
	resp := ts.postChat(t, `{"query":"!slow:300"}`)
	r := bufio.NewReader(resp.Body)
	var pings, data int
	var chunks []string
	for {
		ev, err := readEvent(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.comments) > 0 {
			if ev.raw != ": ping" {
				t.Fatalf("heartbeat %q", ev.raw)
			}
			pings++
			continue
		}
		data++
		if ev.data == "[DONE]" {
			break
		}
		var f chatFrame
		if err := json.Unmarshal([]byte(ev.data), &f); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, *f.Chunk)
	}
	if strings.Join(chunks, "") != strings.Join(refAnswer("!slow:300"), "") {
		t.Fatalf("answer %q", strings.Join(chunks, ""))
	}
	// Five gaps of 300 ms with a 40 ms heartbeat: there must be pings.
	if pings == 0 {
		t.Fatalf("no heartbeat comments")
	}
}

func TestChatTimeout(t *testing.T) {
	ts := newServer(t, gateway.Config{ChatTimeout: 800 * time.Millisecond})
	resp := ts.postChat(t, `{"query":"!slow:300"}`)
	switch resp.StatusCode {
	case 504: // the machine was too slow for even one chunk in time
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"DEADLINE_EXCEEDED"`) {
			t.Fatalf("504 body %s", b)
		}
	case 200:
		evs := readAllEvents(t, resp.Body)
		last := evs[len(evs)-1]
		if last.name != "error" || !strings.Contains(last.data, `"code":"DEADLINE_EXCEEDED"`) {
			t.Fatalf("last event %q", last.raw)
		}
	default:
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// When the browser goes away the gRPC stream is cancelled: the service
// records CANCELLED for this request id.
func TestChatClientDisconnectCancelsRPC(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	id := fmt.Sprintf("disconnect-%d", time.Now().UnixNano())
	resp := ts.postChat(t, `{"query":"!slow:300"}`, "X-Request-Id: "+id)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ev, err := readEvent(bufio.NewReader(resp.Body))
	if err != nil || ev.raw != `data: {"chunk":"You asked: !slow:300. "}` {
		t.Fatalf("first event %q %v", ev.raw, err)
	}
	resp.Body.Close() // the browser goes away after the first chunk
	got, err := env.Svc.WaitEvent("ChatStream", id, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "CANCELLED" {
		t.Fatalf("service outcome %q, want CANCELLED", got.Outcome)
	}
	if got.Metadata["x-request-id"] != id {
		t.Errorf("service metadata %v", got.Metadata)
	}
}

// A request that completes is recorded as OK with its id: the events file
// tells the cancelled case apart from a normal one.
func TestChatCompletedOutcomeOK(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	id := fmt.Sprintf("complete-%d", time.Now().UnixNano())
	resp := ts.postChat(t, `{"query":"hello"}`, "X-Request-Id: "+id)
	readAllEvents(t, resp.Body)
	got, err := env.Svc.WaitEvent("ChatStream", id, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "OK" {
		t.Fatalf("outcome %q", got.Outcome)
	}
}
