package aiworker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The production channel against reference services of the test's own:
// replicas, retries, keepalive, compression, credentials, response
// information, status details, connectivity and health.

// replica is a reference service started by a test (stopped at its end).
type replica struct {
	cmd    *exec.Cmd
	addr   string // 127.0.0.1:<port>
	events string
}

func startReplica(t *testing.T, args ...string) *replica {
	t.Helper()
	r := &replica{events: filepath.Join(t.TempDir(), "events.jsonl")}
	r.cmd = refServiceCommand(append([]string{"--port", "0", "--events", r.events}, args...)...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "LISTENING ") {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		t.Fatalf("reference service %v did not start", args)
	}
	r.addr = "127.0.0.1:" + strings.TrimPrefix(sc.Text(), "LISTENING ")
	go func() {
		for sc.Scan() {
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) signal(s syscall.Signal) { _ = r.cmd.Process.Signal(s) }

// freeze stops the replica with SIGSTOP and waits until the kernel says it
// is stopped (the signal is delivered asynchronously).
func (r *replica) freeze(t *testing.T) {
	t.Helper()
	r.signal(syscall.SIGSTOP)
	path := fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid)
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(path)
		if i := strings.LastIndexByte(string(b), ')'); err == nil && i > 0 && i+2 < len(b) && b[i+2] == 'T' {
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("replica not stopped 5 s after SIGSTOP")
		}
	}
}

func (r *replica) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func replicas(t *testing.T, n int, args ...string) ([]*replica, string) {
	rs := make([]*replica, n)
	addrs := make([]string, n)
	for i := range rs {
		rs[i] = startReplica(t, append([]string{"--name", fmt.Sprintf("r%d", i)}, args...)...)
		addrs[i] = rs[i].addr
	}
	return rs, "ipv4:" + strings.Join(addrs, ",")
}

const healthyRoundRobin = `{"loadBalancingConfig":[{"round_robin":{}}],
 "healthCheckConfig":{"serviceName":"ai_service.AiWorker"},
 "methodConfig":[{"name":[{}],"retryPolicy":{"maxAttempts":5,"initialBackoff":"0.05s","maxBackoff":"0.5s",
  "backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}`

var fastReconnect = WithConnectParams(ConnectParams{Backoff: BackoffConfig{BaseDelay: 100 * time.Millisecond,
	MaxDelay: 500 * time.Millisecond}, MinConnectTimeout: 500 * time.Millisecond})

// answeredBy makes one GetEmbedding and returns the replica named in its trailer.
func answeredBy(ctx context.Context, t *testing.T, c *Client) string {
	t.Helper()
	var tr Metadata
	if _, err := c.GetEmbedding(ctx, embedText("who"), Trailer(&tr)); err != nil {
		t.Fatalf("GetEmbedding: %v", err)
	}
	return strings.Join(tr.Get("x-aiw-replica"), ",")
}

// warmUpAll calls until each of n replicas has answered: round_robin picks
// among the READY ones, so until all have connected the first get more.
func warmUpAll(ctx context.Context, t *testing.T, c *Client, n int) {
	t.Helper()
	seen := map[string]bool{}
	for start := time.Now(); len(seen) < n; {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("only %v of %d replicas answered in 10 s", seen, n)
		}
		seen[answeredBy(ctx, t, c)] = true
	}
}

func embedText(s string) *EmbeddingRequest {
	return &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: s}}
}

