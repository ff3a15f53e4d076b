// Command aiw-backend is ThinkBank's Go backend in miniature: an HTTP
// gateway that answers browsers (JSON, Server-Sent Events and a demo page)
// and talks gRPC to the Python AI service through libaiw's Go package.
//
//	aiw-backend [-listen 127.0.0.1:8080] [-ai-target TARGET] [-timeout 30s]
//	            [-chat-timeout 10m] [-health-timeout 2s] [-heartbeat 15s]
//	            [-max-chats 4096] [-read-header-timeout 10s] [-read-timeout 30s]
//	            [-ai-service-config FILE] [-ai-keepalive 5m30s] [-ai-keepalive-timeout 20s]
//	            [-ai-token TOKEN [-ai-token-insecure]] [-ai-tls] [-ai-ca FILE] [-ai-server-name NAME]
//	            [-access-log FILE]
//
// TARGET is host:port, a gRPC target (dns:///name:port, ipv4:a:p,b:p, ...)
// or a comma list of IP address:port pairs (several replicas, balanced with
// round_robin); see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
)

// defaultTarget follows ThinkBank's backend: AI_SERVICE_HOST and
// AI_SERVICE_PORT, else 127.0.0.1:50051.
func defaultTarget(getenv func(string) string) string {
	host, port := getenv("AI_SERVICE_HOST"), getenv("AI_SERVICE_PORT")
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "50051"
	}
	return net.JoinHostPort(host, port)
}

// noneIfZero maps a flag's 0 ("none") to gateway.Config's "none" (negative;
// there 0 takes the default).
func noneIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// options is the parsed command line.
type options struct {
	listen    string
	accessLog string // "" or "-": stderr
	ai        gateway.AIConfig
	gw        gateway.Config // without Target, Logger, AccessLog, Metrics and HealthProbe
}

// usageError is a command line parseArgs refuses (exit status 64); errHelp
// and flag errors are the flag package's.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parseArgs parses the command line (without the program name). getenv
// gives AI_SERVICE_HOST, AI_SERVICE_PORT and AI_SERVICE_TOKEN. Flag errors
// and -h are written to output with the usage; the error is then the flag
// package's (flag.ErrHelp for -h). A command line that parses but is
// refused (a bad value, a token over plaintext without -ai-token-insecure)
// is a *usageError.
func parseArgs(args []string, getenv func(string) string, output io.Writer) (*options, error) {
	fs := flag.NewFlagSet("aiw-backend", flag.ContinueOnError)
	fs.SetOutput(output)
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP listen address")
	target := fs.String("ai-target", defaultTarget(getenv), "gRPC target of the AI service: host:port, dns:///name:port (every A record is a replica), ipv4:a:p,b:p, or a comma list of IP address:port pairs; the default is $AI_SERVICE_HOST:$AI_SERVICE_PORT (each defaulting to 127.0.0.1 and 50051)")
	serviceConfig := fs.String("ai-service-config", "", "`FILE` holding the gRPC service config (JSON) of the channel to the AI service, replacing the default (round_robin, health checking of ai_service.AiWorker, retries of UNAVAILABLE)")
	keepalive := fs.Duration("ai-keepalive", gateway.DefaultKeepalive, "ping the AI service after this long without activity while a call is open (0: no keepalive); below 5m servers with default settings answer GOAWAY too_many_pings")
	keepaliveTimeout := fs.Duration("ai-keepalive-timeout", gateway.DefaultKeepaliveTimeout, "close a connection whose keepalive ping has no answer within this (0: 20s)")
	token := fs.String("ai-token", "", "bearer `TOKEN` sent with every AI call as authorization: Bearer TOKEN (default $AI_SERVICE_TOKEN); over plaintext it needs -ai-token-insecure")
	tokenInsecure := fs.Bool("ai-token-insecure", false, "allow -ai-token over plaintext (a service on loopback or a trusted network)")
	useTLS := fs.Bool("ai-tls", false, "use TLS to the AI service (gRPC's default roots unless -ai-ca)")
	caFile := fs.String("ai-ca", "", "`FILE` of PEM root certificates for the AI service's TLS (implies -ai-tls)")
	serverName := fs.String("ai-server-name", "", "name checked against the AI service's certificate (default: the target's host)")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline of each unary AI call")
	chatTimeout := fs.Duration("chat-timeout", 10*time.Minute, "deadline of a whole chat stream (0: none)")
	healthTimeout := fs.Duration("health-timeout", 2*time.Second, "deadline of the health probe")
	heartbeat := fs.Duration("heartbeat", 15*time.Second, "interval of SSE heartbeat comments on idle chat streams")
	maxChats := fs.Int("max-chats", 4096, "most chat streams open at once; more are answered 503 with Retry-After (0: unlimited)")
	readHeaderTimeout := fs.Duration("read-header-timeout", 10*time.Second, "deadline for reading a request's headers (0: none)")
	accessLog := fs.String("access-log", "", "append the access log (one JSON line per request) to `FILE` (default: stderr)")
	readTimeout := fs.Duration("read-timeout", 30*time.Second, "deadline for reading a whole request, headers and body; a late body is answered 408 and its connection closed (0: none; chat responses are not limited by it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	refuse := func(format string, a ...interface{}) (*options, error) {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintln(output, "aiw-backend:", msg)
		return nil, &usageError{msg}
	}
	bad := func(format string, a ...interface{}) (*options, error) { // with the usage
		o, err := refuse(format, a...)
		fs.Usage()
		return o, err
	}
	if fs.NArg() != 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if *maxChats < 0 {
		return bad("-max-chats %d: want 0 (unlimited) or more", *maxChats)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", *readHeaderTimeout}, {"read-timeout", *readTimeout}} {
		if d.v < 0 {
			return bad("-%s %s: want 0 (none) or more", d.name, d.v)
		}
	}
	tokenSet := false
	fs.Visit(func(f *flag.Flag) { tokenSet = tokenSet || f.Name == "ai-token" })
	if !tokenSet {
		*token = getenv("AI_SERVICE_TOKEN")
	}
	o := &options{listen: *listen, accessLog: *accessLog}
	o.ai = gateway.AIConfig{Target: *target, Keepalive: *keepalive, KeepaliveTimeout: *keepaliveTimeout,
		Token: *token, TokenInsecure: *tokenInsecure, TLS: *useTLS || *caFile != "", ServerName: *serverName}
	if *serviceConfig != "" {
		b, err := os.ReadFile(*serviceConfig)
		if err != nil {
			return refuse("-ai-service-config: %v", err)
		}
		o.ai.ServiceConfig = string(b)
	}
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil {
			return refuse("-ai-ca: %v", err)
		}
		o.ai.RootCAs = b
	}
	if _, _, err := o.ai.Check(); err != nil {
		return refuse("%v", err)
	}
	o.gw = gateway.Config{Timeout: *timeout, ChatTimeout: *chatTimeout,
		HealthTimeout: *healthTimeout, Heartbeat: *heartbeat, MaxChats: *maxChats,
		ReadHeaderTimeout: noneIfZero(*readHeaderTimeout), ReadTimeout: noneIfZero(*readTimeout)}
	return o, nil
}

