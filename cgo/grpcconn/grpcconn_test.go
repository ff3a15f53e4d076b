package grpcconn_test

// What only grpcconn has: the refusals (client and bidirectional streaming,
// other codecs, non-protobuf messages), the stream's SendMsg / CloseSend
// protocol, the peer address parser, aiworker's Dial options and client
// under the Conn.

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/cgo/grpcconn"
	pb "github.com/thinkbank/libaiw/cgo/grpcconn/gen/ai_service"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/runtime/protoimpl"
)

// conn dials the test's own reference service (one per test function).
func conn(t *testing.T, opts ...aiworker.Option) (*grpcconn.Conn, *service) {
	t.Helper()
	srv := startService(t)
	c, err := grpcconn.Dial(srv.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

func TestUnsupportedStreamKinds(t *testing.T) {
	c, _ := conn(t)
	for _, d := range []struct {
		desc *grpc.StreamDesc
		kind string
	}{
		{&grpc.StreamDesc{ClientStreams: true}, "client streaming"},
		{&grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "bidirectional streaming"},
		{&grpc.StreamDesc{}, "unary (as a stream)"},
		{nil, "nil StreamDesc"},
	} {
		st, err := c.NewStream(context.Background(), d.desc, "/x.Y/Z")
		s, _ := status.FromError(err)
		if st != nil || s.Code() != codes.Unimplemented || !strings.Contains(s.Message(), d.kind) ||
			!strings.Contains(s.Message(), "/x.Y/Z") {
			t.Errorf("%s: got %v, %v", d.kind, st, err)
		}
	}
}

type jsonCodec struct{}

func (jsonCodec) Marshal(v interface{}) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v interface{}) error { return json.Unmarshal(data, v) }
func (jsonCodec) Name() string                               { return "json" }

func TestCodecs(t *testing.T) {
	c, _ := conn(t)
	ai := pb.NewAiWorkerClient(c)
	ctx := ctxT(t, 10*time.Second)
	for _, o := range []grpc.CallOption{grpc.ForceCodec(jsonCodec{}), grpc.CallContentSubtype("json")} {
		_, err := ai.GetEmbedding(ctx, text("hello"), o)
		if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), `codec "json"`) {
			t.Errorf("%T: %v", o, err)
		}
		_, err = ai.ChatStream(ctx, &pb.ChatRequest{Query: "hi"}, o)
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("stream %T: %v", o, err)
		}
	}
	// the proto codec is what is used anyway
	if _, err := ai.GetEmbedding(ctx, text("hello"), grpc.ForceCodec(encoding.GetCodec("proto")),
		grpc.CallContentSubtype("proto"), grpc.MaxRetryRPCBufferSize(1), grpc.EmptyCallOption{}); err != nil {
		t.Error(err)
	}
}

func TestMessages(t *testing.T) {
	c, _ := conn(t)
	ctx := ctxT(t, 10*time.Second)
	const method = "/ai_service.AiWorker/GetEmbedding"
	err := c.Invoke(ctx, method, "not a message", new(pb.EmbeddingResponse))
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "marshaling") {
		t.Errorf("string request: %v", err)
	}
	err = c.Invoke(ctx, method, text("x"), struct{}{})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "unmarshaling") {
		t.Errorf("struct reply: %v", err)
	}
	// golang/protobuf v1 messages (what grpc-go's codec also takes)
	resp := new(pb.EmbeddingResponse)
	if err := c.Invoke(ctx, method, protoimpl.X.ProtoMessageV1Of(text("hello")), protoimpl.X.ProtoMessageV1Of(resp)); err != nil {
		t.Fatal(err)
	}
	if len(resp.SemanticVector) != 1024 {
		t.Errorf("%d floats", len(resp.SemanticVector))
	}
	// the Go package's own message types are protoc-gen-go's too
	aresp := new(aiworker.EmbeddingResponse)
	if err := c.Invoke(ctx, method, &aiworker.EmbeddingRequest{Content: &aiworker.EmbeddingRequest_Text{Text: "hello"}}, aresp); err != nil {
		t.Fatal(err)
	}
	if len(aresp.SemanticVector) != 1024 || aresp.SemanticVector[0] != resp.SemanticVector[0] {
		t.Errorf("aiworker types: %d floats", len(aresp.SemanticVector))
	}
}

var chatDesc = &grpc.StreamDesc{StreamName: "ChatStream", ServerStreams: true}

func TestStreamProtocol(t *testing.T) {
	c, _ := conn(t)
	ctx := ctxT(t, 10*time.Second)
	const method = "/ai_service.AiWorker/ChatStream"

	// no CloseSend: the first RecvMsg starts the call
	st, err := c.NewStream(ctx, chatDesc, method)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&pb.ChatRequest{Query: "!count:2"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&pb.ChatRequest{Query: "again"}); status.Code(err) != codes.Internal {
		t.Errorf("second SendMsg: %v", err)
	}
	n := 0
	for {
		var m pb.ChatResponse
		if err = st.RecvMsg(&m); err != nil {
			break
		}
		n++
	}
	if n != 2 || err.Error() != "EOF" {
		t.Errorf("%d messages, %v", n, err)
	}

	// no SendMsg: RecvMsg fails, it does not wait
	st, err = c.NewStream(ctx, chatDesc, method)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Errorf("CloseSend: %v", err)
	}
	if err := st.RecvMsg(new(pb.ChatResponse)); status.Code(err) != codes.Internal {
		t.Errorf("RecvMsg without a request: %v", err)
	}
	if err := st.SendMsg(&pb.ChatRequest{Query: "late"}); status.Code(err) != codes.Internal {
		t.Errorf("SendMsg after CloseSend: %v", err)
	}
	if st.Context() != ctx {
		t.Error("Context() is not the stream's")
	}

	// a request that cannot be sent fails at SendMsg, as in grpc-go
	st, _ = c.NewStream(ctx, chatDesc, method, grpc.MaxCallSendMsgSize(4))
	if err := st.SendMsg(&pb.ChatRequest{Query: "longer than four bytes"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("SendMsg over MaxCallSendMsgSize: %v", err)
	}
}

