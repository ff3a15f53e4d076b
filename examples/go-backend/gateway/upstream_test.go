package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
	"github.com/thinkbank/libaiw/examples/go-backend/internal/testsvc"
)

// The gateway's channel: several replicas, round_robin, retries, health
// checking, the health endpoint's connectivity and serving_status, and the
// bearer token.

// ctxTimeout is a context that ends after d or with the test.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ---- configuration ----------------------------------------------------------------

func TestParseTarget(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "127.0.0.1:50051", want: "127.0.0.1:50051"},
		{in: "ai.internal:50051", want: "ai.internal:50051"},
		{in: "dns:///ai.internal:50051", want: "dns:///ai.internal:50051"},
		{in: "ipv4:10.0.0.1:1,10.0.0.2:2", want: "ipv4:10.0.0.1:1,10.0.0.2:2"},
		{in: "unix:/run/ai.sock", want: "unix:/run/ai.sock"},
		{in: "10.0.0.1:50051,10.0.0.2:50052", want: "ipv4:10.0.0.1:50051,10.0.0.2:50052"},
		{in: " 10.0.0.1:1 , 10.0.0.2:2 ", want: "ipv4:10.0.0.1:1,10.0.0.2:2"},
		{in: "[::1]:50051,[fe80::2]:50052", want: "ipv6:[::1]:50051,[fe80::2]:50052"},
		{in: "ai-1:50051,ai-2:50051", err: "dns:///ai-1:50051"},
		{in: "10.0.0.1:50051,ai-2:50051", err: "host name"},
		{in: "10.0.0.1:50051,[::1]:50051", err: "mixes IPv4 and IPv6"},
		{in: "10.0.0.1:50051,", err: "empty element"},
		{in: "10.0.0.1,10.0.0.2:1", err: "not ADDRESS:PORT"},
		{in: "10.0.0.1:0,10.0.0.2:1", err: "bad port"},
		{in: "10.0.0.1:x,10.0.0.2:1", err: "bad port"},
		{in: "", err: "empty target"},
	} {
		got, err := gateway.ParseTarget(c.in)
		if c.err != "" {
			var ce *gateway.ConfigError
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &ce) {
				t.Errorf("ParseTarget(%q) = %q, %v; want a *ConfigError containing %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseTarget(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestAIConfigCheck(t *testing.T) {
	ok := func(cfg gateway.AIConfig) {
		t.Helper()
		if _, _, err := cfg.Check(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	refused := func(cfg gateway.AIConfig, want string) {
		t.Helper()
		_, _, err := cfg.Check()
		var ce *gateway.ConfigError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want a *ConfigError containing %q", cfg, err, want)
		}
	}
	tgt := "127.0.0.1:50051"
	ok(gateway.AIConfig{Target: tgt})
	ok(gateway.AIConfig{Target: tgt, Keepalive: gateway.DefaultKeepalive, KeepaliveTimeout: gateway.DefaultKeepaliveTimeout})
	ok(gateway.AIConfig{Target: tgt, Token: "x", TokenInsecure: true})
	ok(gateway.AIConfig{Target: tgt, Token: "x", TLS: true})
	refused(gateway.AIConfig{Target: tgt, Token: "x"}, "-ai-token-insecure")
	refused(gateway.AIConfig{Target: tgt, Token: "a\nb", TokenInsecure: true}, "printable ASCII")
	refused(gateway.AIConfig{Target: tgt, Keepalive: 500 * time.Millisecond}, "-ai-keepalive")
	refused(gateway.AIConfig{Target: tgt, Keepalive: -time.Second}, "-ai-keepalive")
	refused(gateway.AIConfig{Target: tgt, ServiceConfig: "{nope"}, "-ai-service-config")
	refused(gateway.AIConfig{Target: "a:1,b:2"}, "dns:///")

	if w := (gateway.AIConfig{Keepalive: time.Minute}).KeepaliveWarning(); !strings.Contains(w, "too_many_pings") {
		t.Errorf("no warning for a 1m keepalive: %q", w)
	}
	if w := (gateway.AIConfig{Keepalive: gateway.DefaultKeepalive}).KeepaliveWarning(); w != "" {
		t.Errorf("warning for the default keepalive: %q", w)
	}

	// DialAI refuses what Check refuses, before dialling anything.
	conn, err := gateway.DialAI(gateway.AIConfig{Target: tgt, Token: "x"})
	var ce *gateway.ConfigError
	if conn != nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), "-ai-token-insecure") {
		t.Fatalf("DialAI with a token over plaintext: %v, %v", conn, err)
	}
	// A service config gRPC refuses is a ConfigError too.
	conn, err = gateway.DialAI(gateway.AIConfig{Target: tgt, ServiceConfig: `{"loadBalancingConfig":[{"no_such_policy":{}}]}`})
	if conn != nil || !errors.As(err, &ce) {
		t.Fatalf("DialAI with a bad service config: %v, %v", conn, err)
	}
	// The default has a probe channel; a config without health checking needs none.
	conn, err = gateway.DialAI(gateway.AIConfig{Target: tgt, Token: "x", TLS: true,
		Keepalive: gateway.DefaultKeepalive})
	if err != nil || conn.Probe == nil || conn.ServiceConfig != gateway.DefaultServiceConfig {
		t.Fatalf("DialAI with TLS and a token: %+v, %v", conn, err)
	}
	conn.Close()
	conn, err = gateway.DialAI(gateway.AIConfig{Target: tgt, ServiceConfig: `{"loadBalancingConfig":[{"pick_first":{}}]}`})
	if err != nil || conn.Probe != nil {
		t.Fatalf("DialAI without healthCheckConfig: %+v, %v", conn, err)
	}
	conn.Close()
}

// ---- replicas ---------------------------------------------------------------------

// replicas are reference services r0, r1, ... with their own events files.
type replicas []*testsvc.Service

// startReplicas starts n reference services named r0..r<n-1> (with the
// extra args), at once; they stop when the test ends.
func startReplicas(t *testing.T, n int, args ...string) replicas {
	t.Helper()
	rs := make(replicas, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range rs {
		i := i
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs[i], errs[i] = testsvc.StartWith(t.TempDir(), 60*time.Second,
				append([]string{"--name", fmt.Sprintf("r%d", i)}, args...)...)
		}()
	}
	wg.Wait()
	for i, s := range rs {
		if s != nil {
			t.Cleanup(s.Stop)
		}
		if errs[i] != nil {
			t.Fatalf("replica r%d: %v", i, errs[i])
		}
	}
	return rs
}

// list is the replicas' addresses as a comma list (the -ai-target form).
func (rs replicas) list() string {
	addrs := make([]string, len(rs))
	for i, s := range rs {
		addrs[i] = s.Addr
	}
	return strings.Join(addrs, ",")
}

// counts returns the number of GetEmbedding calls each replica finished.
func (rs replicas) counts(t *testing.T) []int {
	t.Helper()
	out := make([]int, len(rs))
	for i, s := range rs {
		evs, err := s.ReadEvents()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.RPC == "GetEmbedding" {
				out[i]++
			}
		}
	}
	return out
}

