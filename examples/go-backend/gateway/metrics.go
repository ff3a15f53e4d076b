package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/proto"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// Metrics are the gateway's Prometheus metrics, in a registry of their own
// (not prometheus.DefaultRegisterer), served at GET /metrics in the text
// exposition format by client_golang's promhttp.
//
// The AI side is measured by the Go package's interceptors: dial the
// client with DialOptions (DialAI(cfg, m.DialOptions()...)), or calls are
// not seen. The HTTP side is measured by the handler NewServer returns.
//
//	aiw_backend_ai_calls_total{grpc_service,grpc_method,grpc_type,grpc_code}     counter
//	aiw_backend_ai_call_duration_seconds{grpc_service,grpc_method,grpc_type}     histogram
//	aiw_backend_chat_streams_open                                                gauge
//	aiw_backend_chat_first_chunk_seconds                                         histogram
//	aiw_backend_chat_chunks_per_stream                                           histogram
//	aiw_backend_http_requests_total{route,method,code}                           counter
//	aiw_backend_http_request_duration_seconds{route,method}                      histogram
//	aiw_backend_http_requests_in_flight                                          gauge
//
// plus the Go runtime's go_* and the process's process_* metrics.
type Metrics struct {
	reg *prometheus.Registry

	aiCalls     *prometheus.CounterVec
	aiDuration  *prometheus.HistogramVec
	chatsOpen   prometheus.Gauge
	firstChunk  prometheus.Histogram
	chunks      prometheus.Histogram
	httpReqs    *prometheus.CounterVec
	httpLatency *prometheus.HistogramVec
	httpFlight  prometheus.Gauge
}

// latencyBuckets (seconds) cover quick unary calls and chats that stream
// for minutes.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// NewMetrics creates the metrics in a new registry, with the Go runtime
// and process collectors.
func NewMetrics() *Metrics {
	const ns = "aiw_backend"
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		aiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "ai", Name: "calls_total",
			Help: "Calls to the AI service that completed, by gRPC service, method, type (unary, server_stream) and " +
				"status code name (OK, UNAVAILABLE, ...; a stream counts when it ends)."},
			[]string{"grpc_service", "grpc_method", "grpc_type", "grpc_code"}),
		aiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: "ai",
			Name: "call_duration_seconds", Buckets: latencyBuckets,
			Help: "Duration of calls to the AI service, from their start to their end (a stream: to its last message or error)."},
			[]string{"grpc_service", "grpc_method", "grpc_type"}),
		chatsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "chat", Name: "streams_open",
			Help: "ChatStream calls to the AI service open now."}),
		firstChunk: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "chat",
			Name: "first_chunk_seconds", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
			Help: "Time from the start of a ChatStream call to its first message (streams that got one)."}),
		chunks: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "chat",
			Name: "chunks_per_stream", Buckets: prometheus.ExponentialBuckets(1, 2, 12),
			Help: "Messages received per ChatStream call, observed when it ends."}),
		httpReqs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route, method and status (499: the client went away)."},
			[]string{"route", "method", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: "http",
			Name: "request_duration_seconds", Buckets: latencyBuckets,
			Help: "Duration of HTTP requests, from their headers to the end of the response, by route and method."},
			[]string{"route", "method"}),
		httpFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being answered now."}),
	}
	m.reg.MustRegister(m.aiCalls, m.aiDuration, m.chatsOpen, m.firstChunk, m.chunks,
		m.httpReqs, m.httpLatency, m.httpFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the metrics' registry (to add collectors of your own).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format (what
// GET /metrics answers). Errors gathering a metric go to errorLog when it
// is not nil, and are counted in promhttp_metric_handler_errors_total.
func (m *Metrics) Handler(errorLog promhttp.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorLog: errorLog})
}