func TestDialOptions(t *testing.T) {
	c, srv := conn(t, aiworker.WithPerRPCCredentials(aiworker.InsecureBearerToken("dial-tok")),
		aiworker.WithTimeout(300*time.Millisecond), aiworker.WithUserAgent("grpcconn-test"))
	ai := pb.NewAiWorkerClient(c)
	r, err := ai.VectorSearch(context.Background(), &pb.SearchRequest{Query: "!echo"},
		grpc.PerRPCCredentials(staticCreds{"x-call": "c1"}))
	if err != nil {
		t.Fatal(err)
	}
	md := r.Results[0].Metadata
	if md["md:authorization"] != "Bearer dial-tok" || md["md:x-call"] != "c1" ||
		!strings.HasPrefix(md["md:user-agent"], "grpcconn-test") {
		t.Errorf("server saw %v", md)
	}
	// WithTimeout: the deadline of unary calls whose context has none
	_, err = ai.GetEmbedding(context.Background(), text("!slow:3000"))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("WithTimeout: %v", err)
	}
	// the aiworker client under the Conn shares its channel
	if c.Client() == nil || c.Target() != srv.addr {
		t.Fatalf("Client() %v, Target() %q", c.Client(), c.Target())
	}
	if _, err := c.Client().GetEmbedding(ctxT(t, 10*time.Second),
		&aiworker.EmbeddingRequest{Content: &aiworker.EmbeddingRequest_Text{Text: "hi"}}); err != nil {
		t.Error(err)
	}
	// a bad Dial is a status error
	_, err = grpcconn.Dial(srv.addr, aiworker.WithMaxRecvMsgSize(-1))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad Dial: %v", err)
	}
}

func TestNewWrapsClient(t *testing.T) {
	srv := startService(t)
	cl, err := aiworker.Dial(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := grpcconn.New(cl)
	if _, err := pb.NewAiWorkerClient(c).GetEmbedding(ctxT(t, 10*time.Second), text("x")); err != nil {
		t.Error(err)
	}
	c.Close()
	if _, err := cl.GetEmbedding(ctxT(t, 10*time.Second), &aiworker.EmbeddingRequest{
		Content: &aiworker.EmbeddingRequest_Text{Text: "x"}}); aiworker.CodeOf(err) != aiworker.Canceled {
		t.Errorf("after Conn.Close, the client: %v", err)
	}
}

func TestParseAddr(t *testing.T) {
	for _, c := range []struct{ in, network, str string }{
		{"ipv4:127.0.0.1:5000", "tcp", "127.0.0.1:5000"},
		{"ipv6:[::1]:50051", "tcp", "[::1]:50051"},
		{"ipv6:[fe80::1%eth0]:80", "tcp", "[fe80::1%eth0]:80"},
		{"unix:/tmp/s.sock", "unix", "/tmp/s.sock"},
		{"unix-abstract:name", "unix", "@name"},
		{"ipv4:nonsense", "", "ipv4:nonsense"},
		{"weird", "", "weird"},
	} {
		a := grpcconn.ParseAddr(c.in)
		if a.Network() != c.network || a.String() != c.str {
			t.Errorf("ParseAddr(%q) = %s %s", c.in, a.Network(), a.String())
		}
		if c.network == "tcp" {
			if _, ok := a.(*net.TCPAddr); !ok {
				t.Errorf("ParseAddr(%q) is a %T", c.in, a)
			}
		}
	}
}

// The Go package's interceptors, given to grpcconn.Dial, see the calls the
// generated client makes through the Conn.
func TestAiworkerInterceptors(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	note := func(s string) { mu.Lock(); seen = append(seen, s); mu.Unlock() }
	c, _ := conn(t,
		aiworker.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply proto.Message, cl *aiworker.Client,
			invoker aiworker.UnaryInvoker, opts ...aiworker.CallOption) error {
			note("unary " + method)
			return invoker(ctx, method, req, reply, cl, opts...)
		}),
		aiworker.WithStreamInterceptor(func(ctx context.Context, method string, req proto.Message, cl *aiworker.Client,
			streamer aiworker.Streamer, opts ...aiworker.CallOption) (aiworker.ClientStream, error) {
			note("stream " + method)
			return streamer(ctx, method, req, cl, opts...)
		}))
	ai := pb.NewAiWorkerClient(c)
	if _, err := ai.GetEmbedding(ctxT(t, 10*time.Second), text("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readStream(ctxT(t, 10*time.Second), &env{ai: ai}, "hi"); err != nil {
		t.Fatal(err)
	}
	want := "unary /ai_service.AiWorker/GetEmbedding,stream /ai_service.AiWorker/ChatStream"
	if got := strings.Join(seen, ","); got != want {
		t.Errorf("interceptors saw %s", got)
	}
}
