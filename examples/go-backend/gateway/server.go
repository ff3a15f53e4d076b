// Package gateway is the HTTP side of ThinkBank's Go backend: it answers
// browsers with JSON and Server-Sent Events and talks gRPC to the Python AI
// service through package aiworker (libaiw).
//
// Routes (see README.md for the request and response bodies):
//
//	GET  /                              the demo page (chat and search)
//	GET  /api/v1/ai/health              200 healthy / 503 unhealthy, with the
//	                                    channel's connectivity and the health
//	                                    service's serving status
//	POST /api/v1/ai/embed               GetEmbedding
//	POST /api/v1/ai/search              VectorSearch
//	POST /api/v1/assets/{id}/process    ProcessAsset
//	POST /api/v1/ai/chat                ChatStream as text/event-stream
//	POST /api/v1/chat                   ThinkBank's chat: {query, history, top_k} ->
//	                                    {answer, sources}, or text/event-stream
//	                                    when the request accepts it
//	GET  /metrics                       Prometheus metrics (see Metrics)
//
// Every request gets a request id (the X-Request-Id header when it is a
// sane value, else a generated one) and a W3C trace context (its valid
// traceparent header, else a new trace; see trace.go): the id is echoed in
// the X-Request-Id response header and the traceparent in the traceparent
// one; both go to the AI service as metadata (x-request-id; traceparent
// with a new span id per call, and tracestate) and into the request's JSON
// access log line.
package gateway

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// AIClient is the part of *aiworker.Client the gateway uses. Tests and
// other programs may pass anything with the same methods.
type AIClient interface {
	GetEmbedding(ctx context.Context, in *aiworker.EmbeddingRequest, opts ...aiworker.CallOption) (*aiworker.EmbeddingResponse, error)
	VectorSearch(ctx context.Context, in *aiworker.SearchRequest, opts ...aiworker.CallOption) (*aiworker.SearchResponse, error)
	ProcessAsset(ctx context.Context, in *aiworker.AssetRequest, opts ...aiworker.CallOption) (*aiworker.ProcessStatus, error)
	ChatStream(ctx context.Context, in *aiworker.ChatRequest, opts ...aiworker.CallOption) (*aiworker.ChatStream, error)
}

var _ AIClient = (*aiworker.Client)(nil)

// HealthChecker asks the standard grpc.health.v1 service, as
// *aiworker.Client's HealthCheck. The health endpoint uses the AIClient's
// when it has one, and Config.HealthProbe's.
type HealthChecker interface {
	HealthCheck(ctx context.Context, service string, opts ...aiworker.CallOption) (aiworker.HealthStatus, error)
}

// stateReporter is the channel state of *aiworker.Client, which the health
// endpoint reports when the AIClient has it.
type stateReporter interface {
	GetState() aiworker.ConnectivityState
}

var (
	_ HealthChecker = (*aiworker.Client)(nil)
	_ stateReporter = (*aiworker.Client)(nil)
)

// Config tunes the gateway. Zero values take the defaults noted.
type Config struct {
	// Target is the AI service's gRPC target, reported by the health check.
	Target string
	// Timeout is the deadline of each unary call (default 30s).
	Timeout time.Duration
	// ChatTimeout is the deadline of a whole chat stream; 0 means none (the
	// stream still ends when the browser goes away).
	ChatTimeout time.Duration
	// HealthTimeout is the deadline of the health probe (default 2s).
	HealthTimeout time.Duration
	// Heartbeat is the interval of ": ping" comments on idle chat streams
	// (default 15s).
	Heartbeat time.Duration
	// MaxBodyBytes limits request bodies (default 32 MiB: base64 images).
	MaxBodyBytes int64
	// MaxChats bounds the chats open at once; over it a new chat is answered
	// 503 UNAVAILABLE with Retry-After: 1. 0 (or negative) means no limit
	// (aiw-backend's -max-chats flag defaults to 4096).
	MaxChats int
	// ReadHeaderTimeout bounds the reading of a request's headers (default
	// 10s; negative: none). It is the http.Server's, set by ConfigureServer.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, headers and body
	// (default 30s; negative: none): a body not received in time is
	// answered 408 DEADLINE_EXCEEDED and the connection is closed. It is the
	// http.Server's, set by ConfigureServer, and does not limit how long a
	// response (a chat stream) may take.
	ReadTimeout time.Duration
	// AccessLog receives one JSON line per request (see README.md; default
	// os.Stderr). Each line is one Write.
	AccessLog io.Writer
	// Logger receives the gateway's other messages: errors gathering the
	// metrics (default log.Default()).
	Logger *log.Logger
	// Metrics are served at /metrics and count the HTTP requests. The AI
	// calls are counted only when the AIClient was dialled with
	// Metrics.DialOptions. nil: the handler makes its own (HTTP side only).
	Metrics *Metrics
	// HealthProbe, when not nil, is asked about the service's health
	// (serving_status of the health endpoint) when the client's own
	// HealthCheck fails UNAVAILABLE: typically AIConn.Probe, a channel
	// without client-side health checking, which still reaches a replica
	// that said NOT_SERVING (the calls' channel no longer does); pass
	// AIConn.HealthProbe(), which is nil when there is no probe channel.
	HealthProbe HealthChecker
}

