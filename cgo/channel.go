package aiworker

/*
#include <stdlib.h>
#include "aiwgo.h"
*/
import "C"

import (
	"context"
	"strings"
	"time"
	"unsafe"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The production channel: gRPC core's service config (load balancing,
// retries, per-method timeouts, health checking), keepalive, reconnect
// backoff, idle timeout, compression and authority, with grpc-go's names.

// WithDefaultServiceConfig sets the service config (JSON, as gRPC defines
// it), as grpc-go's grpc.WithDefaultServiceConfig. Dial refuses a bad one
// with InvalidArgument and gRPC's reason. Example, three replicas with
// round_robin, retries and health checking:
//
//	aiworker.Dial("ipv4:10.0.0.1:50051,10.0.0.2:50051,10.0.0.3:50051",
//		aiworker.WithDefaultServiceConfig(`{
//		  "loadBalancingConfig": [{"round_robin": {}}],
//		  "healthCheckConfig": {"serviceName": "ai_service.AiWorker"},
//		  "methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 4,
//		    "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2,
//		    "retryableStatusCodes": ["UNAVAILABLE"]}}]}`))
func WithDefaultServiceConfig(json string) Option {
	return func(o *dialOptions) { o.serviceConfig = json }
}

// KeepaliveParams are grpc-go's keepalive.ClientParameters: ping after Time
// without activity, close the connection if no answer within Timeout;
// PermitWithoutStream pings also when no call is running.
//
// Servers refuse pings more frequent than they allow: gRPC servers with no
// options set (grpcio's, C core's) allow one per 5 minutes while they send
// nothing, and none without a call, and answer more with GOAWAY
// "too_many_pings". So against such a server use Time >= 5 minutes and
// PermitWithoutStream false; shorter needs the server's consent (README,
// "Keepalive").
type KeepaliveParams struct {
	Time                time.Duration
	Timeout             time.Duration
	PermitWithoutStream bool
}

// WithKeepaliveParams turns keepalive on, as grpc-go's
// grpc.WithKeepaliveParams. Dial refuses a Time below 1s (grpc-go raises
// it to 10s silently). Timeout 0 means 20s, grpc-go's default.
func WithKeepaliveParams(kp KeepaliveParams) Option {
	return func(o *dialOptions) { o.keepalive = &kp }
}

// BackoffConfig is grpc-go's backoff.Config. gRPC core's reconnect backoff
// has a fixed Multiplier (1.6) and Jitter (0.2): other values are ignored.
type BackoffConfig struct {
	BaseDelay  time.Duration
	Multiplier float64
	Jitter     float64
	MaxDelay   time.Duration
}

// ConnectParams is grpc-go's grpc.ConnectParams: the reconnect backoff and
// the least time a connection attempt is given.
type ConnectParams struct {
	Backoff           BackoffConfig
	MinConnectTimeout time.Duration
}

// WithConnectParams sets the reconnect backoff, as grpc-go's
// grpc.WithConnectParams. Zero fields keep gRPC's defaults (1s base, 120s
// max, 20s min connect timeout).
func WithConnectParams(p ConnectParams) Option { return func(o *dialOptions) { o.connect = &p } }

// WithIdleTimeout makes the channel close its connections and go Idle
// after d without calls (it reconnects on the next call), as grpc-go's
// grpc.WithIdleTimeout. 0 keeps gRPC's default (30 minutes).
func WithIdleTimeout(d time.Duration) Option { return func(o *dialOptions) { o.idleTimeout = d } }

// WithCompressor compresses the requests of every call with the named
// compressor ("gzip", "deflate"; "identity" for none, the default), as
// grpc-go's grpc.WithDefaultCallOptions(grpc.UseCompressor(name)).
// Compressed responses are always accepted.
func WithCompressor(name string) Option { return func(o *dialOptions) { o.compressor = name } }

// WithAuthority sets the :authority sent with every call (the virtual
// host), as grpc-go's grpc.WithAuthority.
func WithAuthority(a string) Option { return func(o *dialOptions) { o.authority = a } }

func millis(d time.Duration) C.int64_t {
	return C.int64_t((d + time.Millisecond - 1) / time.Millisecond)
}

// setChannelOptions applies the production-channel options to co.
func setChannelOptions(co *C.aiw_client_options, o *dialOptions) error {
	if err := noNUL(o.serviceConfig, o.compressor, o.authority); err != nil {
		return err
	}
	if o.serviceConfig != "" {
		s := C.CString(o.serviceConfig)
		C.aiw_client_options_set_service_config(co, s)
		C.free(unsafe.Pointer(s))
	}
	if kp := o.keepalive; kp != nil {
		timeout := kp.Timeout
		if timeout == 0 {
			timeout = 20 * time.Second
		}
		permit := C.int(0)
		if kp.PermitWithoutStream {
			permit = 1
		}
		if kp.Time < time.Second || timeout < 0 ||
			C.aiw_client_options_set_keepalive(co, millis(kp.Time), millis(timeout), permit) != C.AIW_OK {
			return Errorf(InvalidArgument, "aiworker: bad keepalive parameters (Time %v, Timeout %v): Time must be 1s or more",
				kp.Time, kp.Timeout)
		}
	}
	if p := o.connect; p != nil {
		if p.Backoff.BaseDelay < 0 || p.Backoff.MaxDelay < 0 || p.MinConnectTimeout < 0 ||
			C.aiw_client_options_set_reconnect_backoff(co, millis(p.Backoff.BaseDelay), millis(p.MinConnectTimeout),
				millis(p.Backoff.MaxDelay)) != C.AIW_OK {
			return Errorf(InvalidArgument, "aiworker: bad connect parameters %+v", *p)
		}
	}
	if o.idleTimeout < 0 || C.aiw_client_options_set_idle_timeout_ms(co, millis(o.idleTimeout)) != C.AIW_OK {
		return Errorf(InvalidArgument, "aiworker: bad idle timeout %v", o.idleTimeout)
	}
	if o.compressor != "" {
		cn := compressorName(o.compressor)
		if cn == nil || C.aiw_client_options_set_compression(co, cn) != C.AIW_OK {
			return Errorf(InvalidArgument, "aiworker: unknown compressor %q (gzip, deflate, identity)", o.compressor)
		}
	}
	if o.authority != "" {
		s := C.CString(o.authority)
		rc := C.aiw_client_options_set_authority(co, s)
		C.free(unsafe.Pointer(s))
		if rc != C.AIW_OK {
			return Errorf(InvalidArgument, "aiworker: bad authority %q", o.authority)
		}
	}
	for _, cr := range o.creds {
		if cr.RequireTransportSecurity() && !o.tls {
			return Errorf(InvalidArgument,
				"aiworker: the credentials require transport level security (use WithTLS, or credentials that allow plaintext such as InsecureBearerToken)")
		}
	}
	return nil
}

// authorityOf is the authority gRPC derives from a target: its endpoint
// ("host:port" of "dns:///host:port" and of "dns://resolver/host:port",
// the first address of a list), "localhost" for unix sockets.
func authorityOf(target string) string {
	t := target
	switch {
	case strings.HasPrefix(t, "unix:") || strings.HasPrefix(t, "unix-abstract:"):
		return "localhost"
	case strings.HasPrefix(t, "dns://"): // dns://[resolver]/host:port
		t = t[len("dns://"):]
		if i := strings.IndexByte(t, '/'); i >= 0 {
			t = t[i+1:]
		}
	case strings.Contains(t, ":///"):
		t = t[strings.Index(t, ":///")+4:]
	case strings.HasPrefix(t, "dns:") || strings.HasPrefix(t, "ipv4:") || strings.HasPrefix(t, "ipv6:"):
		t = t[strings.IndexByte(t, ':')+1:]
	}
	if i := strings.IndexByte(t, ','); i >= 0 {
		t = t[:i]
	}
	return t
}

// ConnectivityState is the state of the client's channel, with grpc-go's
// connectivity.State names and values.
type ConnectivityState int

// The states, as grpc-go's connectivity package.
const (
	Idle             ConnectivityState = C.AIW_STATE_IDLE
	Connecting       ConnectivityState = C.AIW_STATE_CONNECTING
	Ready            ConnectivityState = C.AIW_STATE_READY
	TransientFailure ConnectivityState = C.AIW_STATE_TRANSIENT_FAILURE
	Shutdown         ConnectivityState = C.AIW_STATE_SHUTDOWN
)

// String returns "IDLE", "CONNECTING", "READY", "TRANSIENT_FAILURE",
// "SHUTDOWN", as grpc-go's.
func (s ConnectivityState) String() string {
	switch s {
	case Idle, Connecting, Ready, TransientFailure, Shutdown:
		return C.GoString(C.aiw_connectivity_state_name(C.aiw_connectivity_state(s)))
	}
	return "INVALID_STATE"
}

// GetState returns the channel's state, as grpc-go's ClientConn.GetState.
// Shutdown once the client is closed.
func (c *Client) GetState() ConnectivityState {
	if !c.enterChannel() {
		return Shutdown
	}
	defer c.waits.Done()
	return ConnectivityState(C.aiw_client_get_state(c.c, 0))
}

// Connect makes an Idle channel start connecting, as grpc-go's
// ClientConn.Connect.
func (c *Client) Connect() {
	if !c.enterChannel() {
		return
	}
	defer c.waits.Done()
	C.aiw_client_get_state(c.c, 1)
}

// waitSlice bounds one wait in C, so that a done context is noticed soon.
const waitSlice = 50 * time.Millisecond

// WaitForStateChange waits until the state differs from source (true) or
// ctx is done (false), as grpc-go's ClientConn.WaitForStateChange. A done
// context is noticed within about 50 ms; Close ends the wait (the state
// becomes Shutdown).
func (c *Client) WaitForStateChange(ctx context.Context, source ConnectivityState) bool {
	if !c.enterChannel() {
		return source != Shutdown
	}
	defer c.waits.Done()
	for {
		if ctx.Err() != nil {
			return false
		}
		if c.closing() { // Shutdown for good: Close must not wait for this loop
			return source != Shutdown
		}
		slice := waitSlice
		if d, ok := ctx.Deadline(); ok {
			if rem := time.Until(d); rem < slice {
				slice = rem
			}
		}
		if slice < 0 {
			slice = 0
		}
		if C.aiw_client_wait_for_state_change(c.c, C.aiw_connectivity_state(source), millis(slice)) != 0 {
			return true
		}
	}
}

// enterChannel counts a goroutine using the channel outside a call (state
// queries and waits), so that Close frees the client only after it; false
// once the client is closed.
func (c *Client) enterChannel() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.waits.Add(1)
	return true
}

