package gateway

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// The gateway's channel to the AI service: several replicas balanced with
// round_robin, retries of UNAVAILABLE, client-side health checking,
// keepalive and an optional bearer token. aiw-backend's -ai-* flags fill an
// AIConfig; DialAI turns it into clients.

// HealthService is the service name the gateway's health checking and its
// health endpoint ask the standard grpc.health.v1 service about.
const HealthService = "ai_service.AiWorker"

// DefaultServiceConfig is the gRPC service config of the gateway's channel
// unless -ai-service-config replaces it: round_robin over every address the
// target resolves to, client-side health checking of ai_service.AiWorker (a
// replica that reports NOT_SERVING gets no calls; a server with no health
// service counts as healthy, as gRPC defines it), and up to 4 attempts for a
// call that fails UNAVAILABLE (a replica down or restarting), 0.1 s to 1 s
// apart.
const DefaultServiceConfig = `{"loadBalancingConfig":[{"round_robin":{}}],` +
	`"healthCheckConfig":{"serviceName":"ai_service.AiWorker"},` +
	`"methodConfig":[{"name":[{"service":"ai_service.AiWorker"}],` +
	`"retryPolicy":{"maxAttempts":4,"initialBackoff":"0.1s","maxBackoff":"1s","backoffMultiplier":2,` +
	`"retryableStatusCodes":["UNAVAILABLE"]}}]}`

// Keepalive defaults (aiw-backend's -ai-keepalive, -ai-keepalive-timeout).
// gRPC servers with no options set (grpcio's and C core's, grpc-go's too)
// accept at most one ping per 5 minutes while they send nothing, and none
// on a connection without a call; more and they close the connection with
// GOAWAY "too_many_pings". 5m30s stays clear of that limit (with a margin
// for timers), and pings are sent only while a call is open
// (PermitWithoutStream false): what keepalive is for here is a long call,
// a chat stream, on a connection whose peer vanished without closing it.
const (
	DefaultKeepalive        = 5*time.Minute + 30*time.Second
	DefaultKeepaliveTimeout = 20 * time.Second
	// serverMinPingInterval is the default minimum of gRPC servers.
	serverMinPingInterval = 5 * time.Minute
)

// AIConfig says how the gateway reaches the AI service.
type AIConfig struct {
	// Target is -ai-target: host:port, any gRPC target (dns:///name:port,
	// ipv4:a:p,b:p, ipv6:[a]:p,[b]:p, unix:/path) or a comma list of IP
	// address:port pairs (see ParseTarget).
	Target string
	// ServiceConfig is the gRPC service config (JSON); "" means
	// DefaultServiceConfig.
	ServiceConfig string
	// Keepalive is the keepalive time: after it without activity on a
	// connection with a call open, the client pings; 0 means no keepalive.
	// AIConfig's zero value has none: aiw-backend's flag defaults to
	// DefaultKeepalive.
	Keepalive time.Duration
	// KeepaliveTimeout is how long a ping may go unanswered before the
	// connection is closed (0: DefaultKeepaliveTimeout).
	KeepaliveTimeout time.Duration
	// Token, when not "", is sent as "authorization: Bearer <Token>" with
	// every call, the health probes included.
	Token string
	// TokenInsecure allows Token over plaintext. Without it (or TLS) DialAI
	// refuses a token: it would cross the network in clear.
	TokenInsecure bool
	// TLS turns TLS on, with RootCAs (PEM; nil: gRPC's default roots) and
	// ServerName (the name checked against the certificate; "": the
	// target's host).
	TLS        bool
	RootCAs    []byte
	ServerName string
}

// ConfigError is a configuration DialAI refuses before dialling (a usage
// error: aiw-backend exits 64).
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func configErrorf(format string, a ...interface{}) error {
	return &ConfigError{Msg: fmt.Sprintf(format, a...)}
}

// grpcSchemes are the target schemes gRPC core resolves; a target starting
// with one is passed on unchanged.
var grpcSchemes = []string{"dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:", "xds:", "google-c2p:"}