const (
	defaultTimeout           = 30 * time.Second
	defaultHealthTimeout     = 2 * time.Second
	defaultHeartbeat         = 15 * time.Second
	defaultMaxBodyBytes      = 32 << 20
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
)

// withDefaults fills in the zero values of cfg.
func (cfg Config) withDefaults() Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = defaultHealthTimeout
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = defaultHeartbeat
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = defaultMaxBodyBytes
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = defaultReadHeaderTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = defaultReadTimeout
	}
	if cfg.AccessLog == nil {
		cfg.AccessLog = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Default()
	}
	return cfg
}

//go:embed static/index.html
var indexHTML []byte

type server struct {
	client         AIClient
	cfg            Config
	chats          chatSlots
	metrics        *Metrics
	metricsHandler http.Handler
	access         *accessLogger
}

// chatSlots is a counting semaphore over the open chats: one token per
// chat, taken without waiting. A nil chatSlots has no limit.
type chatSlots chan struct{}

// tryAcquire takes a slot if one is free; it never blocks.
func (c chatSlots) tryAcquire() bool {
	if c == nil {
		return true
	}
	select {
	case c <- struct{}{}:
		return true
	default:
		return false
	}
}

// release gives back a slot taken by tryAcquire.
func (c chatSlots) release() {
	if c != nil {
		<-c
	}
}

// NewServer returns the gateway's handler. client is typically an
// *aiworker.Client from aiworker.Dial; it is not closed by the handler.
//
// Serve it with an http.Server prepared by ConfigureServer(srv, cfg), which
// bounds the reading of requests (Config.ReadHeaderTimeout,
// Config.ReadTimeout).
func NewServer(client AIClient, cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	s := &server{client: client, cfg: cfg, metrics: cfg.Metrics, access: &accessLogger{w: cfg.AccessLog}}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metricsHandler = s.metrics.Handler(cfg.Logger)
	if cfg.MaxChats > 0 {
		s.chats = make(chatSlots, cfg.MaxChats)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", s.handleIndex)
	mux.HandleFunc("/api/v1/ai/health", s.handleHealth)
	mux.HandleFunc("/api/v1/ai/embed", s.handleEmbed)
	mux.HandleFunc("/api/v1/ai/search", s.handleSearch)
	mux.HandleFunc("/api/v1/ai/chat", s.handleChat)
	mux.HandleFunc("/api/v1/assets/", s.handleAssets)
	mux.HandleFunc("/api/v1/chat", s.handleThinkBankChat)
	mux.HandleFunc("/metrics", s.handleMetrics)
	return s.observe(mux)
}

// ConfigureServer prepares srv to serve the handler of NewServer(client,
// cfg): it sets srv.ReadHeaderTimeout and srv.ReadTimeout from cfg (with
// the same defaults). A request whose body is not received in time is
// answered 408 and its connection closed.
//
// ReadTimeout bounds reading the request only, not a long response: the
// server clears the connection's read deadline once the handler has read
// the whole body (it then starts its watch for a client that goes away), so
// a chat may stream for longer than ReadTimeout. TestChatLongerThanReadTimeout
// pins this.
func ConfigureServer(srv *http.Server, cfg Config) {
	cfg = cfg.withDefaults()
	srv.ReadHeaderTimeout, srv.ReadTimeout = 0, 0
	if cfg.ReadHeaderTimeout > 0 {
		srv.ReadHeaderTimeout = cfg.ReadHeaderTimeout
	}
	if cfg.ReadTimeout > 0 {
		srv.ReadTimeout = cfg.ReadTimeout
	}
}

// ---- request ids ------------------------------------------------------------

type ctxKey struct{}

// RequestID returns the request id the gateway gave to the request whose
// context this is ("" outside the gateway).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// validRequestID accepts ids that are safe as gRPC metadata and in a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "req-" + time.Now().UTC().Format("20060102T150405.000000000")
	}
	return hex.EncodeToString(b[:])
}

// ---- routes -----------------------------------------------------------------

func (s *server) handleIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no route for "+r.URL.Path)
		return
	}
	if !allowMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src * data:")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(indexHTML)
}

