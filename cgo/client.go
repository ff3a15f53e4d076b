package aiworker

/*
#cgo pkg-config: aiw
#cgo CFLAGS: -Wall -Wextra -Wno-unused-parameter -Wshadow -Werror
#include <stdlib.h>
#include "aiwgo.h"
*/
import "C"

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// Option configures a Client (Dial).
type Option func(*dialOptions)

type dialOptions struct {
	timeout      time.Duration
	waitForReady bool
	maxRecv      int
	maxSend      int
	tls          bool
	rootCerts    []byte
	certChain    []byte
	privateKey   []byte
	serverName   string
	userAgent    string
	// The production channel (channel.go, credentials.go).
	serviceConfig string
	keepalive     *KeepaliveParams
	connect       *ConnectParams
	idleTimeout   time.Duration
	compressor    string
	authority     string
	creds         []PerRPCCredentials
	// Interceptors (interceptor.go).
	unaryInt    UnaryClientInterceptor
	chainUnary  []UnaryClientInterceptor
	streamInt   StreamClientInterceptor
	chainStream []StreamClientInterceptor
}

// WithTimeout sets the deadline of unary calls whose context has none
// (default: none). Streams are bounded by their context only.
func WithTimeout(d time.Duration) Option { return func(o *dialOptions) { o.timeout = d } }

// WithWaitForReady makes calls wait (until their deadline) for the channel
// to connect instead of failing fast with Unavailable, like grpc-go's
// grpc.WaitForReady(true). Default false.
func WithWaitForReady(wait bool) Option { return func(o *dialOptions) { o.waitForReady = wait } }

// WithMaxRecvMsgSize sets the largest response message in bytes (default
// 4 MiB, gRPC's; 0 means unlimited). A larger one fails the call with
// ResourceExhausted.
func WithMaxRecvMsgSize(n int) Option { return func(o *dialOptions) { o.maxRecv = n } }

// WithMaxSendMsgSize sets the largest request message in bytes (default
// unlimited, also for 0). A larger one fails with ResourceExhausted.
func WithMaxSendMsgSize(n int) Option { return func(o *dialOptions) { o.maxSend = n } }

// WithTLS turns TLS on. rootCertsPEM nil uses gRPC's default roots;
// certChainPEM and privateKeyPEM together enable mutual TLS.
func WithTLS(rootCertsPEM, certChainPEM, privateKeyPEM []byte) Option {
	return func(o *dialOptions) {
		o.tls, o.rootCerts, o.certChain, o.privateKey = true, rootCertsPEM, certChainPEM, privateKeyPEM
	}
}

// WithServerName overrides the name checked against the server's certificate.
func WithServerName(name string) Option { return func(o *dialOptions) { o.serverName = name } }

// WithUserAgent sets a prefix for the user agent.
func WithUserAgent(ua string) Option { return func(o *dialOptions) { o.userAgent = ua } }

// Client is a client of ai_service.AiWorker over one gRPC channel. It is safe
// for concurrent use by any number of goroutines.
type Client struct {
	c       *C.aiw_client
	q       *C.aiw_queue  // the completion queue of all its calls
	pollMem *C.aiwgo_poll // the poller's arrays, in C memory
	target  string
	opts    dialOptions
	// authority: as gRPC sends it (for the credentials' URI).
	authority string
	// The composed interceptors, nil when none (interceptor.go).
	unary  UnaryClientInterceptor
	stream StreamClientInterceptor

	mu        sync.Mutex
	closed    bool
	slots     []*waiter // the calls in flight by tag (loop.go)
	freeSlots []uint64
	active    int            // calls started whose RESULT was not delivered yet
	idle      chan struct{}  // closed when active drops to 0 (set by Close)
	calls     sync.WaitGroup // unary calls inside the API (they free their completion)
	waits     sync.WaitGroup // GetState, Connect, WaitForStateChange inside C
	pollDone  chan struct{}
	closeDone chan struct{}
}

