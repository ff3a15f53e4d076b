// Package grpcconn makes libaiw a grpc-go connection: a *Conn implements
// grpc.ClientConnInterface, so the client that protoc-gen-go-grpc generates
// (pb.NewAiWorkerClient(conn), grpc_health_v1.NewHealthClient(conn), any
// other service's) runs its calls on gRPC C core through libaiw and the Go
// package aiworker. A grpc-go program switches by changing its dial line:
//
//	conn, err := grpc.Dial(target, grpc.WithInsecure())   // before
//	conn, err := grpcconn.Dial(target)                     // after
//	client := pb.NewAiWorkerClient(conn)                   // unchanged
//
// Unary calls and server-streaming calls are supported; client-streaming
// and bidirectional calls fail with codes.Unimplemented. Errors are grpc-go
// status errors (status.FromError, status.Code), with the server's status
// details. The grpc-go call options that have a meaning here are honoured
// (Header, Trailer, Peer, WaitForReady / FailFast, MaxCallRecvMsgSize,
// MaxCallSendMsgSize, UseCompressor, PerRPCCredentials), as is the outgoing
// metadata of metadata.AppendToOutgoingContext / NewOutgoingContext; see
// README.md for the rest.
package grpcconn

import (
	"context"
	"fmt"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/runtime/protoiface"
	"google.golang.org/protobuf/runtime/protoimpl"
)

// Conn is a libaiw channel seen as a grpc-go connection. It is safe for
// concurrent use by any number of goroutines, as *grpc.ClientConn is.
type Conn struct {
	c *aiworker.Client
}

var _ grpc.ClientConnInterface = (*Conn)(nil)

// Dial makes a Conn for target (any gRPC target: host:port, dns:///host:port,
// ipv4:a:p,b:p, unix:/path) with the Go package's own Dial options
// (aiworker.WithTLS, WithDefaultServiceConfig, WithKeepaliveParams,
// WithPerRPCCredentials, WithCompressor, WithAuthority, WithTimeout,
// WithWaitForReady, ...). Connecting is lazy, as grpc.Dial without
// grpc.WithBlock. A Dial error is a status error.
func Dial(target string, opts ...aiworker.Option) (*Conn, error) {
	c, err := aiworker.Dial(target, opts...)
	if err != nil {
		return nil, toStatus(err)
	}
	return &Conn{c: c}, nil
}

// New makes a Conn of an existing aiworker client: both share the channel,
// and closing either closes it.
func New(c *aiworker.Client) *Conn { return &Conn{c: c} }

// Client returns the aiworker client under the connection (for GetState,
// WaitForStateChange, HealthCheck, or the typed AiWorker calls).
func (c *Conn) Client() *aiworker.Client { return c.c }

// Target returns the target the connection was dialled with.
func (c *Conn) Target() string { return c.c.Target() }

// Close cancels every call in flight (they end with codes.Canceled), waits
// for them and releases the channel, as (*grpc.ClientConn).Close. Later
// calls fail with codes.Canceled. Idempotent; always nil.
func (c *Conn) Close() error { return c.c.Close() }

// Invoke makes a unary call of method ("/pkg.Service/Method"): args is
// serialized with the protobuf runtime, sent through libaiw's raw-message
// interface, and the response unmarshalled into reply. args and reply are
// protobuf messages (protoc-gen-go's, or golang/protobuf v1 ones). An error
// is a grpc-go status error.
func (c *Conn) Invoke(ctx context.Context, method string, args, reply interface{}, opts ...grpc.CallOption) error {
	req, err := messageOf(args, "marshaling")
	if err != nil {
		return err
	}
	resp, err := messageOf(reply, "unmarshaling")
	if err != nil {
		return err
	}
	if len(opts) == 0 {
		ctx = withOutgoing(ctx)
		return toStatus(c.c.Invoke(ctx, method, req, resp))
	}
	var ci callInfo
	if err := ci.parse(opts); err != nil {
		return err
	}
	if err := ci.checkSend(req); err != nil {
		return err
	}
	ctx = withOutgoing(ctx)
	err = c.c.Invoke(ctx, method, req, resp, ci.aiw...)
	ci.after()
	return toStatus(err)
}

// NewStream begins a streaming call of method, as generated code does:
// the one request comes through SendMsg, the call starts at CloseSend, and
// RecvMsg returns the messages, then io.EOF. Only server streaming
// (desc.ServerStreams && !desc.ClientStreams) is supported; other kinds
// fail with codes.Unimplemented. A context that is already done fails here
// with codes.Canceled or codes.DeadlineExceeded, as grpc-go does.
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string,
	opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if desc == nil || desc.ClientStreams || !desc.ServerStreams {
		kind := "unary (as a stream)"
		switch {
		case desc == nil:
			kind = "nil StreamDesc"
		case desc.ClientStreams && desc.ServerStreams:
			kind = "bidirectional streaming"
		case desc.ClientStreams:
			kind = "client streaming"
		}
		return nil, status.Errorf(codes.Unimplemented,
			"grpcconn: %s call of %s is not supported: libaiw makes unary and server-streaming calls only", kind, method)
	}
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	s := &clientStream{conn: c, ctx: ctx, method: method}
	if err := s.ci.parse(opts); err != nil {
		return nil, err
	}
	return s, nil
}

// messageOf returns m as a protobuf message: protoc-gen-go's as it is, a
// golang/protobuf v1 message through the runtime's wrapper (grpc-go's proto
// codec accepts both).
func messageOf(m interface{}, what string) (proto.Message, error) {
	switch v := m.(type) {
	case proto.Message:
		return v, nil
	case protoiface.MessageV1:
		return protoimpl.X.ProtoMessageV2Of(v), nil
	}
	return nil, status.Errorf(codes.Internal, "grpc: error while %s: grpcconn: %T is not a protobuf message", what, m)
}

func (c *Conn) String() string { return fmt.Sprintf("grpcconn.Conn(%s)", c.c.Target()) }
