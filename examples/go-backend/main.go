// Command aiw-backend is ThinkBank's Go backend in miniature: an HTTP
// gateway that answers browsers (JSON, Server-Sent Events and a demo page)
// and talks gRPC to the Python AI service through libaiw's Go package.
//
//	aiw-backend [-listen 127.0.0.1:8080] [-ai-target HOST:PORT] [-timeout 30s]
//	            [-chat-timeout 10m] [-health-timeout 2s] [-heartbeat 15s]
//	            [-max-chats 4096] [-read-header-timeout 10s] [-read-timeout 30s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
)

// defaultTarget follows ThinkBank's backend: AI_SERVICE_HOST and
// AI_SERVICE_PORT, else 127.0.0.1:50051.
func defaultTarget() string {
	host, port := os.Getenv("AI_SERVICE_HOST"), os.Getenv("AI_SERVICE_PORT")
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

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen address")
	target := flag.String("ai-target", defaultTarget(), "gRPC target of the AI service; the default is $AI_SERVICE_HOST:$AI_SERVICE_PORT (each defaulting to 127.0.0.1 and 50051)")
	timeout := flag.Duration("timeout", 30*time.Second, "deadline of each unary AI call")
	chatTimeout := flag.Duration("chat-timeout", 10*time.Minute, "deadline of a whole chat stream (0: none)")
	healthTimeout := flag.Duration("health-timeout", 2*time.Second, "deadline of the health probe")
	heartbeat := flag.Duration("heartbeat", 15*time.Second, "interval of SSE heartbeat comments on idle chat streams")
	maxChats := flag.Int("max-chats", 4096, "most chat streams open at once; more are answered 503 with Retry-After (0: unlimited)")
	readHeaderTimeout := flag.Duration("read-header-timeout", 10*time.Second, "deadline for reading a request's headers (0: none)")
	readTimeout := flag.Duration("read-timeout", 30*time.Second, "deadline for reading a whole request, headers and body; a late body is answered 408 and its connection closed (0: none; chat responses are not limited by it)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "aiw-backend: unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		os.Exit(64)
	}
	if *maxChats < 0 {
		fmt.Fprintf(os.Stderr, "aiw-backend: -max-chats %d: want 0 (unlimited) or more\n", *maxChats)
		flag.Usage()
		os.Exit(64)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", *readHeaderTimeout}, {"read-timeout", *readTimeout}} {
		if d.v < 0 {
			fmt.Fprintf(os.Stderr, "aiw-backend: -%s %s: want 0 (none) or more\n", d.name, d.v)
			flag.Usage()
			os.Exit(64)
		}
	}
	logger := log.New(os.Stderr, "aiw-backend: ", log.LstdFlags|log.Lmicroseconds)

	client, err := aiworker.Dial(*target)
	if err != nil {
		logger.Fatalf("dial %s: %v", *target, err)
	}
	defer client.Close()

	cfg := gateway.Config{Target: *target, Timeout: *timeout, ChatTimeout: *chatTimeout,
		HealthTimeout: *healthTimeout, Heartbeat: *heartbeat, MaxChats: *maxChats,
		ReadHeaderTimeout: noneIfZero(*readHeaderTimeout), ReadTimeout: noneIfZero(*readTimeout), Logger: logger}
	handler := gateway.NewServer(client, cfg)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		logger.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: handler}
	gateway.ConfigureServer(srv, cfg) // ReadHeaderTimeout, and the body deadline of ReadTimeout
	logger.Printf("listening on http://%s (AI service %s)", ln.Addr(), *target)

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
