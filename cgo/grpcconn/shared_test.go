package grpcconn_test

// The shared table: one test body, two connections. Every case runs the
// client protoc-gen-go-grpc generated from idl/ai_service.proto (package
// gen/ai_service, made by `make grpcconn-gen`) and grpc-go's own health
// client, once over a grpcconn.Conn (libaiw, gRPC C core) and once over a
// grpc-go *grpc.ClientConn, against the same reference service. Each case
// checks its expectations and returns a summary of what it saw; the
// "same" subtests then require both connections' summaries to be equal.
// The grpc-go side is the control: a case that fails there is a wrong
// test, not a grpcconn bug.

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinkbank/libaiw/cgo/grpcconn"
	pb "github.com/thinkbank/libaiw/cgo/grpcconn/gen/ai_service"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // grpc-go needs it registered for UseCompressor("gzip")
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// env is what a case gets: one connection of one kind and the servers.
type env struct {
	kind   string // "grpcconn" or "grpcgo"
	conn   grpc.ClientConnInterface
	ai     pb.AiWorkerClient
	health healthpb.HealthClient
	addr   string // the reference service (--name shared)
	reject string // a reference service with --reject-compressed-requests
	dial   func(target string) (grpc.ClientConnInterface, func() error, error)
}

// The two ways to connect; the only line a program changes.
var connKinds = []struct {
	name string
	dial func(target string) (grpc.ClientConnInterface, func() error, error)
}{
	{"grpcconn", func(target string) (grpc.ClientConnInterface, func() error, error) {
		conn, err := grpcconn.Dial(target)
		if err != nil {
			return nil, nil, err
		}
		return conn, conn.Close, nil
	}},
	{"grpcgo", func(target string) (grpc.ClientConnInterface, func() error, error) {
		conn, err := grpc.Dial(target, grpc.WithInsecure())
		if err != nil {
			return nil, nil, err
		}
		return conn, conn.Close, nil
	}},
}

type sharedCase struct {
	name string
	run  func(t *testing.T, e *env) string
}

func TestSharedTable(t *testing.T) {
	srv := startService(t, "--name", "shared")
	reject := startService(t, "--reject-compressed-requests")
	results := map[string]map[string]string{}
	for _, k := range connKinds {
		k := k
		t.Run(k.name, func(t *testing.T) {
			conn, closeConn, err := k.dial(srv.addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer closeConn()
			e := &env{kind: k.name, conn: conn, ai: pb.NewAiWorkerClient(conn),
				health: healthpb.NewHealthClient(conn), addr: srv.addr, reject: reject.addr, dial: k.dial}
			for _, c := range sharedCases {
				c := c
				t.Run(c.name, func(t *testing.T) {
					r := c.run(t, e)
					if results[c.name] == nil {
						results[c.name] = map[string]string{}
					}
					results[c.name][k.name] = r
				})
			}
		})
	}
	t.Run("same", func(t *testing.T) {
		for _, c := range sharedCases {
			c := c
			t.Run(c.name, func(t *testing.T) {
				a, b := results[c.name]["grpcconn"], results[c.name]["grpcgo"]
				if a != b {
					t.Errorf("the two connections differ:\n  grpcconn: %s\n  grpcgo:   %s", a, b)
				}
			})
		}
	})
}

// ---- helpers ---------------------------------------------------------------

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func text(s string) *pb.EmbeddingRequest {
	return &pb.EmbeddingRequest{Content: &pb.EmbeddingRequest_Text{Text: s}}
}

// codeOf: the status code and message of err, checked to be a status error.
func codeOf(t *testing.T, err error) (codes.Code, string) {
	t.Helper()
	if err == nil {
		return codes.OK, ""
	}
	s, ok := status.FromError(err)
	if !ok {
		t.Errorf("not a status error: %T %v", err, err)
	}
	return s.Code(), s.Message()
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("status.Code = %v, want %v (err %v)", got, want, err)
	}
}

// readStream reads a ChatStream to its end: the chunks, and the error (nil
// for io.EOF); the error of the ChatStream call itself counts as the
// stream's (grpc-go reports some failures there, some at Recv).
func readStream(ctx context.Context, e *env, q string, opts ...grpc.CallOption) ([]*pb.ChatResponse, pb.AiWorker_ChatStreamClient, error) {
	st, err := e.ai.ChatStream(ctx, &pb.ChatRequest{Query: q}, opts...)
	if err != nil {
		return nil, nil, err
	}
	var msgs []*pb.ChatResponse
	for {
		m, err := st.Recv()
		if err == io.EOF {
			// and again: io.EOF stays
			if _, err2 := st.Recv(); err2 != io.EOF {
				return msgs, st, fmt.Errorf("Recv after io.EOF = %v, want io.EOF again", err2)
			}
			return msgs, st, nil
		}
		if err != nil {
			return msgs, st, err
		}
		msgs = append(msgs, m)
	}
}