// HealthStatus is the answer of grpc.health.v1.Health/Check.
type HealthStatus int

// The statuses, as grpc.health.v1's ServingStatus.
const (
	HealthUnknown        HealthStatus = C.AIW_HEALTH_UNKNOWN
	HealthServing        HealthStatus = C.AIW_HEALTH_SERVING
	HealthNotServing     HealthStatus = C.AIW_HEALTH_NOT_SERVING
	HealthServiceUnknown HealthStatus = C.AIW_HEALTH_SERVICE_UNKNOWN
)

// String returns "UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN".
func (h HealthStatus) String() string {
	return C.GoString(C.aiw_health_status_name(C.aiw_health_status(h)))
}

const healthCheckMethod = "/grpc.health.v1.Health/Check"

// HealthCheck asks the server's standard health service
// (grpc.health.v1.Health/Check) about service ("" for the server as a
// whole). A server that does not know the service answers NOT_FOUND, which
// is returned as HealthServiceUnknown with a nil error, as grpc-go's health
// client sees it; a server with no health service gives Unimplemented.
func (c *Client) HealthCheck(ctx context.Context, service string, opts ...CallOption) (HealthStatus, error) {
	// HealthCheckRequest is {string service = 1;} and HealthCheckResponse
	// {ServingStatus status = 1;}: on the wire exactly the well-known
	// StringValue and Int32Value, so no generated health types are needed
	// here (and none are registered that would clash with grpc-go's own).
	req := wrapperspb.String(service)
	resp := &wrapperspb.Int32Value{}
	err := c.invokeMethod(ctx, healthCheckMethod, req, resp, opts...)
	if CodeOf(err) == NotFound {
		return HealthServiceUnknown, nil
	}
	if err != nil {
		return HealthUnknown, err
	}
	switch s := HealthStatus(resp.Value); s {
	case HealthServing, HealthNotServing, HealthServiceUnknown:
		return s, nil
	}
	return HealthUnknown, nil
}
