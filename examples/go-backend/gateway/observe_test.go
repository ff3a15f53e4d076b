package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
)

// ---- metrics ----------------------------------------------------------------------

// newMetricsServer runs the gateway with metrics of its own over a client
// of its own dialled with the metrics' interceptors, as aiw-backend does,
// so that the counts are this test's alone.
func newMetricsServer(t *testing.T, cfg gateway.Config) *testServer {
	t.Helper()
	m := gateway.NewMetrics()
	c, err := aiworker.Dial(env.Svc.Addr, m.DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cfg.Metrics = m
	return newServerWith(t, c, env.Svc.Addr, cfg)
}

// scrape is one GET /metrics, parsed as the Prometheus text format.
type scrape map[string]*dto.MetricFamily

func (ts *testServer) scrape(t *testing.T) scrape {
	t.Helper()
	r := ts.do(t, "GET", "/metrics", "")
	if r.status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatalf("GET /metrics is not the Prometheus text format: %v\n%s", err, r.body)
	}
	return fams
}

// metric finds the sample of family name whose labels are exactly labels
// ("k=v" pairs); nil when there is none.
func (s scrape) metric(t *testing.T, name string, labels ...string) *dto.Metric {
	t.Helper()
	fam := s[name]
	if fam == nil {
		return nil
	}
	want := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		want[k] = v
	}
next:
	for _, m := range fam.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		for _, lp := range m.Label {
			if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or a gauge's value (0 when absent), or a
// histogram's sample count.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := s.metric(t, name, labels...)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("%s: neither counter, gauge nor histogram", name)
	return 0
}

// sum is a histogram's sample sum (0 when absent).
func (s scrape) sum(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	if m := s.metric(t, name, labels...); m != nil && m.Histogram != nil {
		return m.Histogram.GetSampleSum()
	}
	return 0
}

// wantDelta checks that name{labels} moved by want between two scrapes.
func wantDelta(t *testing.T, before, after scrape, want float64, name string, labels ...string) {
	t.Helper()
	if d := after.value(t, name, labels...) - before.value(t, name, labels...); d != want {
		t.Errorf("%s%v moved by %v, want %v", name, labels, d, want)
	}
}

var (
	embedOK      = []string{"grpc_service=ai_service.AiWorker", "grpc_method=GetEmbedding", "grpc_type=unary", "grpc_code=OK"}
	embedLatency = []string{"grpc_service=ai_service.AiWorker", "grpc_method=GetEmbedding", "grpc_type=unary"}
	chatOK       = []string{"grpc_service=ai_service.AiWorker", "grpc_method=ChatStream", "grpc_type=server_stream", "grpc_code=OK"}
)