func TestDialRefusesBadServiceConfig(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"loadBalancingConfig": [ {`, "JSON parse"},
		{`{"methodConfig":[{"name":[{}],"retryPolicy":{"maxAttempts":"x"}}]}`, "retryPolicy.maxAttempts"},
		{`{"loadBalancingConfig":[{"no_such_policy":{}}]}`, "no_such_policy"},
	} {
		c, err := Dial(target, WithDefaultServiceConfig(tc.json))
		if c != nil {
			c.Close()
		}
		if CodeOf(err) != InvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Dial with %s: %v, want InvalidArgument naming %q", tc.json, err, tc.want)
		}
	}
	for _, opts := range [][]Option{
		{WithKeepaliveParams(KeepaliveParams{Time: 500 * time.Millisecond})},
		{WithCompressor("brotli")},
		{WithIdleTimeout(-time.Second)},
		{WithPerRPCCredentials(BearerToken("secret"))}, // plaintext
		// gRPC 1.51 corrupts compressed retries: refused together.
		{WithCompressor("gzip"), WithDefaultServiceConfig(healthyRoundRobin)},
	} {
		c, err := Dial(target, opts...)
		if c != nil {
			c.Close()
		}
		if CodeOf(err) != InvalidArgument {
			t.Errorf("Dial: %v, want InvalidArgument", err)
		}
	}
}

func TestRoundRobinReplicas(t *testing.T) {
	rs, tgt := replicas(t, 3)
	c, err := Dial(tgt, WithDefaultServiceConfig(healthyRoundRobin), fastReconnect)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	warmUpAll(ctx, t, c, 3)
	seen := map[string]int{}
	for i := 0; i < 60; i++ {
		seen[answeredBy(ctx, t, c)]++
	}
	for _, name := range []string{"r0", "r1", "r2"} {
		if seen[name] < 15 {
			t.Fatalf("calls spread %v: %s got fewer than 15 of 60", seen, name)
		}
	}

	// One killed mid-load: every one of 1,000 calls still ends OK (its
	// calls in flight fail UNAVAILABLE and are retried on the others).
	var done, failed int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 125; i++ {
				if _, err := c.GetEmbedding(ctx, embedText("load")); err != nil {
					atomic.AddInt64(&failed, 1)
					firstErr.Store(err)
				}
				if atomic.AddInt64(&done, 1) == 300 {
					rs[1].stop()
				}
			}
		}()
	}
	wg.Wait()
	if failed != 0 {
		t.Fatalf("%d of 1000 calls failed with a replica killed; first: %v", failed, firstErr.Load())
	}

	// One flipped NOT_SERVING: once the client has heard it, no more calls.
	rs[2].signal(syscall.SIGUSR1)
	deadline := time.Now().Add(10 * time.Second)
	for clean := 0; clean < 12; {
		if time.Now().After(deadline) {
			t.Fatal("calls still reach the NOT_SERVING replica after 10 s")
		}
		if answeredBy(ctx, t, c) == "r2" {
			clean = 0
		} else {
			clean++
		}
	}
	for i := 0; i < 40; i++ {
		if who := answeredBy(ctx, t, c); who != "r0" {
			t.Fatalf("call %d answered by %q; only r0 is alive and serving", i, who)
		}
	}
}

func TestFrozenReplicaKeepalive(t *testing.T) {
	rs, tgt := replicas(t, 3, "--min-ping-interval-ms", "100")
	c, err := Dial(tgt, WithDefaultServiceConfig(healthyRoundRobin), fastReconnect,
		WithKeepaliveParams(KeepaliveParams{Time: time.Second, Timeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	warmUpAll(ctx, t, c, 3)
	rs[1].freeze(t) // alive to TCP, silent to HTTP/2
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ { // round_robin sends two to r1
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tr Metadata
			_, err := c.GetEmbedding(ctx, embedText("frozen"), Trailer(&tr))
			if err == nil && tr.Get("x-aiw-replica")[0] == "r1" {
				err = errors.New("answered by the frozen replica")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("with keepalive 1s+1s a call around a frozen replica failed within 8 s: %v", err)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	c := dial(t, WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"ai_service.AiWorker"}],
	  "retryPolicy":{"maxAttempts":3,"initialBackoff":"0.01s","maxBackoff":"0.1s","backoffMultiplier":2,
	  "retryableStatusCodes":["UNAVAILABLE"]}}]}`))
	defer c.Close()
	ctx := context.Background()
	attempts := func(key string) string {
		var tr Metadata
		if _, err := c.GetEmbedding(ctx, embedText("!attempts:"+key), Trailer(&tr)); err != nil {
			t.Fatal(err)
		}
		return strings.Join(tr.Get("x-aiw-attempt-count"), ",")
	}
	key := fmt.Sprintf("go-retry-%d", time.Now().UnixNano())
	var tr Metadata
	if _, err := c.GetEmbedding(ctx, embedText("!fail-attempts:2:"+key), Trailer(&tr)); err != nil {
		t.Fatalf("two UNAVAILABLE then OK with maxAttempts 3: %v", err)
	}
	if got := tr.Get("x-aiw-attempt"); len(got) != 1 || got[0] != "3" || attempts(key) != "3" {
		t.Fatalf("answered by attempt %v, server counted %s; want 3", got, attempts(key))
	}
	key += "-invalid"
	_, err := c.GetEmbedding(ctx, embedText("!fail-attempts:2:"+key+":INVALID_ARGUMENT"))
	if CodeOf(err) != InvalidArgument || attempts(key) != "1" {
		t.Fatalf("not retryable: %v after %s attempts, want InvalidArgument after 1", err, attempts(key))
	}
}