func chunks(msgs []*pb.ChatResponse) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Chunk)
	}
	return b.String()
}

func round4(v float32) string { return fmt.Sprintf("%.4f", v) }

func mdKeys(md metadata.MD, keys ...string) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, md.Get(k)))
	}
	return strings.Join(parts, " ")
}

// staticCreds is a grpc-go credentials.PerRPCCredentials (plaintext allowed);
// tlsCreds the same, requiring transport security.
type staticCreds map[string]string

func (c staticCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return c, nil
}
func (staticCreds) RequireTransportSecurity() bool { return false }

type tlsCreds struct{ staticCreds }

func (tlsCreds) RequireTransportSecurity() bool { return true }

// ---- the cases ---------------------------------------------------------------

var codeNames = []struct {
	name string
	code codes.Code
}{
	{"CANCELLED", codes.Canceled}, {"UNKNOWN", codes.Unknown}, {"INVALID_ARGUMENT", codes.InvalidArgument},
	{"DEADLINE_EXCEEDED", codes.DeadlineExceeded}, {"NOT_FOUND", codes.NotFound},
	{"ALREADY_EXISTS", codes.AlreadyExists}, {"PERMISSION_DENIED", codes.PermissionDenied},
	{"RESOURCE_EXHAUSTED", codes.ResourceExhausted}, {"FAILED_PRECONDITION", codes.FailedPrecondition},
	{"ABORTED", codes.Aborted}, {"OUT_OF_RANGE", codes.OutOfRange}, {"UNIMPLEMENTED", codes.Unimplemented},
	{"INTERNAL", codes.Internal}, {"UNAVAILABLE", codes.Unavailable}, {"DATA_LOSS", codes.DataLoss},
	{"UNAUTHENTICATED", codes.Unauthenticated},
}