// waitTotal waits (up to 5 s: a replica writes its events line when the
// RPC ends on its side, which may be a moment after the client saw the
// answer) until the replicas in alive finished want GetEmbedding calls in
// all, and returns the counts.
func (rs replicas) waitTotal(t *testing.T, want int, alive ...int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := rs.counts(t)
		sum := 0
		for _, i := range alive {
			sum += c[i]
		}
		if sum >= want || time.Now().After(deadline) {
			if sum != want {
				t.Fatalf("replicas %v finished %d GetEmbedding calls, want %d (counts %v)", alive, sum, want, c)
			}
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until the counts stop changing (no new events line for
// 300 ms, at most 5 s) and returns them.
func (rs replicas) settle(t *testing.T) []int {
	t.Helper()
	c := rs.counts(t)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		n := rs.counts(t)
		if fmt.Sprint(n) == fmt.Sprint(c) {
			break
		}
		c = n
	}
	return c
}

func sub(a, b []int) []int {
	out := make([]int, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// gatewayTo runs the gateway over DialAI(cfg) (its defaults otherwise, as
// aiw-backend's: keepalive on).
func gatewayTo(t *testing.T, cfg gateway.AIConfig) (*testServer, *gateway.AIConn) {
	t.Helper()
	if cfg.Keepalive == 0 {
		cfg.Keepalive, cfg.KeepaliveTimeout = gateway.DefaultKeepalive, gateway.DefaultKeepaliveTimeout
	}
	conn, err := gateway.DialAI(cfg)
	if err != nil {
		t.Fatalf("DialAI(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { conn.Close() })
	return newServerWith(t, conn.Client, conn.Target, gateway.Config{HealthProbe: conn.HealthProbe()}), conn
}

// embed posts n embeddings and fails the test unless every one is 200.
func (ts *testServer) embed(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if r := ts.do(t, "POST", "/api/v1/ai/embed", fmt.Sprintf(`{"text":"call %d"}`, i)); r.status != 200 {
			t.Fatalf("embedding %d of %d: status %d: %s", i+1, n, r.status, r.body)
		}
	}
}

// warmUp sends embeddings until every replica in alive has answered one
// (round_robin spreads calls over the replicas that are ready; they
// connect one after the other) and returns the counts.
func (ts *testServer) warmUp(t *testing.T, rs replicas, alive ...int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ts.embed(t, 3)
		time.Sleep(20 * time.Millisecond)
		c := rs.counts(t)
		all := true
		for _, i := range alive {
			all = all && c[i] > 0
		}
		if all {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas %v did not all get calls within 20s: counts %v", alive, c)
		}
	}
}

func TestReplicasRoundRobin(t *testing.T) {
	rs := startReplicas(t, 3)
	ts, conn := gatewayTo(t, gateway.AIConfig{Target: rs.list()})
	if !strings.HasPrefix(conn.Target, "ipv4:127.0.0.1:") || strings.Count(conn.Target, ",") != 2 {
		t.Fatalf("target %q", conn.Target)
	}
	before := ts.warmUp(t, rs, 0, 1, 2)
	total := before[0] + before[1] + before[2]
	ts.embed(t, 60)
	d := sub(rs.waitTotal(t, total+60, 0, 1, 2), before)
	// round_robin over three ready replicas: 20 each; allow some slack.
	for i, n := range d {
		if n < 10 {
			t.Errorf("replica r%d got %d of 60 calls (spread %v)", i, n, d)
		}
	}
	t.Logf("60 HTTP embeddings spread over r0, r1, r2: %v", d)

	// The same seen from the Go client: every answer's x-aiw-replica trailer.
	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		var tr aiworker.Metadata
		_, err := conn.Client.GetEmbedding(ctxTimeout(t, 5*time.Second),
			&aiworker.EmbeddingRequest{Content: &aiworker.EmbeddingRequest_Text{Text: "t"}}, aiworker.Trailer(&tr))
		if err != nil {
			t.Fatal(err)
		}
		if v := tr.Get("x-aiw-replica"); len(v) == 1 {
			seen[v[0]]++
		} else {
			t.Fatalf("trailer x-aiw-replica %q", v)
		}
	}
	if len(seen) != 3 || seen["r0"] < 5 || seen["r1"] < 5 || seen["r2"] < 5 {
		t.Errorf("30 calls answered by %v, want r0, r1 and r2 about 10 each", seen)
	}
}

func TestReplicaKilledCallsKeepSucceeding(t *testing.T) {
	rs := startReplicas(t, 3)
	ts, _ := gatewayTo(t, gateway.AIConfig{Target: rs.list()})
	before := ts.warmUp(t, rs, 0, 1, 2)

	// 100 embeddings from 4 clients at once; r2 is killed (SIGKILL, as a
	// crash) after the first 20. Every one must be 200: calls on r2's dead
	// connection fail UNAVAILABLE and are retried on r0 or r1.
	const total, workers = 100, 4
	var (
		mu       sync.Mutex
		done     int
		failures []string
		killed   = make(chan struct{})
		once     sync.Once
		wg       sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		w := w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/workers; i++ {
				resp, err := ts.Client().Post(ts.URL+"/api/v1/ai/embed", "application/json",
					strings.NewReader(fmt.Sprintf(`{"text":"w%d-%d"}`, w, i)))
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					if resp.StatusCode != 200 {
						failures = append(failures, fmt.Sprintf("status %d", resp.StatusCode))
					}
					resp.Body.Close()
				}
				done++
				if done == 20 {
					once.Do(func() { go func() { rs[2].Kill(); close(killed) }() })
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	<-killed
	if len(failures) > 0 {
		t.Fatalf("%d of %d embeddings failed while r2 was killed: %v", len(failures), total, failures)
	}
	// And after it: 100 more, sequentially, all 200, all on r0 and r1.
	mid := rs.settle(t)
	ts.embed(t, 100)
	d := sub(rs.waitTotal(t, mid[0]+mid[1]+100, 0, 1), mid)
	retried := 0
	for _, r := range rs[:2] {
		evs, _ := r.ReadEvents()
		for _, e := range evs {
			if e.Metadata["grpc-previous-rpc-attempts"] != "" {
				retried++
			}
		}
	}
	t.Logf("before the kill %v; 100 calls after it: %v; calls answered on a retry: %d", before, d, retried)
	if d[0] < 30 || d[1] < 30 {
		t.Errorf("100 calls after the kill spread %v over r0, r1", d)
	}
}

func TestReplicaNotServingGetsNoCalls(t *testing.T) {
	rs := startReplicas(t, 3)
	ts, _ := gatewayTo(t, gateway.AIConfig{Target: rs.list()})
	ts.warmUp(t, rs, 0, 1, 2)

	if err := rs[1].Signal(syscall.SIGUSR1); err != nil { // r1: NOT_SERVING
		t.Fatal(err)
	}
	// Settling: gRPC learns it from r1's health Watch stream within
	// milliseconds; allow a few seconds until a batch of calls misses r1.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c0 := rs.counts(t)
		ts.embed(t, 6)
		time.Sleep(50 * time.Millisecond)
		if rs.counts(t)[1] == c0[1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("r1 still gets calls 10s after it went NOT_SERVING: %v", rs.counts(t))
		}
	}
	before := rs.counts(t)
	ts.embed(t, 60)
	d := sub(rs.waitTotal(t, before[0]+before[2]+60, 0, 2), before)
	if d[1] != 0 || d[0] < 20 || d[2] < 20 {
		t.Fatalf("60 calls with r1 NOT_SERVING spread %v, want none on r1", d)
	}

	// SERVING again: it gets calls again.
	if err := rs[1].Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for rs.counts(t)[1] == before[1] {
		if time.Now().After(deadline) {
			t.Fatalf("r1 gets no calls 10s after it went SERVING again: %v", rs.counts(t))
		}
		ts.embed(t, 6)
		time.Sleep(50 * time.Millisecond)
	}
}

// The default service config retries UNAVAILABLE (up to 4 attempts);
// -ai-service-config replaces it.
func TestRetriesAndServiceConfig(t *testing.T) {
	rs := startReplicas(t, 1)
	ts, _ := gatewayTo(t, gateway.AIConfig{Target: rs[0].Addr})
	key := fmt.Sprintf("gw-retry-%d", time.Now().UnixNano())
	var e embedBody
	ts.postOK(t, "/api/v1/ai/embed", `{"text":"!fail-attempts:3:`+key+`"}`, &e, "X-Request-Id: "+key)
	if !e.Success || len(e.SemanticVector) != 1024 {
		t.Fatalf("embedding %+v", e)
	}
	var attempts []string
	for deadline := time.Now().Add(5 * time.Second); len(attempts) < 4 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		evs, err := rs[0].ReadEvents()
		if err != nil {
			t.Fatal(err)
		}
		attempts = nil
		for _, e := range evs {
			if e.RequestID == key {
				attempts = append(attempts, e.Outcome+"/"+e.Metadata["grpc-previous-rpc-attempts"])
			}
		}
	}
	if got := strings.Join(attempts, " "); got != "UNAVAILABLE/ UNAVAILABLE/1 UNAVAILABLE/2 OK/3" {
		t.Fatalf("attempts (outcome/grpc-previous-rpc-attempts): %s", got)
	}
	// Four failures are more than maxAttempts.
	ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"!fail-attempts:4:`+key+`-4"}`).wantError(t, 503, "UNAVAILABLE", "attempt 4 of "+key+"-4 fails")

	// A service config without a retry policy: the first failure is the answer.
	ts2, conn := gatewayTo(t, gateway.AIConfig{Target: rs[0].Addr, ServiceConfig: `{"loadBalancingConfig":[{"round_robin":{}}]}`})
	if conn.Probe != nil {
		t.Errorf("a probe channel without healthCheckConfig")
	}
	ts2.do(t, "POST", "/api/v1/ai/embed", `{"text":"!fail-attempts:1:`+key+`-nr"}`).wantError(t, 503, "UNAVAILABLE", "attempt 1 of "+key+"-nr fails")
	if st, h := ts2.health(t); st != 200 || h.ServingStatus != "SERVING" || h.Connectivity != "READY" {
		t.Errorf("health without a probe channel: %d %+v", st, h)
	}
}

// ---- the health endpoint ------------------------------------------------------------

type healthBody struct {
	Status        string `json:"status"`
	GRPCEndpoint  string `json:"grpc_endpoint"`
	Error         string `json:"error"`
	Connectivity  string `json:"connectivity"`
	ServingStatus string `json:"serving_status"`
	// ThinkBank's fields.
	Available bool   `json:"available"`
	Host      string `json:"host"`
	Port      string `json:"port"`
	Message   string `json:"message"`
}

func (ts *testServer) health(t *testing.T) (int, healthBody) {
	t.Helper()
	r := ts.do(t, "GET", "/api/v1/ai/health", "")
	var h healthBody
	r.decode(t, &h)
	return r.status, h
}

// waitHealth polls the health endpoint (up to 10 s) until ok says yes and
// returns the last answer.
func (ts *testServer) waitHealth(t *testing.T, what string, ok func(int, healthBody) bool) (int, healthBody) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, h := ts.health(t)
		if ok(st, h) {
			return st, h
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never %s within 10s; last: %d %+v", what, st, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHealthReplicasReadyServing(t *testing.T) {
	rs := startReplicas(t, 3)
	ts, conn := gatewayTo(t, gateway.AIConfig{Target: rs.list()})
	st, h := ts.health(t)
	if st != 200 || h.Status != "healthy" || h.GRPCEndpoint != conn.Target || h.Error != "" ||
		h.Connectivity != "READY" || h.ServingStatus != "SERVING" {
		t.Fatalf("health %d %+v, want 200 healthy READY SERVING", st, h)
	}
	// One replica NOT_SERVING of three: the service still serves.
	if err := rs[0].Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	for i := 0; i < 6; i++ {
		if st, h := ts.health(t); st != 200 || h.Connectivity != "READY" || h.ServingStatus != "SERVING" {
			t.Fatalf("health with r0 NOT_SERVING of three: %d %+v", st, h)
		}
	}
}

func TestHealthOnlyReplicaNotServing(t *testing.T) {
	rs := startReplicas(t, 1)
	ts, _ := gatewayTo(t, gateway.AIConfig{Target: rs[0].Addr})
	if st, h := ts.health(t); st != 200 || h.Status != "healthy" || h.Connectivity != "READY" || h.ServingStatus != "SERVING" {
		t.Fatalf("health %d %+v, want 200 healthy READY SERVING", st, h)
	}
	if err := rs[0].Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	// Health checking takes the only replica out of the balancer: calls fail
	// UNAVAILABLE, so the endpoint is unhealthy, with its status codes of
	// old. (The probe channel's Check may say NOT_SERVING a moment before
	// the calls' channel has heard it from its Watch: wait for both.)
	st, h := ts.waitHealth(t, "503 NOT_SERVING", func(st int, h healthBody) bool {
		return st == 503 && h.ServingStatus == "NOT_SERVING"
	})
	if h.Status != "unhealthy" || !strings.HasPrefix(h.Error, "UNAVAILABLE: ") || h.Connectivity != "TRANSIENT_FAILURE" {
		t.Errorf("health of a NOT_SERVING service: %d %+v", st, h)
	}
	if st2, h2 := ts.health(t); st2 != st || h2 != h {
		t.Errorf("health of a NOT_SERVING service changed: %d %+v, then %d %+v", st, h, st2, h2)
	}
	ts.do(t, "POST", "/api/v1/ai/embed", `{"text":"x"}`).wantError(t, 503, "UNAVAILABLE", "")
	t.Logf("NOT_SERVING: %d %+v", st, h)

	if err := rs[0].Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	ts.waitHealth(t, "200 READY SERVING again", func(st int, h healthBody) bool {
		return st == 200 && h.Status == "healthy" && h.Connectivity == "READY" && h.ServingStatus == "SERVING"
	})
}

// ThinkBank's real AI server may have no health service. gRPC's health
// checking counts that as healthy (Watch UNIMPLEMENTED), so the default
// service config must still work; the endpoint reports UNIMPLEMENTED and
// stays healthy. The reference service has Health, so this uses a minimal
// server without it (internal/testsvc/nohealth_server.py).
func TestNoHealthService(t *testing.T) {
	svc, err := testsvc.StartScript("examples/go-backend/internal/testsvc/nohealth_server.py", 60*time.Second, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	ts, conn := gatewayTo(t, gateway.AIConfig{Target: svc.Addr})
	var e embedBody
	ts.postOK(t, "/api/v1/ai/embed", `{"text":"hello"}`, &e)
	if !e.Success || len(e.SemanticVector) != 1 || e.SemanticVector[0] != 0.5 {
		t.Fatalf("embedding %+v", e)
	}
	st, h := ts.health(t)
	if st != 200 || h.Status != "healthy" || h.Connectivity != "READY" || h.ServingStatus != "UNIMPLEMENTED" {
		t.Fatalf("health of a server without a health service: %d %+v", st, h)
	}
	if _, err := conn.Client.HealthCheck(ctxTimeout(t, 5*time.Second), gateway.HealthService); aiworker.CodeOf(err) != aiworker.Unimplemented {
		t.Fatalf("HealthCheck: %v, want Unimplemented", err)
	}
}

// ---- the bearer token ---------------------------------------------------------------

func TestBearerTokenReachesService(t *testing.T) {
	rs := startReplicas(t, 1)
	ts, _ := gatewayTo(t, gateway.AIConfig{Target: rs[0].Addr, Token: "x", TokenInsecure: true})
	var e embedBody
	ts.postOK(t, "/api/v1/ai/embed", `{"text":"hello"}`, &e, "X-Request-Id: token-embed")
	ev, err := rs[0].WaitEvent("GetEmbedding", "token-embed", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.Metadata["authorization"]; got != "Bearer x" {
		t.Fatalf("authorization %q, want \"Bearer x\" (metadata %v)", got, ev.Metadata)
	}
	resp := ts.postChat(t, `{"query":"hi"}`, "X-Request-Id: token-chat")
	readAllEvents(t, resp.Body)
	resp.Body.Close()
	if ev, err := rs[0].WaitEvent("ChatStream", "token-chat", 5*time.Second); err != nil || ev.Metadata["authorization"] != "Bearer x" {
		t.Fatalf("chat: %+v, %v", ev, err)
	}
	// Without a token, none is sent.
	ts2, _ := gatewayTo(t, gateway.AIConfig{Target: rs[0].Addr})
	ts2.postOK(t, "/api/v1/ai/embed", `{"text":"hello"}`, &e, "X-Request-Id: no-token")
	if ev, err := rs[0].WaitEvent("GetEmbedding", "no-token", 5*time.Second); err != nil || ev.Metadata["authorization"] != "" {
		t.Fatalf("no token: %+v, %v", ev, err)
	}
	if r := ts.do(t, "GET", "/api/v1/ai/health", ""); r.status != http.StatusOK {
		t.Fatalf("health with a token: %d %s", r.status, r.body)
	}
}