func TestCompression(t *testing.T) {
	// grpcio hides a request's grpc-encoding, but a server that allows
	// identity only refuses a compressed one before its handler runs.
	strict := startReplica(t, "--reject-compressed-requests")
	ctx := context.Background()
	gz, err := Dial(strict.addr, WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	plain, err := Dial(strict.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	req := embedText("squeeze me squeeze me squeeze me")
	for _, tc := range []struct {
		c    *Client
		opts []CallOption
		want Code
	}{
		{gz, nil, Unimplemented},
		{gz, []CallOption{UseCompressor("identity")}, OK},
		{plain, nil, OK},
		{plain, []CallOption{UseCompressor("gzip")}, Unimplemented},
		{plain, []CallOption{UseCompressor("deflate")}, Unimplemented},
		{plain, []CallOption{UseCompressor("snappy")}, Internal}, // as grpc-go: not installed
	} {
		if _, err := tc.c.GetEmbedding(ctx, req, tc.opts...); CodeOf(err) != tc.want {
			t.Errorf("%v: %v, want %v", tc.opts, err, tc.want)
		}
	}
	// A server that takes it decodes it; a compressing server is read too.
	lenient := startReplica(t, "--gzip")
	c, err := Dial(lenient.addr, WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.GetEmbedding(ctx, embedText("compressed question"))
	if err != nil || !sameVector(t, "semantic", resp.SemanticVector, refVector([]byte("compressed question"), false)) {
		t.Fatalf("compressed both ways: %v", err)
	}
	big, err := c.VectorSearch(ctx, &SearchRequest{Query: "!big:100000"}) // surely sent compressed
	if err != nil || len(big.GetResults()) != 1 || len(big.Results[0].Caption) != 100000 {
		t.Fatalf("a large compressed answer: %v", err)
	}
}

type recordingCreds struct {
	calls  int64
	uri    atomic.Value
	secure bool
	fail   error
}

func (r *recordingCreds) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	n := atomic.AddInt64(&r.calls, 1)
	r.uri.Store(strings.Join(uri, " "))
	if r.fail != nil {
		return nil, r.fail
	}
	if ctx.Value(credsKey{}) == nil {
		return nil, errors.New("GetRequestMetadata did not get the call's context")
	}
	return map[string]string{"authorization": fmt.Sprintf("Bearer tok-%d", n), "X-Tenant": "acme"}, nil
}
func (r *recordingCreds) RequireTransportSecurity() bool { return r.secure }

type credsKey struct{}

func TestPerRPCCredentials(t *testing.T) {
	if c, err := Dial(target, WithPerRPCCredentials(&recordingCreds{secure: true})); CodeOf(err) != InvalidArgument {
		if c != nil {
			c.Close()
		}
		t.Fatalf("credentials requiring TLS over plaintext: %v, want InvalidArgument", err)
	}
	rc := &recordingCreds{}
	c := dial(t, WithPerRPCCredentials(rc))
	defer c.Close()
	base := context.WithValue(context.Background(), credsKey{}, true)
	for i := 1; i <= 3; i++ {
		ctx, id := withID(base, t)
		if _, err := c.GetEmbedding(ctx, embedText("who am i")); err != nil {
			t.Fatal(err)
		}
		ev := waitEvent(t, id)
		if ev.Metadata["authorization"] != fmt.Sprintf("Bearer tok-%d", i) || ev.Metadata["x-tenant"] != "acme" {
			t.Fatalf("call %d: server saw %v", i, ev.Metadata)
		}
	}
	if want := "https://" + target + "/ai_service.AiWorker"; rc.uri.Load() != want {
		t.Fatalf("uri %q, want %q", rc.uri.Load(), want)
	}
	// Streams too, and a per-call addition.
	ctx, id := withID(base, t)
	err := c.ChatStreamFunc(ctx, &ChatRequest{Query: "hello"}, func(*ChatResponse) error { return nil },
		CallCredentials(InsecureBearerToken("extra")))
	if err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, id); !strings.Contains(ev.Metadata["authorization"], "Bearer tok-4") ||
		!strings.Contains(ev.Metadata["authorization"], "Bearer extra") {
		t.Fatalf("stream: server saw %v", ev.Metadata)
	}
	// A failing source: Unauthenticated, nothing sent.
	rc.fail = errors.New("token service down")
	if _, err := c.GetEmbedding(base, embedText("x")); CodeOf(err) != Unauthenticated ||
		!strings.Contains(err.Error(), "token service down") {
		t.Fatalf("failing credentials: %v", err)
	}
	rc.fail = Errorf(PermissionDenied, "no")
	if _, err := c.GetEmbedding(base, embedText("x")); CodeOf(err) != PermissionDenied {
		t.Fatalf("credentials failing with an *Error: %v", err)
	}
	// TokenSource: called per call with the call's context.
	var fetched int64
	ts := TokenSource(func(ctx context.Context) (string, error) {
		return fmt.Sprintf("ts-%d", atomic.AddInt64(&fetched, 1)), nil
	}, true)
	c2 := dial(t, WithPerRPCCredentials(ts))
	defer c2.Close()
	ctx, id = withID(context.Background(), t)
	if _, err := c2.GetEmbedding(ctx, embedText("y")); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, id); ev.Metadata["authorization"] != "Bearer ts-1" {
		t.Fatalf("TokenSource: server saw %v", ev.Metadata)
	}
}

