package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
	"github.com/thinkbank/libaiw/examples/go-backend/internal/testsvc"
)

// runMainEnv, when set, makes the test binary run main() with these
// arguments (separated by "\x1f") instead of the tests: how the tests run
// aiw-backend itself as a subprocess.
const runMainEnv = "AIW_BACKEND_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(runMainEnv); ok {
		os.Args = append([]string{"aiw-backend"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// env is a getenv over a map.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func parse(t *testing.T, getenv func(string) string, args ...string) (*options, string, error) {
	t.Helper()
	var out bytes.Buffer
	o, err := parseArgs(args, getenv, &out)
	return o, out.String(), err
}

func TestParseArgsDefaults(t *testing.T) {
	o, _, err := parse(t, env())
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.AIConfig{Target: "127.0.0.1:50051", Keepalive: 5*time.Minute + 30*time.Second,
		KeepaliveTimeout: 20 * time.Second}
	if o.ai.Target != want.Target || o.ai.Keepalive != want.Keepalive || o.ai.KeepaliveTimeout != want.KeepaliveTimeout ||
		o.ai.Token != "" || o.ai.TokenInsecure || o.ai.TLS || o.ai.ServiceConfig != "" || o.listen != "127.0.0.1:8080" {
		t.Fatalf("defaults %+v", o.ai)
	}
	o, _, err = parse(t, env("AI_SERVICE_HOST", "10.1.2.3", "AI_SERVICE_PORT", "6000"), "-ai-keepalive", "0")
	if err != nil || o.ai.Target != "10.1.2.3:6000" || o.ai.Keepalive != 0 {
		t.Fatalf("%+v, %v", o, err)
	}
}

func wantUsageError(t *testing.T, err error, out, want string) {
	t.Helper()
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) || !strings.Contains(out, want) {
		t.Fatalf("error %v (output %q), want a usage error containing %q", err, out, want)
	}
}

func TestParseArgsToken(t *testing.T) {
	_, out, err := parse(t, env(), "-ai-token", "x")
	wantUsageError(t, err, out, "-ai-token-insecure")
	if !strings.Contains(out, "plaintext") {
		t.Errorf("message %q does not say why", out)
	}
	if strings.Contains(out, " x ") || strings.Contains(out, `"x"`) {
		t.Errorf("the message shows the token: %q", out)
	}
	o, _, err := parse(t, env(), "-ai-token", "x", "-ai-token-insecure")
	if err != nil || o.ai.Token != "x" || !o.ai.TokenInsecure {
		t.Fatalf("%+v, %v", o, err)
	}
	// $AI_SERVICE_TOKEN is the default; the flag wins; TLS needs no opt-in.
	_, out, err = parse(t, env("AI_SERVICE_TOKEN", "y"))
	wantUsageError(t, err, out, "-ai-token-insecure")
	o, _, err = parse(t, env("AI_SERVICE_TOKEN", "y"), "-ai-token-insecure")
	if err != nil || o.ai.Token != "y" {
		t.Fatalf("%+v, %v", o, err)
	}
	o, _, err = parse(t, env("AI_SERVICE_TOKEN", "y"), "-ai-token", "z", "-ai-tls")
	if err != nil || o.ai.Token != "z" || !o.ai.TLS {
		t.Fatalf("%+v, %v", o, err)
	}
	o, _, err = parse(t, env("AI_SERVICE_TOKEN", "y"), "-ai-token", "")
	if err != nil || o.ai.Token != "" {
		t.Fatalf("an explicit empty -ai-token: %+v, %v", o, err)
	}
}