// ParseTarget turns -ai-target into a gRPC target:
//
//   - a target without a comma (host:port, dns:///name:port, unix:/path, ...)
//     is returned unchanged; gRPC resolves it (dns:///name:port with several
//     A records gives several addresses, which round_robin balances);
//   - a target starting with a gRPC scheme (ipv4:a:p,b:p, ...) is returned
//     unchanged;
//   - a plain comma list "a:p,b:p" of IP address:port pairs becomes
//     "ipv4:a:p,b:p" (all IPv4) or "ipv6:[a]:p,[b]:p" (all IPv6).
//
// A list naming a host by name is refused: one gRPC target cannot list
// host names (that needs a resolver of one's own); a DNS name with one A
// record per replica, dns:///name:port, does the same job.
func ParseTarget(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", configErrorf("-ai-target: empty target")
	}
	if !strings.Contains(s, ",") {
		return s, nil
	}
	lower := strings.ToLower(s)
	for _, scheme := range grpcSchemes {
		if strings.HasPrefix(lower, scheme) {
			return s, nil
		}
	}
	var v4, v6 []string
	for _, elem := range strings.Split(s, ",") {
		elem = strings.TrimSpace(elem)
		if elem == "" {
			return "", configErrorf("-ai-target %q: empty element in the list", s)
		}
		host, port, err := net.SplitHostPort(elem)
		if err != nil {
			return "", configErrorf("-ai-target %q: %q is not ADDRESS:PORT: %v", s, elem, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return "", configErrorf("-ai-target %q: %q: bad port %q", s, elem, port)
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return "", configErrorf("-ai-target %q: %q is a host name; a list can only hold IP addresses "+
				"(one gRPC target cannot list host names). Give IP addresses (10.0.0.1:50051,10.0.0.2:50051), "+
				"or one DNS name with an A record per replica: dns:///%s", s, host, net.JoinHostPort(host, port))
		}
		if addr.Is4() {
			v4 = append(v4, net.JoinHostPort(addr.String(), port))
		} else {
			v6 = append(v6, net.JoinHostPort(addr.String(), port))
		}
	}
	switch {
	case len(v6) == 0:
		return "ipv4:" + strings.Join(v4, ","), nil
	case len(v4) == 0:
		return "ipv6:" + strings.Join(v6, ","), nil
	}
	return "", configErrorf("-ai-target %q mixes IPv4 and IPv6 addresses; one gRPC target lists one family "+
		"(ipv4:... or ipv6:...): use one family, or dns:///name:port with A and AAAA records", s)
}

// validToken accepts what an HTTP/2 header value may carry: printable ASCII.
func validToken(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return tok != "" && strings.TrimSpace(tok) == tok
}

// probeServiceConfig is sc without client-side health checking, for the
// health probe's channel: through the calls' channel a replica that says
// NOT_SERVING cannot be asked at all (its picks fail UNAVAILABLE "backend
// unhealthy"), so the probe asks on a channel that still reaches it. ""
// when sc has no healthCheckConfig (the calls' channel answers the same).
func probeServiceConfig(sc string) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sc), &m); err != nil {
		return "", err
	}
	if _, ok := m["healthCheckConfig"]; !ok {
		return "", nil
	}
	delete(m, "healthCheckConfig")
	b, err := json.Marshal(m)
	return string(b), err
}

// options returns the dial options of cfg (with the service config sc).
func (cfg AIConfig) options(sc string) []aiworker.Option {
	opts := []aiworker.Option{aiworker.WithDefaultServiceConfig(sc)}
	if cfg.Keepalive > 0 {
		opts = append(opts, aiworker.WithKeepaliveParams(aiworker.KeepaliveParams{
			Time: cfg.Keepalive, Timeout: cfg.KeepaliveTimeout}))
	}
	if cfg.TLS {
		opts = append(opts, aiworker.WithTLS(cfg.RootCAs, nil, nil))
		if cfg.ServerName != "" {
			opts = append(opts, aiworker.WithServerName(cfg.ServerName))
		}
	}
	if cfg.Token != "" {
		if cfg.TLS {
			opts = append(opts, aiworker.WithPerRPCCredentials(aiworker.BearerToken(cfg.Token)))
		} else {
			opts = append(opts, aiworker.WithPerRPCCredentials(aiworker.InsecureBearerToken(cfg.Token)))
		}
	}
	return opts
}

// Check validates cfg without dialling and returns the gRPC target
// (ParseTarget's) and the service config to use. Every error is a
// *ConfigError.
func (cfg AIConfig) Check() (target, serviceConfig string, err error) {
	target, err = ParseTarget(cfg.Target)
	if err != nil {
		return "", "", err
	}
	serviceConfig = cfg.ServiceConfig
	if strings.TrimSpace(serviceConfig) == "" {
		serviceConfig = DefaultServiceConfig
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(serviceConfig), &obj); err != nil {
		return "", "", configErrorf("-ai-service-config: not a JSON object: %v", err)
	}
	if cfg.Keepalive < 0 || (cfg.Keepalive > 0 && cfg.Keepalive < time.Second) {
		return "", "", configErrorf("-ai-keepalive %v: want 0 (off) or 1s or more", cfg.Keepalive)
	}
	if cfg.KeepaliveTimeout < 0 {
		return "", "", configErrorf("-ai-keepalive-timeout %v: want more than 0", cfg.KeepaliveTimeout)
	}
	if cfg.Token != "" {
		if !validToken(cfg.Token) {
			return "", "", configErrorf("-ai-token: the token must be printable ASCII without leading or trailing spaces")
		}
		if !cfg.TLS && !cfg.TokenInsecure {
			return "", "", configErrorf("-ai-token: refusing to send a bearer token over plaintext to %s: "+
				"it would cross the network in clear. Use TLS (-ai-tls, -ai-ca FILE), or, for a service on "+
				"loopback or a network you trust, say so with -ai-token-insecure", target)
		}
	}
	return target, serviceConfig, nil
}