func TestHeaderTrailerPeer(t *testing.T) {
	c := dial(t)
	defer c.Close()
	ctx := AppendToOutgoingContext(context.Background(), "x-grpc-test-echo-initial", "hello",
		"x-grpc-test-echo-trailing-bin", "\x00\xff\x01")
	check := func(what string, h, tr Metadata, peer string) {
		t.Helper()
		if h.Get("x-grpc-test-echo-initial")[0] != "hello" {
			t.Errorf("%s: header %v", what, h)
		}
		if got := tr.Get("x-grpc-test-echo-trailing-bin"); len(got) != 1 || got[0] != "\x00\xff\x01" {
			t.Errorf("%s: trailer %q", what, tr)
		}
		if peer != "ipv4:"+target {
			t.Errorf("%s: peer %q, want ipv4:%s", what, peer, target)
		}
	}
	var h, tr Metadata
	var peer string
	if _, err := c.VectorSearch(ctx, &SearchRequest{Query: "cat"}, Header(&h), Trailer(&tr), Peer(&peer)); err != nil {
		t.Fatal(err)
	}
	check("unary", h, tr, peer)
	h, tr, peer = nil, nil, ""
	s, err := c.ChatStream(ctx, &ChatRequest{Query: "hello"}, Header(&h), Trailer(&tr), Peer(&peer))
	if err != nil {
		t.Fatal(err)
	}
	sh, err := s.Header()
	if err != nil || sh.Get("x-grpc-test-echo-initial")[0] != "hello" {
		t.Fatalf("Header(): %v %v", sh, err)
	}
	for {
		if _, err := s.Recv(); err != nil {
			break
		}
	}
	check("stream", h, tr, peer)
	h, tr, peer = nil, nil, ""
	if err := c.ChatStreamFunc(ctx, &ChatRequest{Query: "hi"}, func(*ChatResponse) error { return nil },
		Header(&h), Trailer(&tr), Peer(&peer)); err != nil {
		t.Fatal(err)
	}
	check("ChatStreamFunc", h, tr, peer)
}

