package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestTargetHostPort(t *testing.T) {
	for _, c := range []struct{ target, host, port string }{
		{"127.0.0.1:50051", "127.0.0.1", "50051"},
		{"ai.internal:50051", "ai.internal", "50051"},
		{"dns:///ai.internal:50051", "ai.internal", "50051"},
		{"dns://8.8.8.8/ai.internal:50051", "ai.internal", "50051"},
		{"dns:ai.internal:50051", "ai.internal", "50051"},
		{"[::1]:50051", "::1", "50051"},
		{"ipv4:10.0.0.1:50051,10.0.0.2:50051", "10.0.0.1,10.0.0.2", "50051"},
		{"ipv4:10.0.0.1:50051,10.0.0.2:50052", "10.0.0.1,10.0.0.2", "50051,50052"},
		{"ipv6:[fd00::1]:50051,[fd00::2]:50051", "fd00::1,fd00::2", "50051"},
		{"unix:/run/ai.sock", "unix:/run/ai.sock", ""},
		{"ai.internal", "ai.internal", ""},
		{"", "", ""},
	} {
		if h, p := targetHostPort(c.target); h != c.host || p != c.port {
			t.Errorf("targetHostPort(%q) = %q, %q, want %q, %q", c.target, h, p, c.host, c.port)
		}
	}
}

func TestParseTraceparent(t *testing.T) {
	const tid, pid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, c := range []struct {
		in    string
		ok    bool
		flags string
	}{
		{"00-" + tid + "-" + pid + "-01", true, "01"},
		{"00-" + tid + "-" + pid + "-00", true, "00"},
		{"00-" + tid + "-" + pid + "-ff", true, "ff"},
		{"01-" + tid + "-" + pid + "-01-more", true, "01"},
		{"01-" + tid + "-" + pid + "-01", true, "01"},
		{"00-" + tid + "-" + pid + "-01-", false, ""},
		{"ff-" + tid + "-" + pid + "-01", false, ""},
		{"00-" + tid + "-" + pid + "-0g", false, ""},
		{"00-" + tid + "-" + pid + "-01 ", false, ""},
		{"00-" + tid + "-" + pid, false, ""},
		{"01-" + tid + "-" + pid + "-01-a b", false, ""},
		{"01-" + tid + "-" + pid + "-01-" + strings.Repeat("x", 500), false, ""},
	} {
		gotTID, flags, ok := parseTraceparent(c.in)
		if ok != c.ok || (ok && (gotTID != tid || flags != c.flags)) {
			t.Errorf("parseTraceparent(%q) = %q, %q, %v", c.in, gotTID, flags, ok)
		}
	}
	// New traces are valid and different.
	a, b := traceFrom(http.Header{}), traceFrom(http.Header{})
	if _, _, ok := parseTraceparent(a.header); !ok || a.traceID == b.traceID || a.header[36:52] == b.header[36:52] {
		t.Errorf("new traces %q, %q", a.header, b.header)
	}
	// Repeated traceparent headers are invalid.
	h := http.Header{"Traceparent": {"00-" + tid + "-" + pid + "-01", "00-" + tid + "-" + pid + "-01"}}
	if tc := traceFrom(h); tc.traceID == tid {
		t.Errorf("two traceparent headers were accepted")
	}
}

func TestRouteOf(t *testing.T) {
	for path, want := range map[string]string{
		"/": "/", "/metrics": "/metrics", "/api/v1/chat": "/api/v1/chat", "/api/v1/ai/chat": "/api/v1/ai/chat",
		"/api/v1/assets/a-1/process": routeAssetProcess, "/api/v1/assets/a%2F1/process": routeAssetProcess,
		"/api/v1/assets//process": "other", "/api/v1/assets/a/b/process": "other", "/x": "other",
		"/api/v1/ai/health/": "other",
	} {
		u, err := url.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := routeOf(u); got != want {
			t.Errorf("routeOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestAcceptsEventStream(t *testing.T) {
	for accept, want := range map[string]bool{
		"": false, "*/*": false, "text/*": false, "application/json": false,
		"text/event-stream": true, "TEXT/EVENT-STREAM": true, "application/json, text/event-stream;q=0.9": true,
		"text/event-stream;q=0": false, "text/event-stream; q=0.0": false, "text/event-stream;q=bad": false,
	} {
		h := http.Header{}
		if accept != "" {
			h.Set("Accept", accept)
		}
		if got := acceptsEventStream(h); got != want {
			t.Errorf("Accept %q: %v, want %v", accept, got, want)
		}
	}
}

// Each call made for one request is a span of its own: same trace id and
// flags, a new parent id every time.
func TestChildSpanPerCall(t *testing.T) {
	tc := traceFrom(http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	a, b := tc.childParent(), tc.childParent()
	if a == b {
		t.Fatalf("two calls share the span id: %s", a)
	}
	for _, p := range []string{a, b} {
		id, flags, ok := parseTraceparent(p)
		if !ok || id != "4bf92f3577b34da6a3ce929d0e0e4736" || flags != "01" || strings.Contains(p, "00f067aa0ba902b7") {
			t.Fatalf("child traceparent %q", p)
		}
	}
}
