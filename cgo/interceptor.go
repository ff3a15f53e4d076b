package aiworker

import (
	"context"

	"google.golang.org/protobuf/proto"
)

// Interceptors, shaped like grpc-go's client interceptors with this
// package's types, so that logging, metrics and tracing middleware written
// for grpc-go carries over: an interceptor sees the method path, the
// request (and reply), the call options, and calls the next step.

// UnaryInvoker completes a unary call (the next interceptor, or the call
// itself), as grpc-go's grpc.UnaryInvoker.
type UnaryInvoker func(ctx context.Context, method string, req, reply proto.Message, c *Client, opts ...CallOption) error

// UnaryClientInterceptor intercepts every unary call of a client (the RPCs,
// Invoke, HealthCheck), as grpc-go's grpc.UnaryClientInterceptor. It must
// call invoker to make the call (or return without making it).
type UnaryClientInterceptor func(ctx context.Context, method string, req, reply proto.Message, c *Client,
	invoker UnaryInvoker, opts ...CallOption) error

// ClientStream is a server-streaming call as interceptors see and wrap it,
// as grpc-go's grpc.ClientStream (a server stream has no SendMsg: its one
// request is given at the start).
type ClientStream interface {
	RecvMsg(m proto.Message) error
	Header() (Metadata, error)
	Trailer() Metadata
	Context() context.Context
	Close() error
}

// Streamer starts a stream (the next interceptor, or the call itself), as
// grpc-go's grpc.Streamer.
type Streamer func(ctx context.Context, method string, req proto.Message, c *Client, opts ...CallOption) (ClientStream, error)

// StreamClientInterceptor intercepts every stream of a client (ChatStream,
// ChatStreamFunc, NewStream), as grpc-go's grpc.StreamClientInterceptor. It
// may wrap the ClientStream it returns (to count or time messages).
type StreamClientInterceptor func(ctx context.Context, method string, req proto.Message, c *Client,
	streamer Streamer, opts ...CallOption) (ClientStream, error)

// WithUnaryInterceptor sets the unary interceptor, as grpc-go's
// grpc.WithUnaryInterceptor. It runs first, before the chained ones.
func WithUnaryInterceptor(i UnaryClientInterceptor) Option {
	return func(o *dialOptions) { o.unaryInt = i }
}

// WithChainUnaryInterceptor appends unary interceptors, as grpc-go's
// grpc.WithChainUnaryInterceptor: the first is the outermost.
func WithChainUnaryInterceptor(is ...UnaryClientInterceptor) Option {
	return func(o *dialOptions) { o.chainUnary = append(o.chainUnary, is...) }
}

// WithStreamInterceptor sets the stream interceptor, as grpc-go's
// grpc.WithStreamInterceptor. It runs first, before the chained ones.
func WithStreamInterceptor(i StreamClientInterceptor) Option {
	return func(o *dialOptions) { o.streamInt = i }
}

// WithChainStreamInterceptor appends stream interceptors, as grpc-go's
// grpc.WithChainStreamInterceptor: the first is the outermost.
func WithChainStreamInterceptor(is ...StreamClientInterceptor) Option {
	return func(o *dialOptions) { o.chainStream = append(o.chainStream, is...) }
}

// buildInterceptors composes the client's interceptors once, at Dial.
func (c *Client) buildInterceptors() {
	var unary []UnaryClientInterceptor
	if c.opts.unaryInt != nil {
		unary = append(unary, c.opts.unaryInt)
	}
	for _, i := range c.opts.chainUnary {
		if i != nil {
			unary = append(unary, i)
		}
	}
	if len(unary) > 0 {
		c.unary = func(ctx context.Context, method string, req, reply proto.Message, cl *Client,
			invoker UnaryInvoker, opts ...CallOption) error {
			return chainUnary(unary, 0, ctx, method, req, reply, cl, invoker, opts)
		}
	}
	var stream []StreamClientInterceptor
	if c.opts.streamInt != nil {
		stream = append(stream, c.opts.streamInt)
	}
	for _, i := range c.opts.chainStream {
		if i != nil {
			stream = append(stream, i)
		}
	}
	if len(stream) > 0 {
		c.stream = func(ctx context.Context, method string, req proto.Message, cl *Client, streamer Streamer,
			opts ...CallOption) (ClientStream, error) {
			return chainStream(stream, 0, ctx, method, req, cl, streamer, opts)
		}
	}
}

func chainUnary(is []UnaryClientInterceptor, i int, ctx context.Context, method string, req, reply proto.Message,
	c *Client, final UnaryInvoker, opts []CallOption) error {
	if i == len(is) {
		return final(ctx, method, req, reply, c, opts...)
	}
	next := func(ctx context.Context, method string, req, reply proto.Message, c *Client, opts ...CallOption) error {
		return chainUnary(is, i+1, ctx, method, req, reply, c, final, opts)
	}
	return is[i](ctx, method, req, reply, c, next, opts...)
}

func chainStream(is []StreamClientInterceptor, i int, ctx context.Context, method string, req proto.Message,
	c *Client, final Streamer, opts []CallOption) (ClientStream, error) {
	if i == len(is) {
		return final(ctx, method, req, c, opts...)
	}
	next := func(ctx context.Context, method string, req proto.Message, c *Client, opts ...CallOption) (ClientStream, error) {
		return chainStream(is, i+1, ctx, method, req, c, final, opts)
	}
	return is[i](ctx, method, req, c, next, opts...)
}