func TestStatusDetails(t *testing.T) {
	c := dial(t)
	defer c.Close()
	ctx := context.Background()
	check := func(what string, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) || e.Code != FailedPrecondition || e.Message != "not now" {
			t.Fatalf("%s: %v", what, err)
		}
		d := e.Details()
		if len(d) != 2 || d[0].TypeUrl != "type.googleapis.com/google.rpc.ErrorInfo" ||
			string(d[0].Value) != "\x0a\x08AIW_TEST\x12\x14refservice.thinkbank" ||
			d[1].TypeUrl != "type.googleapis.com/aiw.test.Raw" || string(d[1].Value) != "\x00\x01\xfe\xff" {
			t.Fatalf("%s: details %v", what, d)
		}
	}
	var tr Metadata
	_, err := c.GetEmbedding(ctx, embedText("!details:FAILED_PRECONDITION:not now"), Trailer(&tr))
	check("unary", err)
	if _, ok := tr[detailsKey]; ok {
		t.Errorf("the details trailer is shown in Trailer (grpc-go keeps it out): %v", tr)
	}
	err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "!details:FAILED_PRECONDITION:not now"},
		func(*ChatResponse) error { return nil })
	check("stream", err)
	_, err = c.GetEmbedding(ctx, embedText("!error:NOT_FOUND:gone"))
	var e *Error
	if !errors.As(err, &e) || e.Details() != nil {
		t.Fatalf("no details sent: %v %v", err, e.Details())
	}
}

func TestConnectivity(t *testing.T) {
	r := startReplica(t)
	c, err := Dial(r.addr, fastReconnect)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.GetState(); s != Idle || s.String() != "IDLE" {
		t.Fatalf("a new client is %v, want IDLE", s)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if c.WaitForStateChange(short, Idle) {
		t.Fatal("an idle channel changed state by itself")
	}
	cancel()
	waitFor := func(want ConnectivityState) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for s := c.GetState(); s != want; s = c.GetState() {
			c.Connect()
			if !c.WaitForStateChange(ctx, s) {
				t.Fatalf("still %v, not %v, after 15 s", s, want)
			}
		}
	}
	waitFor(Ready)
	port := strings.TrimPrefix(r.addr, "127.0.0.1:")
	r.stop()
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	if !c.WaitForStateChange(ctx, Ready) {
		t.Fatal("still READY 10 s after the server stopped")
	}
	cancel2()
	// Back on the same port.
	s2 := &soakServer{port: atoiT(t, port)}
	s2.start(t)
	defer s2.kill()
	waitFor(Ready)
	go func() { time.Sleep(100 * time.Millisecond); c.Close() }()
	if !c.WaitForStateChange(context.Background(), Ready) {
		t.Fatal("a wait did not end at Close")
	}
	if s := c.GetState(); s != Shutdown {
		t.Fatalf("after Close: %v", s)
	}
	if ConnectivityState(42).String() != "INVALID_STATE" {
		t.Fatal(ConnectivityState(42).String())
	}
}

