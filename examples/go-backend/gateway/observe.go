package gateway

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// What the gateway records of every request: its request id and trace
// (trace.go), the HTTP metrics (metrics.go) and one JSON access log line.

// routes are the gateway's routes as the metrics and the access log name
// them; a path that is none of them is "other" (a label must not take any
// value a client sends).
var routes = map[string]string{
	"/": "/", "/metrics": "/metrics",
	"/api/v1/ai/health": "/api/v1/ai/health", "/api/v1/ai/embed": "/api/v1/ai/embed",
	"/api/v1/ai/search": "/api/v1/ai/search", "/api/v1/ai/chat": "/api/v1/ai/chat",
	"/api/v1/chat": "/api/v1/chat",
}

const routeAssetProcess = "/api/v1/assets/{id}/process"

// routeOf is the route of a request URL (the asset id is one segment of
// the escaped path, as handleAssets cuts it).
func routeOf(u *url.URL) string {
	if r, ok := routes[u.Path]; ok {
		return r
	}
	path := u.EscapedPath()
	if rest := strings.TrimPrefix(path, "/api/v1/assets/"); rest != path && strings.HasSuffix(rest, "/process") {
		if id := strings.TrimSuffix(rest, "/process"); id != "" && !strings.Contains(id, "/") {
			return routeAssetProcess
		}
	}
	return "other"
}

// accessEntry is one access log line.
type accessEntry struct {
	Time       string  `json:"time"` // RFC 3339, UTC, microseconds: when the request arrived
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

// accessLogger writes access lines, one Write per line.
type accessLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *accessLogger) log(e *accessEntry) {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen: strings and numbers only
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(append(b, '\n'))
}

// statusRecorder remembers the status and size of a response for the log.
// It forwards Flush, which the chat stream needs.
type statusRecorder struct {
	http.ResponseWriter
	status       int
	bytes        int64
	clientClosed bool // see clientClosed
}

// statusClientClosed is the status logged for a request whose client went
// away before the response was complete (nginx's 499 "client closed
// request"); it is never sent.
const statusClientClosed = 499

// clientClosed records, for the access log and the metrics, that the
// handler gave up on the response because the client went away (its
// request context ended): the request is logged status 499 whatever was
// sent before.
func clientClosed(w http.ResponseWriter) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.clientClosed = true
	}
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// observe wraps the routes: request id, trace context, metrics, access log.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		tc := traceFrom(r.Header)
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("Traceparent", tc.header)
		route, method := routeOf(r.URL), methodLabel(r.Method)
		s.metrics.httpFlight.Inc()
		defer s.metrics.httpFlight.Dec()

		rec := &statusRecorder{ResponseWriter: w}
		ctx := context.WithValue(context.WithValue(r.Context(), ctxKey{}, id), traceKey{}, tc)
		next.ServeHTTP(rec, r.WithContext(ctx))

		status := rec.status
		switch {
		case rec.clientClosed:
			status = statusClientClosed
		case status == 0:
			status = http.StatusOK
		}
		took := time.Since(start)
		s.metrics.httpReqs.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		s.metrics.httpLatency.WithLabelValues(route, method).Observe(took.Seconds())
		s.access.log(&accessEntry{Time: start.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
			RequestID: id, TraceID: tc.traceID, Method: r.Method, Route: route, Path: r.URL.Path,
			Status: status, Bytes: rec.bytes, DurationMS: math.Round(float64(took.Microseconds())) / 1000,
			RemoteAddr: r.RemoteAddr})
	})
}

// handleMetrics serves GET /metrics.
func (s *server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	s.metricsHandler.ServeHTTP(w, r)
}