// Dial makes a client for target (any gRPC target: host:port,
// dns:///host:port, ipv4:a:p,b:p, unix:/path). Connecting is lazy: an
// unreachable server is reported by the first call (Unavailable, unless
// WithWaitForReady). Close the client when done with it: it holds one
// goroutine (its poller, waiting in C on an OS thread of its own).
func Dial(target string, opts ...Option) (*Client, error) {
	o := dialOptions{maxRecv: 4 << 20}
	for _, f := range opts {
		f(&o)
	}
	if o.maxRecv < 0 || o.maxSend < 0 || o.timeout < 0 {
		return nil, Errorf(InvalidArgument, "aiworker: negative message size or timeout")
	}
	if err := noNUL(target, o.serverName, o.userAgent, string(o.rootCerts), string(o.certChain),
		string(o.privateKey)); err != nil {
		return nil, err
	}
	co := C.aiw_client_options_new()
	if co == nil {
		return nil, Errorf(ResourceExhausted, "aiworker: out of memory")
	}
	defer C.aiw_client_options_free(co)
	if rc := C.aiw_client_options_set_max_receive_size(co, C.size_t(o.maxRecv)); rc != C.AIW_OK {
		return nil, Errorf(InvalidArgument, "aiworker: bad max receive size %d", o.maxRecv)
	}
	if rc := C.aiw_client_options_set_max_send_size(co, C.size_t(o.maxSend)); rc != C.AIW_OK {
		return nil, Errorf(InvalidArgument, "aiworker: bad max send size %d", o.maxSend)
	}
	if o.tls {
		root, chain, key := cStringOrNil(o.rootCerts), cStringOrNil(o.certChain), cStringOrNil(o.privateKey)
		rc := C.aiw_client_options_set_tls(co, root, chain, key)
		C.free(unsafe.Pointer(root))
		C.free(unsafe.Pointer(chain))
		C.free(unsafe.Pointer(key))
		if rc != C.AIW_OK {
			return nil, Errorf(Code(rc), "aiworker: TLS options: %s", C.GoString(C.aiw_strerror(C.int(rc))))
		}
	}
	if o.serverName != "" {
		s := C.CString(o.serverName)
		rc := C.aiw_client_options_set_server_name(co, s)
		C.free(unsafe.Pointer(s))
		if rc != C.AIW_OK {
			return nil, Errorf(Code(rc), "aiworker: server name: %s", C.GoString(C.aiw_strerror(C.int(rc))))
		}
	}
	if o.userAgent != "" {
		s := C.CString(o.userAgent)
		rc := C.aiw_client_options_set_user_agent(co, s)
		C.free(unsafe.Pointer(s))
		if rc != C.AIW_OK {
			return nil, Errorf(Code(rc), "aiworker: user agent: %s", C.GoString(C.aiw_strerror(C.int(rc))))
		}
	}
	if err := setChannelOptions(co, &o); err != nil {
		return nil, err
	}
	var cerr C.aiw_error
	var cc *C.aiw_client
	t := C.CString(target)
	rc := C.aiw_client_new(t, co, &cc, &cerr)
	C.free(unsafe.Pointer(t))
	if rc != C.AIW_OK {
		return nil, &Error{Code: mapCode(rc), Message: errMessage(&cerr)}
	}
	q := C.aiw_queue_new()
	p := C.aiwgo_poll_new(pollBatch)
	if q == nil || p == nil {
		C.aiw_queue_free(q)
		C.aiwgo_poll_free(p)
		C.aiw_client_free(cc)
		return nil, Errorf(ResourceExhausted, "aiworker: out of memory")
	}
	c := &Client{c: cc, q: q, pollMem: p, target: target, opts: o, pollDone: make(chan struct{}),
		closeDone: make(chan struct{}), authority: o.authority}
	if c.authority == "" {
		c.authority = authorityOf(target)
	}
	c.buildInterceptors()
	go c.poll()
	// A safety net only: the poller holds c, so this runs only for a
	// client that was never used... and never, while the poller runs.
	return c, nil
}

func cStringOrNil(b []byte) *C.char {
	if b == nil {
		return nil
	}
	return C.CString(string(b))
}

func noNUL(ss ...string) error {
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				return Errorf(InvalidArgument, "aiworker: string contains a NUL byte")
			}
		}
	}
	return nil
}

// LibraryVersion returns the version of the libaiw actually loaded
// ("1.2.0") and its number (0x010200), which may be newer than the one this
// package was built against.
func LibraryVersion() (string, int) {
	return C.GoString(C.aiw_version()), int(C.aiw_version_num())
}

// Target returns the target the client was dialled with.
func (c *Client) Target() string { return c.target }

// Close cancels every call running through the client (they return
// Canceled promptly, with ErrClientClosed), waits for them to end, and
// releases the client. Calls made afterwards fail with ErrClientClosed.
// Close is idempotent and safe to call from any goroutine, also while calls
// and streams run, also from inside a ChatStreamFunc function; it always
// returns nil. A stream whose final message was not read yet ends with an
// error from Recv, never io.EOF.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.closeDone
		return nil
	}
	c.closed = true
	// Messages delivered to streams but not read yet: free them, so that
	// their (cancelled) streams can end. Later ones the poller frees.
	var unread []*C.aiw_completion
	for _, w := range c.slots {
		if w != nil && w.stream {
			unread = w.takeUnread(unread)
		}
	}
	idle := make(chan struct{})
	if c.active == 0 {
		close(idle)
	} else {
		c.idle = idle
	}
	c.mu.Unlock()
	C.aiw_client_close(c.c) // every call ends CANCELLED; its RESULT still comes
	for _, m := range unread {
		C.aiw_completion_free(m)
	}
	<-idle
	c.calls.Wait()
	c.waits.Wait()            // a state wait returns within its slice of the close
	C.aiw_queue_shutdown(c.q) // nothing is active: the poller gets SHUTDOWN and leaves
	<-c.pollDone
	C.aiw_queue_free(c.q)
	C.aiwgo_poll_free(c.pollMem)
	C.aiw_client_free(c.c)
	c.q, c.pollMem, c.c = nil, nil, nil
	close(c.closeDone)
	return nil
}