var sharedCases = []sharedCase{
	{"GetEmbedding/text", func(t *testing.T, e *env) string {
		r, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello"))
		if err != nil {
			t.Fatal(err)
		}
		v := r.SemanticVector
		if len(v) != 1024 || !r.Success || len(r.VisualVector) != 0 {
			t.Fatalf("%d semantic, %d visual floats, success %v", len(v), len(r.VisualVector), r.Success)
		}
		got := round4(v[0]) + " " + round4(v[1]) + " " + round4(v[2])
		if got != "-0.6100 0.0621 -0.3610" {
			t.Errorf("semantic[0..2] = %s", got)
		}
		return fmt.Sprintf("%d %s %v", len(v), got, r.Success)
	}},
	{"GetEmbedding/image", func(t *testing.T, e *env) string {
		r, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), &pb.EmbeddingRequest{
			Content: &pb.EmbeddingRequest_Image{Image: &pb.ImageData{Data: []byte{'a', 0, 'b'}, Format: "png"}},
			Type:    pb.EmbeddingType_EMBEDDING_BOTH})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.SemanticVector) != 1024 || len(r.VisualVector) != 1152 {
			t.Fatalf("%d semantic, %d visual", len(r.SemanticVector), len(r.VisualVector))
		}
		got := round4(r.SemanticVector[0]) + " " + round4(r.VisualVector[0]) + " " + round4(r.VisualVector[1])
		if got != "-0.8746 0.7972 -0.5341" {
			t.Errorf("vectors start %s", got)
		}
		return got
	}},
	{"GetEmbedding/success=false", func(t *testing.T, e *env) string {
		// In-band failures are the service's answer, not an RPC error.
		r, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), &pb.EmbeddingRequest{
			Content: &pb.EmbeddingRequest_Image{Image: &pb.ImageData{Data: []byte{1}, Format: "bmp"}}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Success || r.Error != "unsupported image format: bmp" {
			t.Errorf("success %v error %q", r.Success, r.Error)
		}
		return fmt.Sprintf("%v %q", r.Success, r.Error)
	}},
	{"GetEmbedding/empty-response", func(t *testing.T, e *env) string {
		r, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text("!empty"))
		if err != nil || r.Success || len(r.SemanticVector) != 0 {
			t.Errorf("err %v, response %v", err, r)
		}
		return fmt.Sprintf("%v %v", err, r.GetSuccess())
	}},
	{"GetEmbedding/invalid-argument", func(t *testing.T, e *env) string {
		_, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), &pb.EmbeddingRequest{})
		c, msg := codeOf(t, err)
		if c != codes.InvalidArgument || msg != "content is required: set text or image" {
			t.Errorf("got %v %q", c, msg)
		}
		return fmt.Sprintf("%v %q", c, msg)
	}},
	{"GetEmbedding/undecodable-response", func(t *testing.T, e *env) string {
		_, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text("!garbage"))
		wantCode(t, err, codes.Internal)
		return status.Code(err).String()
	}},
	{"VectorSearch/defaults", func(t *testing.T, e *env) string {
		r, err := e.ai.VectorSearch(ctxT(t, 10*time.Second), &pb.SearchRequest{Query: "q"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range r.Results {
			ids = append(ids, x.AssetId)
		}
		if r.TotalCount != 12 || len(ids) != 10 || ids[0] != "doc-001" || ids[9] != "img-010" {
			t.Errorf("total %d, results %v", r.TotalCount, ids)
		}
		return fmt.Sprintf("%d %v", r.TotalCount, ids)
	}},
	{"VectorSearch/visual-filtered", func(t *testing.T, e *env) string {
		r, err := e.ai.VectorSearch(ctxT(t, 10*time.Second), &pb.SearchRequest{Query: "q",
			Type: pb.SearchType_SEARCH_VISUAL, Threshold: 0.8, Limit: 2, Filters: []string{"image/"}})
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("%d", r.TotalCount)
		for _, x := range r.Results {
			got += fmt.Sprintf(" %s:%s:%s", x.AssetId, round4(x.Score), x.Metadata["owner"])
		}
		if got != "4 img-002:0.9700:bob img-004:0.9000:carol" {
			t.Errorf("got %s", got)
		}
		return got
	}},
	{"VectorSearch/negative-limit", func(t *testing.T, e *env) string {
		_, err := e.ai.VectorSearch(ctxT(t, 10*time.Second), &pb.SearchRequest{Query: "q", Limit: -1})
		c, msg := codeOf(t, err)
		if c != codes.InvalidArgument || msg != "limit must be >= 0" {
			t.Errorf("got %v %q", c, msg)
		}
		return fmt.Sprintf("%v %q", c, msg)
	}},
	{"ProcessAsset", func(t *testing.T, e *env) string {
		r, err := e.ai.ProcessAsset(ctxT(t, 10*time.Second), &pb.AssetRequest{AssetId: "a1", FilePath: "b/o", MimeType: "image/png"})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Success || r.Stage != pb.ProcessingStage_STAGE_COMPLETED || r.Progress != 1 {
			t.Errorf("got %v", r)
		}
		return fmt.Sprintf("%v %v %v", r.Success, r.Stage, r.Progress)
	}},
	{"ProcessAsset/echo", func(t *testing.T, e *env) string {
		r, err := e.ai.ProcessAsset(ctxT(t, 10*time.Second), &pb.AssetRequest{AssetId: "!echo", FilePath: "f",
			MimeType: "m", Options: &pb.ProcessingOptions{EnableOcr: true, MaxChunkSize: 512}})
		if err != nil {
			t.Fatal(err)
		}
		want := "asset_id=!echo;file_path=f;mime_type=m;ocr=1;caption=0;embedding=0;summary=0;max_chunk_size=512;options=1"
		if r.Error != want {
			t.Errorf("echo %q", r.Error)
		}
		return r.Error
	}},
	{"ChatStream/to-EOF", func(t *testing.T, e *env) string {
		msgs, _, err := readStream(ctxT(t, 10*time.Second), e, "hi there")
		if err != nil {
			t.Fatal(err)
		}
		want := "You asked: hi there. This is the reference AI service; its answers are deterministic, " +
			"streamed in five chunks, with sources on the last one."
		if len(msgs) != 5 || chunks(msgs) != want {
			t.Fatalf("%d messages: %q", len(msgs), chunks(msgs))
		}
		last := msgs[4]
		var src []string
		for _, s := range last.Sources {
			src = append(src, s.AssetId)
		}
		if !last.IsFinal || msgs[3].IsFinal || strings.Join(src, ",") != "doc-001,doc-003,doc-005" {
			t.Errorf("final %v, sources %v", last.IsFinal, src)
		}
		return fmt.Sprintf("%d %v", len(msgs), src)
	}},
	{"ChatStream/many", func(t *testing.T, e *env) string {
		msgs, _, err := readStream(ctxT(t, 20*time.Second), e, "!many:500")
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 501 || msgs[499].Chunk != "chunk-499 " || !msgs[500].IsFinal {
			t.Errorf("%d messages", len(msgs))
		}
		return fmt.Sprint(len(msgs))
	}},
	{"ChatStream/no-message", func(t *testing.T, e *env) string {
		msgs, _, err := readStream(ctxT(t, 10*time.Second), e, "!count:0")
		if err != nil || len(msgs) != 0 {
			t.Errorf("%d messages, err %v", len(msgs), err)
		}
		return fmt.Sprint(len(msgs), err)
	}},
	{"ChatStream/error-before-messages", func(t *testing.T, e *env) string {
		msgs, _, err := readStream(ctxT(t, 10*time.Second), e, "!error:NOT_FOUND:no such chat")
		c, msg := codeOf(t, err)
		if len(msgs) != 0 || c != codes.NotFound || msg != "no such chat" {
			t.Errorf("%d messages, %v %q", len(msgs), c, msg)
		}
		return fmt.Sprintf("%d %v %q", len(msgs), c, msg)
	}},
	{"ChatStream/error-after-messages", func(t *testing.T, e *env) string {
		msgs, _, err := readStream(ctxT(t, 10*time.Second), e, "!error-after:3:ABORTED:midway")
		c, msg := codeOf(t, err)
		if len(msgs) != 3 || c != codes.Aborted || msg != "midway" {
			t.Errorf("%d messages, %v %q", len(msgs), c, msg)
		}
		return fmt.Sprintf("%d %v %q", len(msgs), c, msg)
	}},
	{"ChatStream/undecodable-message", func(t *testing.T, e *env) string {
		msgs, _, err := readStream(ctxT(t, 10*time.Second), e, "!garbage-mid")
		if len(msgs) != 1 || status.Code(err) != codes.Internal {
			t.Errorf("%d messages, err %v", len(msgs), err)
		}
		return fmt.Sprintf("%d %v", len(msgs), status.Code(err))
	}},
	{"status-codes", func(t *testing.T, e *env) string {
		var got []string
		for _, cn := range codeNames {
			msg := "m:" + strings.ToLower(cn.name)
			_, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text("!error:"+cn.name+":"+msg))
			c, m := codeOf(t, err)
			if c != cn.code || m != msg {
				t.Errorf("%s: got %v %q", cn.name, c, m)
			}
			_, serr := readStreamCode(t, e, "!error:"+cn.name+":"+msg)
			if serr != cn.code {
				t.Errorf("%s stream: got %v", cn.name, serr)
			}
			got = append(got, fmt.Sprintf("%v/%v", c, serr))
		}
		return strings.Join(got, " ")
	}},
	{"status-details", func(t *testing.T, e *env) string {
		_, err := e.ai.VectorSearch(ctxT(t, 10*time.Second), &pb.SearchRequest{Query: "!details:FAILED_PRECONDITION:see details"})
		s, ok := status.FromError(err)
		if !ok || s.Code() != codes.FailedPrecondition || s.Message() != "see details" {
			t.Fatalf("got %v", err)
		}
		var urls []string
		for _, a := range s.Proto().Details {
			urls = append(urls, a.TypeUrl+"="+base64.StdEncoding.EncodeToString(a.Value))
		}
		d := s.Details()
		if len(d) != 2 {
			t.Fatalf("details: %v, want 2", d)
		}
		info, _ := d[0].(*errdetails.ErrorInfo)
		if len(d) != 2 || info == nil || info.Reason != "AIW_TEST" || info.Domain != "refservice.thinkbank" {
			t.Errorf("details %v", d)
		}
		if _, isErr := d[1].(error); !isErr { // aiw.test.Raw is not a linked type
			t.Errorf("details[1] = %v, want the error of an unknown type", d[1])
		}
		return fmt.Sprintf("%v %q %v %s/%s", s.Code(), s.Message(), urls, info.GetReason(), info.GetDomain())
	}},
	{"deadline/unary", func(t *testing.T, e *env) string {
		t0 := time.Now()
		_, err := e.ai.GetEmbedding(ctxT(t, 200*time.Millisecond), text("!slow:3000"))
		el := time.Since(t0)
		c, msg := codeOf(t, err)
		if c != codes.DeadlineExceeded || el > 2*time.Second {
			t.Errorf("got %v %q after %v", c, msg, el)
		}
		return c.String()
	}},
	{"deadline/stream", func(t *testing.T, e *env) string {
		msgs, _, err := readStream(ctxT(t, 1500*time.Millisecond), e, "!slow:600")
		c, _ := codeOf(t, err)
		if c != codes.DeadlineExceeded || len(msgs) != 2 {
			t.Errorf("%d messages, %v", len(msgs), err)
		}
		return fmt.Sprint(len(msgs), c)
	}},
	{"deadline/already-expired", func(t *testing.T, e *env) string {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := e.ai.GetEmbedding(ctx, text("hello"))
		_, _, serr := readStream(ctx, e, "hello")
		wantCode(t, err, codes.DeadlineExceeded)
		wantCode(t, serr, codes.DeadlineExceeded)
		return fmt.Sprint(status.Code(err), status.Code(serr))
	}},
	{"cancel/unary", func(t *testing.T, e *env) string {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(150*time.Millisecond, cancel)
		t0 := time.Now()
		_, err := e.ai.GetEmbedding(ctx, text("!slow:3000"))
		el := time.Since(t0)
		c, msg := codeOf(t, err)
		if c != codes.Canceled || el > 2*time.Second {
			t.Errorf("got %v %q after %v", c, msg, el)
		}
		return fmt.Sprintf("%v %q", c, msg)
	}},
	{"cancel/stream", func(t *testing.T, e *env) string {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := e.ai.ChatStream(ctx, &pb.ChatRequest{Query: "!slow:400"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		var n int
		for {
			if _, err = st.Recv(); err != nil {
				break
			}
			n++
		}
		c, msg := codeOf(t, err)
		if c != codes.Canceled || n > 1 {
			t.Errorf("%d more messages, %v %q", n, c, msg)
		}
		return fmt.Sprintf("%v %q", c, msg)
	}},
	{"cancel/already", func(t *testing.T, e *env) string {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.ai.GetEmbedding(ctx, text("hello"))
		_, _, serr := readStream(ctx, e, "hello")
		_, herr := e.health.Check(ctx, &healthpb.HealthCheckRequest{})
		wantCode(t, err, codes.Canceled)
		wantCode(t, serr, codes.Canceled)
		wantCode(t, herr, codes.Canceled)
		return fmt.Sprint(status.Code(err), status.Code(serr), status.Code(herr))
	}},
	{"metadata/outgoing", func(t *testing.T, e *env) string {
		ctx := metadata.NewOutgoingContext(ctxT(t, 10*time.Second), metadata.Pairs("x-team", "a", "x-team", "b"))
		ctx = metadata.AppendToOutgoingContext(ctx, "X-Trace", "t-1", "x-data-bin", "\x00\x01\xff")
		r, err := e.ai.VectorSearch(ctx, &pb.SearchRequest{Query: "!echo"})
		if err != nil {
			t.Fatal(err)
		}
		md := r.Results[0].Metadata
		got := fmt.Sprintf("team=%q trace=%q bin=%q", md["md:x-team"], md["md:x-trace"], md["md:x-data-bin"])
		if got != `team="a,b" trace="t-1" bin="AAH/"` {
			t.Errorf("server saw %s", got)
		}
		// and on a stream
		msgs, _, err := readStream(ctx, e, "!echo")
		if err != nil || len(msgs) == 0 || len(msgs[len(msgs)-1].Sources) != 1 {
			t.Fatalf("stream: %v", err)
		}
		smd := msgs[len(msgs)-1].Sources[0].Metadata
		sgot := fmt.Sprintf("team=%q trace=%q bin=%q", smd["md:x-team"], smd["md:x-trace"], smd["md:x-data-bin"])
		if sgot != got {
			t.Errorf("stream: server saw %s", sgot)
		}
		return got + " / " + sgot
	}},
	{"metadata/header-trailer-unary", func(t *testing.T, e *env) string {
		ctx := metadata.AppendToOutgoingContext(ctxT(t, 10*time.Second),
			"x-grpc-test-echo-initial", "hello-header", "x-grpc-test-echo-trailing-bin", "\x0a\x0b\xff")
		var h, tr metadata.MD
		_, err := e.ai.GetEmbedding(ctx, text("hello"), grpc.Header(&h), grpc.Trailer(&tr))
		if err != nil {
			t.Fatal(err)
		}
		got := mdKeys(h, "x-grpc-test-echo-initial") + " | " + mdKeys(tr, "x-grpc-test-echo-trailing-bin", "x-aiw-replica")
		want := `x-grpc-test-echo-initial=["hello-header"] | x-grpc-test-echo-trailing-bin=["\n\v\xff"] x-aiw-replica=["shared"]`
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		// an error answer has its trailers too
		var tr2 metadata.MD
		_, err = e.ai.GetEmbedding(ctx, text("!error:ABORTED:x"), grpc.Trailer(&tr2))
		wantCode(t, err, codes.Aborted)
		got2 := mdKeys(tr2, "x-grpc-test-echo-trailing-bin", "x-aiw-replica")
		if tr2.Get("x-aiw-replica") == nil {
			t.Errorf("error trailers %v", tr2)
		}
		return got + " || " + got2
	}},
	{"metadata/header-trailer-stream", func(t *testing.T, e *env) string {
		ctx := metadata.AppendToOutgoingContext(ctxT(t, 10*time.Second),
			"x-grpc-test-echo-initial", "stream-header", "x-grpc-test-echo-trailing-bin", "\x01")
		var optH, optT metadata.MD
		st, err := e.ai.ChatStream(ctx, &pb.ChatRequest{Query: "hello"}, grpc.Header(&optH), grpc.Trailer(&optT))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Trailer()) != 0 {
			t.Errorf("Trailer before the end: %v", st.Trailer())
		}
		h, err := st.Header()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			if _, err = st.Recv(); err != nil {
				break
			}
			n++
		}
		if err != io.EOF || n != 5 {
			t.Fatalf("%d messages, %v", n, err)
		}
		tr := st.Trailer()
		got := mdKeys(h, "x-grpc-test-echo-initial") + " | " + mdKeys(tr, "x-grpc-test-echo-trailing-bin", "x-aiw-replica") +
			" | opts: " + mdKeys(optH, "x-grpc-test-echo-initial") + " " + mdKeys(optT, "x-aiw-replica")
		want := `x-grpc-test-echo-initial=["stream-header"] | x-grpc-test-echo-trailing-bin=["\x01"] x-aiw-replica=["shared"]` +
			` | opts: x-grpc-test-echo-initial=["stream-header"] x-aiw-replica=["shared"]`
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		return got
	}},
	{"metadata/stream-header-of-failed-call", func(t *testing.T, e *env) string {
		st, err := e.ai.ChatStream(ctxT(t, 10*time.Second), &pb.ChatRequest{Query: "!error:NOT_FOUND:gone"})
		if err != nil {
			t.Fatal(err)
		}
		// A trailers-only answer: no header and no error from Header (as
		// grpc-go documents it); Recv has the status.
		h, herr := st.Header()
		_, rerr := st.Recv()
		if herr != nil || len(h) != 0 {
			t.Errorf("Header() = %v, %v; want no header, nil", h, herr)
		}
		wantCode(t, rerr, codes.NotFound)
		tr := st.Trailer()
		if tr.Get("x-aiw-replica") == nil {
			t.Errorf("trailers %v", tr)
		}
		// A stream whose deadline passes while Header waits: no header, and
		// Recv has the status. (grpc-go 1.33's Header then returns nil or,
		// now and then, the deadline's status: it races its transport.
		// grpcconn's returns nil, as grpc-go documents.)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		hst, err := e.ai.ChatStream(ctx, &pb.ChatRequest{Query: "!hold:3000"})
		if err != nil {
			t.Fatal(err)
		}
		ch, cerr := hst.Header()
		if len(ch) != 0 || (cerr != nil && status.Code(cerr) != codes.DeadlineExceeded) ||
			(e.kind == "grpcconn" && cerr != nil) {
			t.Errorf("Header() after the deadline = %v, %v; want no header, nil", ch, cerr)
		}
		_, crerr := hst.Recv()
		wantCode(t, crerr, codes.DeadlineExceeded)
		return fmt.Sprint(herr, len(h), status.Code(rerr), mdKeys(tr, "x-aiw-replica"), len(ch), status.Code(crerr))
	}},
	{"peer", func(t *testing.T, e *env) string {
		var p peer.Peer
		if _, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello"), grpc.Peer(&p)); err != nil {
			t.Fatal(err)
		}
		var sp peer.Peer
		if _, _, err := readStream(ctxT(t, 10*time.Second), e, "hello", grpc.Peer(&sp)); err != nil {
			t.Fatal(err)
		}
		if p.Addr == nil || p.Addr.String() != e.addr || p.Addr.Network() != "tcp" || sp.Addr == nil || sp.Addr.String() != e.addr {
			t.Fatalf("peer %v / %v, want %s", p.Addr, sp.Addr, e.addr)
		}
		return p.Addr.Network() + " " + p.Addr.String() + " " + sp.Addr.String()
	}},
	{"wait-for-ready", func(t *testing.T, e *env) string {
		conn, closeConn, err := e.dial(deadAddr(t))
		if err != nil {
			t.Fatal(err)
		}
		defer closeConn()
		ai := pb.NewAiWorkerClient(conn)
		_, ffErr := ai.GetEmbedding(ctxT(t, 5*time.Second), text("hello"), grpc.WaitForReady(false))
		t0 := time.Now()
		_, wErr := ai.GetEmbedding(ctxT(t, 400*time.Millisecond), text("hello"), grpc.WaitForReady(true))
		el := time.Since(t0)
		wantCode(t, ffErr, codes.Unavailable)
		wantCode(t, wErr, codes.DeadlineExceeded)
		if el < 300*time.Millisecond {
			t.Errorf("WaitForReady(true) returned after %v", el)
		}
		return fmt.Sprint(status.Code(ffErr), status.Code(wErr))
	}},
	{"max-call-recv-msg-size", func(t *testing.T, e *env) string {
		_, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello"), grpc.MaxCallRecvMsgSize(1000))
		wantCode(t, err, codes.ResourceExhausted)
		msgs, _, serr := readStream(ctxT(t, 10*time.Second), e, "!big:5000", grpc.MaxCallRecvMsgSize(4000))
		wantCode(t, serr, codes.ResourceExhausted)
		_, _, okErr := readStream(ctxT(t, 10*time.Second), e, "!big:3000", grpc.MaxCallRecvMsgSize(4000))
		if okErr != nil {
			t.Errorf("under the limit: %v", okErr)
		}
		return fmt.Sprint(status.Code(err), len(msgs), status.Code(serr), okErr)
	}},
	{"max-call-send-msg-size", func(t *testing.T, e *env) string {
		_, err := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text(strings.Repeat("x", 200)), grpc.MaxCallSendMsgSize(100))
		wantCode(t, err, codes.ResourceExhausted)
		_, okErr := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text("small"), grpc.MaxCallSendMsgSize(100))
		if okErr != nil {
			t.Error(okErr)
		}
		return fmt.Sprint(status.Code(err), okErr)
	}},
	{"use-compressor", func(t *testing.T, e *env) string {
		// The --reject-compressed-requests service refuses a request whose
		// grpc-encoding is not identity: that is how the test sees gzip used.
		conn, closeConn, err := e.dial(e.reject)
		if err != nil {
			t.Fatal(err)
		}
		defer closeConn()
		ai := pb.NewAiWorkerClient(conn)
		_, plain := ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello"))
		_, gz := ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello"), grpc.UseCompressor("gzip"))
		_, _, sgz := readStream(ctxT(t, 10*time.Second), &env{ai: ai}, "hello", grpc.UseCompressor("gzip"))
		_, unknown := ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello"), grpc.UseCompressor("snappy"))
		if plain != nil {
			t.Errorf("uncompressed: %v", plain)
		}
		wantCode(t, gz, codes.Unimplemented)
		wantCode(t, sgz, codes.Unimplemented)
		wantCode(t, unknown, codes.Internal)
		// and the normal service takes the compressed request
		_, ok := e.ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello"), grpc.UseCompressor("gzip"))
		if ok != nil {
			t.Errorf("gzip request to the normal service: %v", ok)
		}
		return fmt.Sprint(plain, status.Code(gz), status.Code(sgz), status.Code(unknown), ok)
	}},
	{"per-rpc-credentials", func(t *testing.T, e *env) string {
		r, err := e.ai.VectorSearch(ctxT(t, 10*time.Second), &pb.SearchRequest{Query: "!echo"},
			grpc.PerRPCCredentials(staticCreds{"authorization": "Bearer tok-1", "x-tenant": "t9"}))
		if err != nil {
			t.Fatal(err)
		}
		md := r.Results[0].Metadata
		got := fmt.Sprintf("%q %q", md["md:authorization"], md["md:x-tenant"])
		if got != `"Bearer tok-1" "t9"` {
			t.Errorf("server saw %s", got)
		}
		// credentials that need TLS are refused on a plaintext connection
		_, err = e.ai.VectorSearch(ctxT(t, 10*time.Second), &pb.SearchRequest{Query: "!echo"},
			grpc.PerRPCCredentials(tlsCreds{staticCreds{"authorization": "Bearer x"}}))
		wantCode(t, err, codes.Unauthenticated)
		return got + " " + status.Code(err).String()
	}},
	{"health", func(t *testing.T, e *env) string {
		var got []string
		for _, svc := range []string{"", "ai_service.AiWorker"} {
			r, err := e.health.Check(ctxT(t, 10*time.Second), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("Check(%q) = %v, %v", svc, r, err)
			}
			got = append(got, r.GetStatus().String())
		}
		_, err := e.health.Check(ctxT(t, 10*time.Second), &healthpb.HealthCheckRequest{Service: "nope"})
		c, msg := codeOf(t, err)
		if c != codes.NotFound || msg != "unknown service" {
			t.Errorf("unknown service: %v %q", c, msg)
		}
		// Watch: a server stream that stays open until cancelled
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w, err := e.health.Watch(ctx, &healthpb.HealthCheckRequest{Service: "ai_service.AiWorker"})
		if err != nil {
			t.Fatal(err)
		}
		first, err := w.Recv()
		if err != nil || first.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Watch first = %v, %v", first, err)
		}
		cancel()
		_, werr := w.Recv()
		wantCode(t, werr, codes.Canceled)
		return fmt.Sprintf("%v %v %q %v %v", got, c, msg, first.Status, status.Code(werr))
	}},
	{"unknown-method", func(t *testing.T, e *env) string {
		err := e.conn.Invoke(ctxT(t, 10*time.Second), "/ai_service.AiWorker/NoSuchMethod", text("x"), new(pb.EmbeddingResponse))
		c, _ := codeOf(t, err)
		err2 := e.conn.Invoke(ctxT(t, 10*time.Second), "/no.Such/Service", text("x"), new(pb.EmbeddingResponse))
		c2, _ := codeOf(t, err2)
		if c != codes.Unimplemented || c2 != codes.Unimplemented {
			t.Errorf("got %v, %v", c, c2)
		}
		return fmt.Sprint(c, c2)
	}},
	{"concurrent", func(t *testing.T, e *env) string {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var fails []error
		counts := map[int]int{}
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					var err error
					n := 0
					if i%3 == 2 {
						var msgs []*pb.ChatResponse
						msgs, _, err = readStream(ctxT(t, 20*time.Second), e, fmt.Sprintf("!many:%d", g))
						n = len(msgs)
					} else {
						var r *pb.EmbeddingResponse
						r, err = e.ai.GetEmbedding(ctxT(t, 20*time.Second), text(fmt.Sprint(g, i)))
						n = len(r.GetSemanticVector())
					}
					mu.Lock()
					if err != nil {
						fails = append(fails, err)
					}
					counts[n]++
					mu.Unlock()
				}
			}(g)
		}
		wg.Wait()
		if len(fails) > 0 {
			t.Fatalf("%d failed, first %v", len(fails), fails[0])
		}
		if counts[1024] != 32*7 {
			t.Errorf("counts %v", counts)
		}
		var keys []int
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		return fmt.Sprint(len(keys), counts[1024])
	}},
	{"closed-connection", func(t *testing.T, e *env) string {
		conn, closeConn, err := e.dial(e.addr)
		if err != nil {
			t.Fatal(err)
		}
		ai := pb.NewAiWorkerClient(conn)
		if _, err := ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello")); err != nil {
			t.Fatal(err)
		}
		// a stream in flight when the connection closes
		st, err := ai.ChatStream(ctxT(t, 10*time.Second), &pb.ChatRequest{Query: "!slow:300"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		if err := closeConn(); err != nil {
			t.Errorf("Close: %v", err)
		}
		var serr error
		for serr == nil {
			_, serr = st.Recv()
		}
		_, err = ai.GetEmbedding(ctxT(t, 10*time.Second), text("hello"))
		wantCode(t, err, codes.Canceled)
		// The stream Close interrupted: grpc-go 1.33 says Unavailable
		// ("transport is closing"), grpcconn Canceled (README, differences).
		if c := status.Code(serr); c != codes.Canceled && c != codes.Unavailable {
			t.Errorf("stream in flight at Close: %v", serr)
		}
		return fmt.Sprint(status.Code(err), serr != nil)
	}},
}

// readStreamCode is readStream's status code.
func readStreamCode(t *testing.T, e *env, q string) (int, codes.Code) {
	msgs, _, err := readStream(ctxT(t, 10*time.Second), e, q)
	return len(msgs), status.Code(err)
}