func TestParseArgsTargetsAndConfig(t *testing.T) {
	_, out, err := parse(t, env(), "-ai-target", "ai-1:50051,ai-2:50051")
	wantUsageError(t, err, out, "dns:///ai-1:50051")
	o, _, err := parse(t, env(), "-ai-target", "10.0.0.1:50051,10.0.0.2:50051")
	if err != nil || o.ai.Target != "10.0.0.1:50051,10.0.0.2:50051" {
		t.Fatalf("%+v, %v", o, err)
	}
	_, out, err = parse(t, env(), "-ai-keepalive", "10ms")
	wantUsageError(t, err, out, "-ai-keepalive")

	dir := t.TempDir()
	sc := filepath.Join(dir, "sc.json")
	if err := os.WriteFile(sc, []byte(`{"loadBalancingConfig":[{"pick_first":{}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o, _, err = parse(t, env(), "-ai-service-config", sc)
	if err != nil || o.ai.ServiceConfig != `{"loadBalancingConfig":[{"pick_first":{}}]}` {
		t.Fatalf("%+v, %v", o, err)
	}
	_, out, err = parse(t, env(), "-ai-service-config", filepath.Join(dir, "missing.json"))
	wantUsageError(t, err, out, "-ai-service-config")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"loadBalancingConfig":`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, err = parse(t, env(), "-ai-service-config", bad)
	wantUsageError(t, err, out, "not a JSON object")
}

// aiw-backend itself refuses to start with a token over plaintext: exit
// status 64 and the reason on stderr, before it listens.
func TestBinaryRefusesTokenOverPlaintext(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=-listen\x1f127.0.0.1:0\x1f-ai-token\x1fsecret",
		"AI_SERVICE_TOKEN=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 64 {
			t.Fatalf("exit %v, want status 64; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("aiw-backend -ai-token without -ai-token-insecure started; stderr:\n%s", stderr.String())
	}
	if s := stderr.String(); !strings.Contains(s, "-ai-token-insecure") || strings.Contains(s, "secret") ||
		strings.Contains(s, "listening") {
		t.Fatalf("stderr:\n%s", s)
	}
}

// aiw-backend itself: its AI client is dialled with the metrics'
// interceptors (an embedding shows in /metrics as GetEmbedding/OK), and
// -access-log FILE receives one JSON line per request.
func TestBinaryMetricsAndAccessLog(t *testing.T) {
	svc, err := testsvc.Start(t.TempDir(), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	logFile := filepath.Join(t.TempDir(), "access.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"="+strings.Join([]string{"-listen", listen, "-ai-target", svc.Addr,
		"-access-log", logFile}, "\x1f"), "AI_SERVICE_TOKEN=")
	var stderr testsvc.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	base := "http://" + listen
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/metrics")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aiw-backend not answering on %s: %v; stderr:\n%s", listen, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Post(base+"/api/v1/ai/embed", "application/json", strings.NewReader(`{"text":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("embed: %d", resp.StatusCode)
	}
	// The HTTP side is counted once the handler has returned, which may be
	// a moment after the client has its answer: scrape until it shows.
	wants := []string{
		`aiw_backend_ai_calls_total{grpc_code="OK",grpc_method="GetEmbedding",grpc_service="ai_service.AiWorker",grpc_type="unary"} 1`,
		`aiw_backend_http_requests_total{code="200",method="POST",route="/api/v1/ai/embed"} 1`,
		"go_goroutines ", "process_resident_memory_bytes ",
	}
	var body []byte
	for scrape := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		resp, err = http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		missing := ""
		for _, want := range wants {
			if !strings.Contains(string(body), want) {
				missing = want
			}
		}
		if missing == "" {
			break
		}
		if time.Since(scrape) > 10*time.Second {
			t.Fatalf("/metrics lacks %q after 10 s:\n%s", missing, body)
		}
	}

	// The access log file: one JSON object per request, nothing else.
	var lines []map[string]interface{}
	for deadline := time.Now().Add(10 * time.Second); ; {
		data, _ := os.ReadFile(logFile)
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m map[string]interface{}
			if l == "" {
				continue
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("access log line %q: %v", l, err)
			}
			lines = append(lines, m)
		}
		if len(lines) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	found := false
	for _, m := range lines {
		if m["route"] == "/api/v1/ai/embed" && m["status"] == float64(200) && m["method"] == "POST" &&
			len(fmt.Sprint(m["trace_id"])) == 32 && len(fmt.Sprint(m["request_id"])) == 32 {
			found = true
		}
	}
	if !found {
		t.Errorf("no access log line for the embedding in %v", lines)
	}
	if strings.Contains(stderr.String(), `"route"`) {
		t.Errorf("access lines on stderr despite -access-log:\n%s", stderr.String())
	}
}