// KeepaliveWarning is a warning about cfg's keepalive for the log, or "":
// below 5 minutes a server with default settings closes the connection
// with GOAWAY too_many_pings unless it was configured to allow it.
func (cfg AIConfig) KeepaliveWarning() string {
	if cfg.Keepalive > 0 && cfg.Keepalive < serverMinPingInterval {
		return fmt.Sprintf("-ai-keepalive %v is below the 5m minimum ping interval of gRPC servers with default "+
			"settings: unless the AI service allows it (grpc.http2.min_ping_interval_without_data_ms), it will close "+
			"connections with GOAWAY too_many_pings", cfg.Keepalive)
	}
	return ""
}

// AIConn is the gateway's connection to the AI service.
type AIConn struct {
	// Client makes the calls (pass it to NewServer).
	Client *aiworker.Client
	// Probe is a second channel to the same target without client-side
	// health checking, for the health endpoint (Config.HealthProbe); nil
	// when the service config has no healthCheckConfig.
	Probe *aiworker.Client
	// Target is the gRPC target dialled (ParseTarget's).
	Target string
	// ServiceConfig is the service config in use.
	ServiceConfig string
}

// DialAI validates cfg (Check) and dials the AI service. Dialling does not
// connect: an unreachable service is reported by the first call. A
// configuration it refuses is a *ConfigError. extra are more options for
// both clients, after cfg's: Metrics.DialOptions() to count their calls.
func DialAI(cfg AIConfig, extra ...aiworker.Option) (*AIConn, error) {
	target, sc, err := cfg.Check()
	if err != nil {
		return nil, err
	}
	probeSC, err := probeServiceConfig(sc)
	if err != nil {
		return nil, configErrorf("-ai-service-config: %v", err)
	}
	c, err := aiworker.Dial(target, append(cfg.options(sc), extra...)...)
	if err != nil {
		if aiworker.CodeOf(err) == aiworker.InvalidArgument {
			return nil, &ConfigError{Msg: fmt.Sprintf("AI service %s: %v", target, err)}
		}
		return nil, err
	}
	conn := &AIConn{Client: c, Target: target, ServiceConfig: sc}
	if probeSC != "" {
		conn.Probe, err = aiworker.Dial(target, append(cfg.options(probeSC), extra...)...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("AI service %s (health probe channel): %w", target, err)
		}
	}
	return conn, nil
}

// HealthProbe is Probe as a Config.HealthProbe: nil (no probe) when Probe
// is nil.
func (a *AIConn) HealthProbe() HealthChecker {
	if a.Probe == nil {
		return nil
	}
	return a.Probe
}

// Close closes both clients.
func (a *AIConn) Close() error {
	err := a.Client.Close()
	if a.Probe != nil {
		if perr := a.Probe.Close(); err == nil {
			err = perr
		}
	}
	return err
}

// targetHostPort is the host and port of a gRPC target, as ThinkBank's
// health answer reports them: "127.0.0.1:50051" and "dns:///ai:50051" give
// ("127.0.0.1", "50051") and ("ai", "50051"); a list
// ("ipv4:10.0.0.1:50051,10.0.0.2:50051") gives the hosts joined by commas
// and the port (the ports joined by commas when they differ); a target
// without a port (unix:/path, ...) gives itself and "".
func targetHostPort(target string) (host, port string) {
	rest := target
	lower := strings.ToLower(target)
	switch {
	case strings.HasPrefix(lower, "dns:"):
		rest = target[len("dns:"):]
		if strings.HasPrefix(rest, "//") { // dns://[authority]/host:port
			if i := strings.IndexByte(rest[2:], '/'); i >= 0 {
				rest = rest[2+i+1:]
			} else {
				rest = rest[2:]
			}
		}
	case strings.HasPrefix(lower, "ipv4:"), strings.HasPrefix(lower, "ipv6:"):
		rest = target[len("ipv4:"):]
	case strings.Contains(target, ":///") || strings.HasPrefix(lower, "unix:") ||
		strings.HasPrefix(lower, "unix-abstract:") || strings.HasPrefix(lower, "vsock:"):
		return target, ""
	}
	var hosts, ports []string
	for _, elem := range strings.Split(rest, ",") {
		h, p, err := net.SplitHostPort(strings.TrimSpace(elem))
		if err != nil {
			return target, ""
		}
		hosts, ports = append(hosts, h), append(ports, p)
	}
	if len(hosts) == 0 {
		return target, ""
	}
	allSame := true
	for _, p := range ports {
		allSame = allSame && p == ports[0]
	}
	if allSame {
		return strings.Join(hosts, ","), ports[0]
	}
	return strings.Join(hosts, ","), strings.Join(ports, ",")
}