func atoiT(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHealthCheck(t *testing.T) {
	c := dial(t)
	defer c.Close()
	ctx := context.Background()
	for svc, want := range map[string]HealthStatus{"": HealthServing, "ai_service.AiWorker": HealthServing,
		"no.such.Service": HealthServiceUnknown} {
		if got, err := c.HealthCheck(ctx, svc); err != nil || got != want {
			t.Errorf("HealthCheck(%q) = %v, %v; want %v", svc, got, err, want)
		}
	}
	r := startReplica(t, "--not-serving")
	c2, err := Dial(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := c2.HealthCheck(ctx, "ai_service.AiWorker"); err != nil || got != HealthNotServing ||
		got.String() != "NOT_SERVING" {
		t.Fatalf("HealthCheck = %v, %v; want NOT_SERVING", got, err)
	}
	r.stop()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if got, err := c2.HealthCheck(short, ""); CodeOf(err) != Unavailable || got != HealthUnknown {
		t.Fatalf("stopped server: %v, %v", got, err)
	}
}

func TestIdleTimeout(t *testing.T) {
	c := dial(t, WithIdleTimeout(time.Second))
	defer c.Close()
	if _, err := c.GetEmbedding(context.Background(), embedText("wake")); err != nil {
		t.Fatal(err)
	}
	if s := c.GetState(); s != Ready {
		t.Fatalf("after a call: %v", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s := c.GetState(); s != Idle; s = c.GetState() {
		if !c.WaitForStateChange(ctx, s) {
			t.Fatalf("still %v 10 s after the last call, with a 1 s idle timeout", s)
		}
	}
	// The control: gRPC's default (30 minutes) keeps it READY.
	d := dial(t)
	defer d.Close()
	if _, err := d.GetEmbedding(context.Background(), embedText("wake")); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel2()
	if d.WaitForStateChange(short, Ready) {
		t.Fatalf("without an idle timeout the channel left READY: %v", d.GetState())
	}
}

func TestCallOptionsWaitForReadyAndMaxRecv(t *testing.T) {
	c := dial(t)
	defer c.Close()
	ctx := context.Background()
	if _, err := c.VectorSearch(ctx, &SearchRequest{Query: "!big:5000"}, MaxCallRecvMsgSize(1000)); CodeOf(err) != ResourceExhausted {
		t.Fatalf("over MaxCallRecvMsgSize: %v", err)
	}
	if _, err := c.VectorSearch(ctx, &SearchRequest{Query: "!big:100"}, MaxCallRecvMsgSize(1000)); err != nil {
		t.Fatal(err)
	}
	if err := c.ChatStreamFunc(ctx, &ChatRequest{Query: "!sizes:10,5000"}, func(*ChatResponse) error { return nil },
		MaxCallRecvMsgSize(1000)); CodeOf(err) != ResourceExhausted {
		t.Fatalf("stream over MaxCallRecvMsgSize: %v", err)
	}
	// Nobody listening: fail fast by default, wait until the deadline with WaitForReady.
	dead := startReplica(t)
	addr := dead.addr
	dead.stop()
	d, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.GetEmbedding(ctx, embedText("x")); CodeOf(err) != Unavailable {
		t.Fatalf("fail-fast: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := d.GetEmbedding(short, embedText("x"), WaitForReady(true)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForReady(true): %v, want the context's deadline", err)
	}
}

func TestAuthorityOf(t *testing.T) {
	for target, want := range map[string]string{
		"127.0.0.1:50051":                "127.0.0.1:50051",
		"dns:///ai.internal:50051":       "ai.internal:50051",
		"dns://127.0.0.53/ai.internal:1": "ai.internal:1",
		"dns:ai.internal:50051":          "ai.internal:50051",
		"ipv4:10.0.0.1:1,10.0.0.2:1":     "10.0.0.1:1",
		"ipv6:[::1]:50051":               "[::1]:50051",
		"unix:/tmp/ai.sock":              "localhost",
		"unix:///tmp/ai.sock":            "localhost",
	} {
		if got := authorityOf(target); got != want {
			t.Errorf("authorityOf(%q) = %q, want %q", target, got, want)
		}
	}
}

// A state wait on a closed client's Shutdown must not hold Close.
func TestWaitForShutdownDuringClose(t *testing.T) {
	for round := 0; round < 20; round++ {
		c := dial(t)
		started := make(chan struct{})
		go func() { // waits entered just before Close marks the client closed
			close(started)
			for c.GetState() != Shutdown {
				c.WaitForStateChange(context.Background(), Shutdown)
			}
			c.WaitForStateChange(context.Background(), Shutdown)
		}()
		<-started
		done := make(chan struct{})
		go func() { c.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close still waiting after 10 s", round)
		}
	}
}