// allowMethod answers 405 unless r's method is one of methods.
func allowMethod(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "UNIMPLEMENTED",
		"method "+r.Method+" not allowed; use "+strings.Join(methods, " or "))
	return false
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HealthTimeout)
	defer cancel()
	// The service's own health status, asked alongside the probe call.
	serving := make(chan string, 1)
	go func() { serving <- s.servingStatus(ctx) }()
	// A cheap call that every AI service answers. success=false still means
	// the service is up and answering; only a failed RPC is unhealthy. The
	// status and the HTTP code depend on this call only, as they always did:
	// with client-side health checking (the default service config) a
	// service whose every replica says NOT_SERVING fails it UNAVAILABLE.
	_, err := s.client.GetEmbedding(outgoing(ctx), &aiworker.EmbeddingRequest{
		Content: &aiworker.EmbeddingRequest_Text{Text: "health check"},
		Type:    aiworker.EmbeddingType_EMBEDDING_SEMANTIC})
	h := healthJSON{Status: "healthy", GRPCEndpoint: s.cfg.Target, ServingStatus: <-serving}
	h.Host, h.Port = targetHostPort(s.cfg.Target)
	if sr, ok := s.client.(stateReporter); ok {
		h.Connectivity = sr.GetState().String() // after the calls: they make an idle channel connect
	}
	if err != nil && aiworker.HTTPStatus(err) != http.StatusBadGateway {
		e := callErrorJSON(err)
		h.Status, h.Error = "unhealthy", e.Code+": "+e.Message
		h.Message = "AI service unavailable at " + s.cfg.Target + ": " + h.Error
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	h.Available = true
	h.Message = "AI service available at " + s.cfg.Target
	writeJSON(w, http.StatusOK, h)
}

// servingStatus is the serving_status of the health endpoint: what the
// service's grpc.health.v1 Check says about HealthService ("SERVING",
// "NOT_SERVING", "SERVICE_UNKNOWN", "UNKNOWN"), or the code name of the
// failed Check ("UNIMPLEMENTED": the server has no health service, which
// gRPC's health checking counts as healthy; "UNAVAILABLE", ...). Asked on
// the calls' channel first (an answer from a replica that calls reach);
// when that fails UNAVAILABLE, on Config.HealthProbe (which still reaches
// a replica that said NOT_SERVING). "" when neither can be asked.
func (s *server) servingStatus(ctx context.Context) string {
	var checkers []HealthChecker
	if hc, ok := s.client.(HealthChecker); ok {
		checkers = append(checkers, hc)
	}
	if s.cfg.HealthProbe != nil {
		checkers = append(checkers, s.cfg.HealthProbe)
	}
	out := ""
	for _, hc := range checkers {
		st, err := hc.HealthCheck(outgoing(ctx), HealthService)
		if err == nil {
			return st.String()
		}
		out = codeName(aiworker.CodeOf(err))
		if aiworker.CodeOf(err) != aiworker.Unavailable {
			break
		}
	}
	return out
}

// readRequest reads the JSON body of a POST endpoint into a B and converts
// it with toRequest. On failure it answers (405 with Allow, 400
// INVALID_ARGUMENT with toRequest's message, 413 for an oversized body) and
// returns false.
func readRequest[B, Req any](s *server, w http.ResponseWriter, r *http.Request,
	toRequest func(*B) (Req, string)) (Req, bool) {
	var zero Req
	if !allowMethod(w, r, http.MethodPost) {
		return zero, false
	}
	var body B
	if !s.decodeBody(w, r, &body) {
		return zero, false
	}
	req, msg := toRequest(&body)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg)
		return zero, false
	}
	return req, true
}

// serveUnary answers a POST endpoint backed by one unary RPC: the request as
// readRequest reads it, call under the unary deadline (with the request id
// as metadata), then 200 with reply's JSON form of the answer, or the
// call's error with its HTTP status.
func serveUnary[B, Req, Resp, Out any](s *server, w http.ResponseWriter, r *http.Request,
	toRequest func(*B) (Req, string), call func(context.Context, Req, ...aiworker.CallOption) (Resp, error),
	reply func(Resp) Out) {
	req, ok := readRequest(s, w, r, toRequest)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(outgoing(r.Context()), s.cfg.Timeout)
	defer cancel()
	resp, err := call(ctx, req)
	if err != nil {
		writeCallError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, reply(resp))
}

func (s *server) handleEmbed(w http.ResponseWriter, r *http.Request) {
	serveUnary(s, w, r, (*embedRequestJSON).toRequest, s.client.GetEmbedding, embedResponseFrom)
}

func (s *server) handleSearch(w http.ResponseWriter, r *http.Request) {
	serveUnary(s, w, r, (*searchRequestJSON).toRequest, s.client.VectorSearch, searchResponseFrom)
}

// handleAssets serves /api/v1/assets/{id}/process (Go 1.19's ServeMux has no
// path patterns, so the id is cut out here). The id is one path segment,
// percent-decoded.
func (s *server) handleAssets(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1/assets/")
	seg := strings.Split(rest, "/")
	if len(seg) != 2 || seg[0] == "" || seg[1] != "process" {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no route for "+r.URL.Path)
		return
	}
	id, err := pathUnescape(seg[0])
	if err != nil || id == "" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "bad asset id in path")
		return
	}
	serveUnary(s, w, r,
		func(b *processRequestJSON) (*aiworker.AssetRequest, string) { return b.toRequest(id) },
		s.client.ProcessAsset,
		func(st *aiworker.ProcessStatus) json.RawMessage { return processResponseFrom(id, st) })
}