// DialOptions are the aiworker options that make a client's calls counted:
// the unary and the stream interceptor, chained after any already set.
func (m *Metrics) DialOptions() []aiworker.Option {
	return []aiworker.Option{aiworker.WithChainUnaryInterceptor(m.UnaryInterceptor),
		aiworker.WithChainStreamInterceptor(m.StreamInterceptor)}
}

// splitMethod cuts "/pkg.Service/Method" into its service and method.
func splitMethod(full string) (service, method string) {
	s := strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "unknown", s
}

const methodChatStream = "/ai_service.AiWorker/ChatStream"

// UnaryInterceptor counts and times every unary call (the RPCs, Invoke,
// HealthCheck). grpc_code is the gRPC status of the call: an answer with
// success=false is OK here (the HTTP side says 502).
func (m *Metrics) UnaryInterceptor(ctx context.Context, method string, req, reply proto.Message, c *aiworker.Client,
	invoker aiworker.UnaryInvoker, opts ...aiworker.CallOption) error {
	start := time.Now()
	err := invoker(ctx, method, req, reply, c, opts...)
	service, name := splitMethod(method)
	m.aiCalls.WithLabelValues(service, name, "unary", codeName(aiworker.CodeOf(err))).Inc()
	m.aiDuration.WithLabelValues(service, name, "unary").Observe(time.Since(start).Seconds())
	return err
}

// StreamInterceptor counts and times every stream; for ChatStream it also
// keeps the open streams gauge, the time to the first chunk and the chunks
// per stream. A stream that cannot start is counted at once.
func (m *Metrics) StreamInterceptor(ctx context.Context, method string, req proto.Message, c *aiworker.Client,
	streamer aiworker.Streamer, opts ...aiworker.CallOption) (aiworker.ClientStream, error) {
	start := time.Now()
	service, name := splitMethod(method)
	chat := method == methodChatStream
	if chat {
		m.chatsOpen.Inc()
	}
	s := &observedStream{m: m, service: service, method: name, chat: chat, start: start}
	cs, err := streamer(ctx, method, req, c, opts...)
	if err != nil {
		s.finish(err)
		return nil, err
	}
	s.ClientStream = cs
	return s, nil
}

// observedStream is a ClientStream whose messages and end are measured.
type observedStream struct {
	aiworker.ClientStream
	m               *Metrics
	service, method string
	chat            bool
	start           time.Time
	n               atomic.Int64 // messages received
	once            sync.Once
}

func (s *observedStream) RecvMsg(msg proto.Message) error {
	err := s.ClientStream.RecvMsg(msg)
	if err != nil {
		s.finish(err)
		return err
	}
	if s.n.Add(1) == 1 && s.chat {
		s.m.firstChunk.Observe(time.Since(s.start).Seconds())
	}
	return nil
}

// Close ends a stream that was not read to its end: it counts as
// CANCELLED (Close cancels the call).
func (s *observedStream) Close() error {
	err := s.ClientStream.Close()
	s.finish(&aiworker.Error{Code: aiworker.Canceled, Message: "closed"})
	return err
}

// finish records the end of the stream once: io.EOF is OK, an error its
// code.
func (s *observedStream) finish(err error) {
	s.once.Do(func() {
		code := aiworker.OK
		if !errors.Is(err, io.EOF) {
			code = aiworker.CodeOf(err)
		}
		s.m.aiCalls.WithLabelValues(s.service, s.method, "server_stream", codeName(code)).Inc()
		s.m.aiDuration.WithLabelValues(s.service, s.method, "server_stream").Observe(time.Since(s.start).Seconds())
		if s.chat {
			s.m.chatsOpen.Dec()
			s.m.chunks.Observe(float64(s.n.Load()))
		}
	})
}

// httpMethods are the methods counted by name; others are "OTHER" (the
// label must not take any value a client sends).
var httpMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodDelete: true, http.MethodPatch: true, http.MethodOptions: true}

func methodLabel(m string) string {
	if httpMethods[m] {
		return m
	}
	return "OTHER"
}