// An embedding moves the AI call counter for GetEmbedding/OK, its latency
// histogram and the HTTP counter and histogram of its route; a failing one
// its code; the runtime collectors are there; a path that is no route is
// counted as "other".
func TestMetricsUnaryAndHTTP(t *testing.T) {
	ts := newMetricsServer(t, gateway.Config{})
	before := ts.scrape(t)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "aiw_backend_chat_streams_open",
		"aiw_backend_http_requests_in_flight"} {
		if before[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	var e embedBody
	ts.postOK(t, "/api/v1/ai/embed", `{"text":"hello"}`, &e)
	after := ts.scrape(t)
	for _, name := range []string{"aiw_backend_ai_calls_total", "aiw_backend_http_requests_total"} {
		if f := after[name]; f == nil || f.GetType() != dto.MetricType_COUNTER || f.GetHelp() == "" {
			t.Errorf("%s: %v", name, f)
		}
	}
	wantDelta(t, before, after, 1, "aiw_backend_ai_calls_total", embedOK...)
	wantDelta(t, before, after, 1, "aiw_backend_ai_call_duration_seconds", embedLatency...)
	wantDelta(t, before, after, 1, "aiw_backend_http_requests_total", "route=/api/v1/ai/embed", "method=POST", "code=200")
	wantDelta(t, before, after, 1, "aiw_backend_http_request_duration_seconds", "route=/api/v1/ai/embed", "method=POST")
	// The first scrape itself was counted by the time of the second.
	if after.value(t, "aiw_backend_http_requests_total", "route=/metrics", "method=GET", "code=200") < 1 {
		t.Errorf("the scrape of /metrics is not counted")
	}
	if f := after["aiw_backend_ai_call_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("aiw_backend_ai_call_duration_seconds is a %v", f.GetType())
	}

	// A failure: its gRPC code, and the HTTP status the gateway answered.
	ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"!error:NOT_FOUND:nope"}`).wantError(t, 404, "NOT_FOUND", "nope")
	ts.do(t, "GET", "/no/such/route", "").wantError(t, 404, "NOT_FOUND", "")
	ts.do(t, "POST", "/api/v1/assets/a-1/process", `{"file_path":"b/o.pdf","mime_type":"application/pdf"}`)
	third := ts.scrape(t)
	wantDelta(t, after, third, 1, "aiw_backend_ai_calls_total", "grpc_service=ai_service.AiWorker",
		"grpc_method=GetEmbedding", "grpc_type=unary", "grpc_code=NOT_FOUND")
	wantDelta(t, after, third, 1, "aiw_backend_http_requests_total", "route=/api/v1/ai/embed", "method=POST", "code=404")
	wantDelta(t, after, third, 1, "aiw_backend_http_requests_total", "route=other", "method=GET", "code=404")
	wantDelta(t, after, third, 1, "aiw_backend_http_requests_total", "route=/api/v1/assets/{id}/process", "method=POST", "code=200")
	wantDelta(t, after, third, 1, "aiw_backend_ai_calls_total", "grpc_service=ai_service.AiWorker",
		"grpc_method=ProcessAsset", "grpc_type=unary", "grpc_code=OK")

	// The health endpoint's calls: GetEmbedding and grpc.health.v1 Check.
	ts.do(t, "GET", "/api/v1/ai/health", "")
	fourth := ts.scrape(t)
	wantDelta(t, third, fourth, 1, "aiw_backend_ai_calls_total", embedOK...)
	wantDelta(t, third, fourth, 1, "aiw_backend_ai_calls_total", "grpc_service=grpc.health.v1.Health",
		"grpc_method=Check", "grpc_type=unary", "grpc_code=OK")
	if r := ts.do(t, "POST", "/metrics", "{}"); r.status != 405 {
		t.Errorf("POST /metrics: %d", r.status)
	}
}

// A chat read to its end: one ChatStream OK, its 5 chunks in
// chunks_per_stream, one time to first chunk; the streams gauge back to 0.
// A chat that fails mid-stream counts its code and the chunks it got.
func TestMetricsChat(t *testing.T) {
	ts := newMetricsServer(t, gateway.Config{})
	before := ts.scrape(t)
	finishChat(t, ts.postChat(t, `{"query":"hello"}`, "X-Request-Id: metrics-chat"), "metrics-chat")
	after := ts.scrape(t)
	wantDelta(t, before, after, 1, "aiw_backend_ai_calls_total", chatOK...)
	wantDelta(t, before, after, 1, "aiw_backend_chat_chunks_per_stream")
	if d := after.sum(t, "aiw_backend_chat_chunks_per_stream") - before.sum(t, "aiw_backend_chat_chunks_per_stream"); d != 5 {
		t.Errorf("chunks_per_stream sum moved by %v, want 5", d)
	}
	wantDelta(t, before, after, 1, "aiw_backend_chat_first_chunk_seconds")
	wantDelta(t, before, after, 1, "aiw_backend_http_requests_total", "route=/api/v1/ai/chat", "method=POST", "code=200")
	if v := after.value(t, "aiw_backend_chat_streams_open"); v != 0 {
		t.Errorf("streams open after the chat: %v", v)
	}

	resp := ts.postChat(t, `{"query":"!error-after:2:INTERNAL:boom"}`)
	readAllEvents(t, resp.Body)
	third := ts.scrape(t)
	wantDelta(t, after, third, 1, "aiw_backend_ai_calls_total", "grpc_service=ai_service.AiWorker",
		"grpc_method=ChatStream", "grpc_type=server_stream", "grpc_code=INTERNAL")
	if d := third.sum(t, "aiw_backend_chat_chunks_per_stream") - after.sum(t, "aiw_backend_chat_chunks_per_stream"); d != 2 {
		t.Errorf("chunks_per_stream sum moved by %v, want 2", d)
	}
}

// The open streams gauge counts the chats held open right now; the time to
// first chunk of a chat whose service holds it silent for 1 s is about 1 s.
func TestMetricsOpenStreamsGauge(t *testing.T) {
	ts := newMetricsServer(t, gateway.Config{})
	before := ts.scrape(t)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest("POST", ts.URL+"/api/v1/ai/chat", strings.NewReader(`{"query":"!hold:1500"}`))
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Errorf("held chat %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
		}(i)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v := ts.scrape(t).value(t, "aiw_backend_chat_streams_open"); v == 2 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("streams open %v while two chats are held, want 2", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	after := ts.scrape(t)
	if v := after.value(t, "aiw_backend_chat_streams_open"); v != 0 {
		t.Errorf("streams open after the chats: %v", v)
	}
	wantDelta(t, before, after, 2, "aiw_backend_chat_first_chunk_seconds")
	if d := after.sum(t, "aiw_backend_chat_first_chunk_seconds") - before.sum(t, "aiw_backend_chat_first_chunk_seconds"); d < 2*1.4 || d > 2*5 {
		t.Errorf("time to first chunk of two chats held 1.5 s: %v s in all", d)
	}

	// !slow:MS: the first chunk after MS, the stream open until the end.
	start := time.Now()
	finishChat(t, ts.postChat(t, `{"query":"!slow:200"}`, "X-Request-Id: metrics-slow"), "metrics-slow")
	took := time.Since(start).Seconds()
	third := ts.scrape(t)
	if d := third.sum(t, "aiw_backend_chat_first_chunk_seconds") - after.sum(t, "aiw_backend_chat_first_chunk_seconds"); d < 0.15 || d > took/2 {
		t.Errorf("time to first chunk of a !slow:200 chat: %v s (the chat took %v s)", d, took)
	}
	if d := third.sum(t, "aiw_backend_ai_call_duration_seconds", "grpc_service=ai_service.AiWorker",
		"grpc_method=ChatStream", "grpc_type=server_stream") - after.sum(t, "aiw_backend_ai_call_duration_seconds",
		"grpc_service=ai_service.AiWorker", "grpc_method=ChatStream", "grpc_type=server_stream"); d < 0.9 {
		t.Errorf("duration of a !slow:200 chat (5 chunks): %v s", d)
	}
}

// A chat the browser drops while it is held: CANCELLED, the gauge back to 0,
// HTTP 499.
func TestMetricsDroppedChat(t *testing.T) {
	ts := newMetricsServer(t, gateway.Config{})
	before := ts.scrape(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/api/v1/ai/chat", strings.NewReader(`{"query":"!hold:5000"}`))
	req.Header.Set("X-Request-Id", "metrics-dropped")
	time.AfterFunc(300*time.Millisecond, cancel)
	if resp, err := ts.Client().Do(req); err == nil {
		resp.Body.Close()
	}
	waitLogLine(t, ts, "metrics-dropped")
	after := ts.scrape(t)
	wantDelta(t, before, after, 1, "aiw_backend_ai_calls_total", "grpc_service=ai_service.AiWorker",
		"grpc_method=ChatStream", "grpc_type=server_stream", "grpc_code=CANCELLED")
	wantDelta(t, before, after, 1, "aiw_backend_http_requests_total", "route=/api/v1/ai/chat", "method=POST", "code=499")
	wantDelta(t, before, after, 0, "aiw_backend_chat_first_chunk_seconds")
	if v := after.value(t, "aiw_backend_chat_streams_open"); v != 0 {
		t.Errorf("streams open after the dropped chat: %v", v)
	}
}

// ---- trace context ------------------------------------------------------------------

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

// splitTraceparent returns the trace id, parent id and flags of a version
// 00 traceparent, failing the test if it is not one.
func splitTraceparent(t *testing.T, what, tp string) (traceID, parentID, flags string) {
	t.Helper()
	m := traceparentRE.FindStringSubmatch(tp)
	if m == nil || strings.Trim(m[1], "0") == "" || strings.Trim(m[2], "0") == "" {
		t.Fatalf("%s: %q is not a valid traceparent", what, tp)
	}
	return m[1], m[2], m[3]
}

// serviceMetadata is the request metadata the reference service logged in
// its events file for the call of rpc with request id id.
func serviceMetadata(t *testing.T, rpc, id string) map[string]string {
	t.Helper()
	ev, err := env.Svc.WaitEvent(rpc, id, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return ev.Metadata
}

// A valid traceparent crosses from HTTP to the gRPC metadata (same trace
// id, a new parent id, same flags) and back in the response unchanged;
// tracestate is passed on; the access log has the trace id.
func TestTraceparentPropagated(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tp := "00-" + traceID + "-" + parent + "-01"
	cases := []struct{ rpc, path, body string }{
		{"VectorSearch", "/api/v1/ai/search", `{"query":"q","limit":1}`},
		{"GetEmbedding", "/api/v1/ai/embed", `{"text":"hello"}`},
		{"ChatStream", "/api/v1/ai/chat", `{"query":"hello"}`},
		{"ChatStream", "/api/v1/chat", `{"query":"hello","history":[],"top_k":5}`},
	}
	seen := map[string]bool{parent: true}
	for i, c := range cases {
		id := fmt.Sprintf("trace-%d-%d", i, time.Now().UnixNano())
		r := ts.do(t, "POST", c.path, c.body, "X-Request-Id: "+id, "traceparent: "+tp,
			"tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", c.path, r.status, r.body)
		}
		if got := r.header.Get("Traceparent"); got != tp {
			t.Errorf("%s: response traceparent %q, want %q echoed", c.path, got, tp)
		}
		md := serviceMetadata(t, c.rpc, id)
		gotTrace, gotParent, flags := splitTraceparent(t, c.rpc+" metadata", md["traceparent"])
		if gotTrace != traceID || flags != "01" {
			t.Errorf("%s: the service saw traceparent %q, want trace id %s and flags 01", c.path, md["traceparent"], traceID)
		}
		if seen[gotParent] {
			t.Errorf("%s: parent id %s sent to the service is not a new span id", c.path, gotParent)
		}
		seen[gotParent] = true
		if got := md["tracestate"]; got != "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7" {
			t.Errorf("%s: the service saw tracestate %q", c.path, got)
		}
		if a := waitLogLine(t, ts, id); a.TraceID != traceID {
			t.Errorf("%s: access log trace_id %q", c.path, a.TraceID)
		}
	}
	// Each call gets its own span: two calls of one request (the health
	// endpoint's) have different parent ids. Their metadata is visible
	// through !echo: a search echoes the metadata it got.
	var s1, s2 searchBody
	ts.postOK(t, "/api/v1/ai/search", `{"query":"!echo"}`, &s1, "traceparent: "+tp)
	ts.postOK(t, "/api/v1/ai/search", `{"query":"!echo"}`, &s2, "traceparent: "+tp)
	p1, p2 := s1.Results[0].Metadata["md:traceparent"], s2.Results[0].Metadata["md:traceparent"]
	if p1 == p2 || !strings.Contains(p1, traceID) || !strings.Contains(p2, traceID) {
		t.Errorf("two requests in one trace sent %q and %q", p1, p2)
	}
	if _, ok := s1.Results[0].Metadata["md:tracestate"]; ok {
		t.Errorf("a tracestate was sent though the request had none: %v", s1.Results[0].Metadata)
	}
}

// An invalid traceparent (or none) is replaced by a new valid one: a random
// trace id, sampled, echoed in the response and sent to the service with a
// parent id of its own; a tracestate that came with it is dropped. A
// traceparent of a later version is accepted as W3C asks.
func TestTraceparentInvalidReplaced(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	invalid := []string{
		"",
		"garbage",
		"00-" + strings.ToUpper(traceID) + "-" + parent + "-01",      // upper case
		"00-" + strings.Repeat("0", 32) + "-" + parent + "-01",       // zero trace id
		"00-" + traceID + "-" + strings.Repeat("0", 16) + "-01",      // zero parent id
		"ff-" + traceID + "-" + parent + "-01",                       // version ff
		"00-" + traceID + "-" + parent + "-01-extra",                 // version 00 is exactly 55 chars
		"00-" + traceID[:31] + "-" + parent + "-01",                  // short trace id
		"00-" + traceID + "-" + parent + "-1",                        // short flags
		"00_" + traceID + "_" + parent + "_01",                       // separators
		"00-" + traceID[:30] + "zz-" + parent + "-01",                // not hex
		"0x-" + traceID + "-" + parent + "-01",                       // bad version
		"cc-" + traceID + "-" + parent + "-01x",                      // later version without a dash after flags
		" 00-" + traceID + "-" + parent + "-01 trailing-garbage-x-y", // spaces
	}
	traces := map[string]bool{}
	for i, tp := range invalid {
		id := fmt.Sprintf("bad-trace-%d-%d", i, time.Now().UnixNano())
		hs := []string{"X-Request-Id: " + id, "tracestate: congo=t61rcWkgMzE"}
		if tp != "" {
			hs = append(hs, "traceparent: "+tp)
		}
		var s searchBody
		r := ts.postOK(t, "/api/v1/ai/search", `{"query":"!echo"}`, &s, hs...)
		echoed := r.header.Get("Traceparent")
		newTrace, _, flags := splitTraceparent(t, fmt.Sprintf("response to %q", tp), echoed)
		if newTrace == traceID || flags != "01" || traces[newTrace] {
			t.Errorf("traceparent %q replaced by %q: want a new random trace id, flags 01", tp, echoed)
		}
		traces[newTrace] = true
		md := s.Results[0].Metadata
		sentTrace, sentParent, _ := splitTraceparent(t, "metadata", md["md:traceparent"])
		if sentTrace != newTrace || sentParent == echoed[36:52] {
			t.Errorf("traceparent %q: response says %q, the service saw %q", tp, echoed, md["md:traceparent"])
		}
		if st, ok := md["md:tracestate"]; ok {
			t.Errorf("traceparent %q: the tracestate of a discarded trace was passed on: %q", tp, st)
		}
		if a := waitLogLine(t, ts, id); a.TraceID != newTrace {
			t.Errorf("traceparent %q: access log trace_id %q, want %q", tp, a.TraceID, newTrace)
		}
	}

	// A later version: parsed as W3C says (the first four fields), kept.
	for _, tp := range []string{"cc-" + traceID + "-" + parent + "-01", "cc-" + traceID + "-" + parent + "-01-what-the-future-holds"} {
		var s searchBody
		r := ts.postOK(t, "/api/v1/ai/search", `{"query":"!echo"}`, &s, "traceparent: "+tp)
		if got := r.header.Get("Traceparent"); got != tp {
			t.Errorf("traceparent %q: response %q, want it kept", tp, got)
		}
		if sent, _, _ := splitTraceparent(t, "metadata", s.Results[0].Metadata["md:traceparent"]); sent != traceID {
			t.Errorf("traceparent %q: the service saw trace id %q", tp, sent)
		}
	}
	// Not sampled stays not sampled.
	var s searchBody
	ts.postOK(t, "/api/v1/ai/search", `{"query":"!echo"}`, &s, "traceparent: 00-"+traceID+"-"+parent+"-00")
	if _, _, flags := splitTraceparent(t, "metadata", s.Results[0].Metadata["md:traceparent"]); flags != "00" {
		t.Errorf("flags 00 became %q", flags)
	}
}

// ---- the access log ---------------------------------------------------------------------

// Every access log line is one JSON object with the request id, trace id,
// route, method, path, status, bytes, duration in ms and remote address.
func TestAccessLogJSON(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	start := time.Now()
	r := ts.do(t, "POST", "/api/v1/ai/search", `{"query":"!slow:50"}`, "X-Request-Id: access-json",
		"traceparent: 00-"+traceID+"-b7ad6b7169203331-01")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	a := waitLogLine(t, ts, "access-json")
	logged, err := time.Parse(time.RFC3339Nano, a.Time)
	if err != nil || logged.Before(start.Add(-time.Second)) || logged.After(time.Now()) {
		t.Errorf("time %q (%v)", a.Time, err)
	}
	if a.TraceID != traceID || a.Method != "POST" || a.Route != "/api/v1/ai/search" || a.Path != "/api/v1/ai/search" ||
		a.Status != 200 || a.Bytes != int64(len(r.body)) || a.DurationMS < 50 || a.DurationMS > 10000 ||
		!regexp.MustCompile(`^127\.0\.0\.1:\d+$`).MatchString(a.RemoteAddr) {
		t.Errorf("access log line %+v (body %d bytes)", a, len(r.body))
	}

	// The raw line: exactly these keys, one object per line.
	var raw string
	for _, line := range strings.Split(ts.log.String(), "\n") {
		if strings.Contains(line, `"request_id":"access-json"`) {
			raw = line
		}
	}
	keys := regexp.MustCompile(`"([a-z_]+)":`).FindAllStringSubmatch(raw, -1)
	var names []string
	for _, k := range keys {
		names = append(names, k[1])
	}
	if got := strings.Join(names, ","); got != "time,request_id,trace_id,method,route,path,status,bytes,duration_ms,remote_addr" {
		t.Errorf("keys %s in %s", got, raw)
	}

	// Routes with a path parameter, unknown paths, errors.
	ts.do(t, "POST", "/api/v1/assets/a%2F1/process", `{"file_path":"b/o","mime_type":"text/plain"}`, "X-Request-Id: access-asset")
	ts.do(t, "GET", "/nope", "", "X-Request-Id: access-404")
	ts.do(t, "POST", "/api/v1/ai/search", `not json`, "X-Request-Id: access-400")
	for id, want := range map[string]accessLine{
		"access-asset": {Route: "/api/v1/assets/{id}/process", Path: "/api/v1/assets/a/1/process", Status: 200, Method: "POST"},
		"access-404":   {Route: "other", Path: "/nope", Status: 404, Method: "GET"},
		"access-400":   {Route: "/api/v1/ai/search", Path: "/api/v1/ai/search", Status: 400, Method: "POST"},
	} {
		a := waitLogLine(t, ts, id)
		if a.Route != want.Route || a.Path != want.Path || a.Status != want.Status || a.Method != want.Method ||
			a.Bytes <= 0 || len(a.TraceID) != 32 {
			t.Errorf("%s: %+v, want %+v", id, a, want)
		}
	}
	// Nothing but JSON lines in the access log.
	for _, line := range strings.Split(strings.TrimSpace(ts.log.String()), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Errorf("access log line is not a JSON object: %q", line)
		}
	}
	ts.accessLines(t) // each parses
}

// The access log of a chat is written when the stream ends, with its bytes.
func TestAccessLogChatBytes(t *testing.T) {
	ts := newServer(t, gateway.Config{})
	resp := ts.postChat(t, `{"query":"hello"}`, "X-Request-Id: access-chat")
	n, err := io.Copy(io.Discard, bufio.NewReader(resp.Body))
	if err != nil {
		t.Fatal(err)
	}
	if a := waitLogLine(t, ts, "access-chat"); a.Status != 200 || a.Bytes != n || a.Route != "/api/v1/ai/chat" {
		t.Errorf("access log %+v, want status 200, %d bytes", a, n)
	}
}
