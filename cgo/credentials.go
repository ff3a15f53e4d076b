package aiworker

import (
	"context"
	"strings"
)

// PerRPCCredentials attaches credentials to every call, with grpc-go's
// credentials.PerRPCCredentials methods, so an implementation written for
// grpc-go works here unchanged.
//
// GetRequestMetadata is called before each call, on the calling goroutine,
// with the call's context and the URI of the service being called
// ("https://host:port/ai_service.AiWorker"); the pairs it returns are sent
// as request headers (keys lower-cased). An error fails the call with
// Unauthenticated before anything is sent (an *Error keeps its own code).
//
// RequireTransportSecurity true makes Dial refuse a plaintext client (no
// WithTLS), as grpc-go does: a token must not cross the network in clear.
type PerRPCCredentials interface {
	GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error)
	RequireTransportSecurity() bool
}

// WithPerRPCCredentials sends creds' metadata with every call of the client,
// as grpc-go's grpc.WithPerRPCCredentials. Repeatable: each one's metadata is
// sent, in order.
func WithPerRPCCredentials(creds PerRPCCredentials) Option {
	return func(o *dialOptions) {
		if creds != nil {
			o.creds = append(o.creds, creds)
		}
	}
}

// BearerToken is a static bearer token: `authorization: Bearer <token>`
// with every call. It requires TLS; InsecureBearerToken does not.
func BearerToken(token string) PerRPCCredentials { return bearer{token: token, secure: true} }

// InsecureBearerToken is BearerToken allowed over plaintext: for a service on
// loopback or a network the caller trusts, and only by explicit choice.
func InsecureBearerToken(token string) PerRPCCredentials { return bearer{token: token} }

// TokenSource calls fetch before each call for a token that may expire
// (fetch caches as it sees fit) and sends it as a bearer token. It requires
// TLS unless allowInsecure.
func TokenSource(fetch func(ctx context.Context) (string, error), allowInsecure bool) PerRPCCredentials {
	return tokenSource{fetch: fetch, secure: !allowInsecure}
}

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}
func (b bearer) RequireTransportSecurity() bool { return b.secure }

type tokenSource struct {
	fetch  func(ctx context.Context) (string, error)
	secure bool
}

func (t tokenSource) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := t.fetch(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}
func (t tokenSource) RequireTransportSecurity() bool { return t.secure }

// serviceURI is the audience grpc-go passes to GetRequestMetadata:
// "https://" + authority + "/" + service, from a method path "/pkg.Svc/M".
func (c *Client) serviceURI(method string) string {
	svc := method
	if i := strings.LastIndexByte(method, '/'); i > 0 {
		svc = method[:i]
	}
	return "https://" + c.authority + svc
}

// appendCredentials appends the metadata of the client's and the call's
// credentials to b (after ctx's).
func (b *callBuf) appendCredentials(ctx context.Context, c *Client, method string, call PerRPCCredentials) error {
	n := len(c.opts.creds)
	if call != nil {
		n++
	}
	if n == 0 {
		return nil
	}
	uri := c.serviceURI(method)
	for i := 0; i < n; i++ {
		cr := call
		if i < len(c.opts.creds) {
			cr = c.opts.creds[i]
		}
		if i >= len(c.opts.creds) && cr.RequireTransportSecurity() && !c.opts.tls {
			return Errorf(Unauthenticated, "grpc: the credentials require transport level security (use WithTLS)")
		}
		md, err := cr.GetRequestMetadata(ctx, uri)
		if err != nil {
			if e, ok := err.(*Error); ok {
				return e
			}
			return Errorf(Unauthenticated, "transport: per-RPC creds failed due to error: %v", err)
		}
		for k, v := range md {
			if err := b.appendMetadata(strings.ToLower(k), v); err != nil {
				return err
			}
		}
	}
	return nil
}