// droppedBy reports whether Close threw away a message of w unread.
func (c *Client) droppedBy(w *waiter) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return w.dropped
}

// closing reports whether Close has begun (calls it cancelled end with
// ErrClientClosed rather than the library's own wording).
func (c *Client) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// ---------------------------------------------------------------------------
// Cancel tokens

const tokenBatch = 16
const tokenPoolMax = 1024

var tokenPool struct {
	sync.Mutex
	free []*C.aiw_cancel_token
}

// getToken returns a clean token (one transition per tokenBatch new ones).
func getToken() (*C.aiw_cancel_token, error) {
	tokenPool.Lock()
	defer tokenPool.Unlock()
	if len(tokenPool.free) == 0 {
		var batch [tokenBatch]*C.aiw_cancel_token
		n := int(C.aiwgo_cancel_tokens_new(&batch[0], tokenBatch))
		if n == 0 {
			return nil, Errorf(ResourceExhausted, "aiworker: out of memory")
		}
		tokenPool.free = append(tokenPool.free, batch[:n]...)
	}
	t := tokenPool.free[len(tokenPool.free)-1]
	tokenPool.free = tokenPool.free[:len(tokenPool.free)-1]
	return t, nil
}

func putToken(t *C.aiw_cancel_token) {
	tokenPool.Lock()
	if len(tokenPool.free) < tokenPoolMax {
		tokenPool.free = append(tokenPool.free, t)
		tokenPool.Unlock()
		return
	}
	tokenPool.Unlock()
	C.aiw_cancel_token_free(t)
}

// drainTokenPool frees the pooled tokens (for leak checks at exit).
func drainTokenPool() {
	tokenPool.Lock()
	defer tokenPool.Unlock()
	for _, t := range tokenPool.free {
		C.aiw_cancel_token_free(t)
	}
	tokenPool.free = nil
}

// ---------------------------------------------------------------------------
// Errors from C

func errMessage(e *C.aiw_error) string {
	b := (*[C.AIW_ERROR_MESSAGE_SIZE]byte)(unsafe.Pointer(&e.message[0]))
	for i, ch := range b {
		if ch == 0 {
			return string(b[:i])
		}
	}
	return string(b[:])
}

// mapCode maps a library code onto a Code.
func mapCode(rc C.aiw_code) Code {
	switch {
	case rc <= C.AIW_UNAUTHENTICATED:
		return Code(rc)
	case rc == C.AIW_SERVICE_ERROR:
		return ServiceError
	case rc == C.AIW_CALLBACK_ABORTED:
		return Canceled
	case rc == C.AIW_OUT_OF_MEMORY:
		return ResourceExhausted
	case rc == C.AIW_RECURSIVE_API_CALL:
		return FailedPrecondition
	}
	return Unknown
}

// callError is the error of a call that ended with rc and message msg. A
// call that its context ended reports the context's error (Unwrap gives
// it): a cancel whose context is done, and a DEADLINE_EXCEEDED that libaiw
// says its own deadline caused (deadlineExpired) when that deadline was the
// context's. A DEADLINE_EXCEEDED the server sent keeps its own message.
func (c *Client) callError(ctx context.Context, rc C.aiw_code, msg string, deadlineExpired bool) error {
	if rc == C.AIW_CANCELLED && ctx.Err() == nil && c.closing() {
		return ErrClientClosed
	}
	if rc == C.AIW_CANCELLED {
		if err := ctx.Err(); err != nil {
			return ctxError(err)
		}
	}
	if rc == C.AIW_DEADLINE_EXCEEDED && deadlineExpired {
		if _, ok := ctx.Deadline(); ok {
			return ctxError(context.DeadlineExceeded)
		}
	}
	return &Error{Code: mapCode(rc), Message: msg}
}

// timeoutMS is the call's timeout from ctx's deadline, else the default.
func (c *Client) timeoutMS(ctx context.Context, unary bool) (int64, error) {
	if d, ok := ctx.Deadline(); ok {
		rem := time.Until(d)
		if rem <= 0 {
			return 0, ctxError(context.DeadlineExceeded)
		}
		return int64((rem + time.Millisecond - 1) / time.Millisecond), nil
	}
	if unary && c.opts.timeout > 0 {
		return int64((c.opts.timeout + time.Millisecond - 1) / time.Millisecond), nil
	}
	return 0, nil
}

func (c *Client) String() string { return fmt.Sprintf("aiworker.Client(%s)", c.target) }