func main() {
	o, err := parseArgs(os.Args[1:], os.Getenv, os.Stderr)
	var ue *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &ue):
		os.Exit(64)
	case err != nil:
		os.Exit(2) // a flag error, reported with the usage by the flag package
	}
	logger := log.New(os.Stderr, "aiw-backend: ", log.LstdFlags|log.Lmicroseconds)
	if w := o.ai.KeepaliveWarning(); w != "" {
		logger.Printf("warning: %s", w)
	}

	var accessLog io.Writer = os.Stderr
	if o.accessLog != "" && o.accessLog != "-" {
		f, err := os.OpenFile(o.accessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			logger.Fatalf("-access-log: %v", err)
		}
		defer f.Close()
		accessLog = f
	}

	metrics := gateway.NewMetrics()
	conn, err := gateway.DialAI(o.ai, metrics.DialOptions()...)
	if err != nil {
		var ce *gateway.ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintln(os.Stderr, "aiw-backend:", err)
			os.Exit(64)
		}
		logger.Fatalf("dial %s: %v", o.ai.Target, err)
	}
	defer conn.Close()

	cfg := o.gw
	cfg.Target, cfg.Logger, cfg.HealthProbe = conn.Target, logger, conn.HealthProbe()
	cfg.AccessLog, cfg.Metrics = accessLog, metrics
	handler := gateway.NewServer(conn.Client, cfg)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		logger.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: handler}
	gateway.ConfigureServer(srv, cfg) // ReadHeaderTimeout, and the body deadline of ReadTimeout
	auth := "no token"
	if o.ai.Token != "" {
		auth = "bearer token"
	}
	logger.Printf("listening on http://%s (AI service %s, %s)", ln.Addr(), conn.Target, auth)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown) // open chat streams end when their clients do, or at the timeout
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Fatalf("serve: %v", err)
	}
	<-ctx.Done()
}
