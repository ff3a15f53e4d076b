package aiworker

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
)

// countingStream wraps a ClientStream, as a metrics middleware would.
type countingStream struct {
	ClientStream
	n *int
}

func (s countingStream) RecvMsg(m proto.Message) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		*s.n++
	}
	return err
}

func TestInterceptors(t *testing.T) {
	var mu sync.Mutex
	var log []string
	note := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	unary := func(name string) UnaryClientInterceptor {
		return func(ctx context.Context, method string, req, reply proto.Message, c *Client, invoker UnaryInvoker,
			opts ...CallOption) error {
			note(name + ">" + method)
			err := invoker(AppendToOutgoingContext(ctx, "x-interceptor-"+name, "1"), method, req, reply, c, opts...)
			note(name + "<" + CodeOf(err).String())
			return err
		}
	}
	chunks := 0
	stream := func(name string) StreamClientInterceptor {
		return func(ctx context.Context, method string, req proto.Message, c *Client, streamer Streamer,
			opts ...CallOption) (ClientStream, error) {
			note(name + ">" + method)
			s, err := streamer(ctx, method, req, c, opts...)
			if err != nil || name != "s2" {
				return s, err
			}
			return countingStream{s, &chunks}, nil
		}
	}
	c := dial(t, WithUnaryInterceptor(unary("first")), WithChainUnaryInterceptor(unary("a"), unary("b")),
		WithStreamInterceptor(stream("s1")), WithChainStreamInterceptor(stream("s2")))
	defer c.Close()

	ctx, id := withID(context.Background(), t)
	if _, err := c.GetEmbedding(ctx, embedText("intercepted")); err != nil {
		t.Fatal(err)
	}
	want := "first>/ai_service.AiWorker/GetEmbedding a>/ai_service.AiWorker/GetEmbedding " +
		"b>/ai_service.AiWorker/GetEmbedding b<OK a<OK first<OK"
	if got := strings.Join(log, " "); got != want {
		t.Fatalf("order:\n got %s\nwant %s", got, want)
	}
	ev := waitEvent(t, id)
	for _, k := range []string{"x-interceptor-first", "x-interceptor-a", "x-interceptor-b"} {
		if ev.Metadata[k] != "1" {
			t.Fatalf("the server did not see %s: %v", k, ev.Metadata)
		}
	}
	log = nil
	_, err := c.VectorSearch(context.Background(), &SearchRequest{Query: "!error:NOT_FOUND:gone"})
	if CodeOf(err) != NotFound || strings.Join(log, " ") !=
		"first>/ai_service.AiWorker/VectorSearch a>/ai_service.AiWorker/VectorSearch b>/ai_service.AiWorker/VectorSearch b<NotFound a<NotFound first<NotFound" {
		t.Fatalf("error through the chain: %v %v", err, log)
	}
	if _, err := c.HealthCheck(context.Background(), ""); err != nil || !strings.Contains(strings.Join(log, " "), "Health/Check") {
		t.Fatalf("HealthCheck not intercepted: %v %v", err, log)
	}

	// Streams: the interceptors see them and may wrap them.
	log = nil
	s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "!count:3"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := s.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if chunks != 3 || strings.Join(log, " ") != "s1>/ai_service.AiWorker/ChatStream s2>/ai_service.AiWorker/ChatStream" {
		t.Fatalf("stream interceptors: %d chunks counted, log %v", chunks, log)
	}
	if err := c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "!count:2"}, func(*ChatResponse) error { return nil }); err != nil || chunks != 5 {
		t.Fatalf("ChatStreamFunc through the interceptors: %v, %d", err, chunks)
	}

	// An interceptor may answer without calling on.
	refuse := errors.New("refused by policy")
	c2 := dial(t, WithUnaryInterceptor(func(context.Context, string, proto.Message, proto.Message, *Client,
		UnaryInvoker, ...CallOption) error {
		return refuse
	}), WithStreamInterceptor(func(context.Context, string, proto.Message, *Client, Streamer, ...CallOption) (ClientStream, error) {
		return nil, refuse
	}))
	defer c2.Close()
	if _, err := c2.GetEmbedding(context.Background(), embedText("x")); err != refuse {
		t.Fatalf("short-circuit: %v", err)
	}
	if _, err := c2.ChatStream(context.Background(), &ChatRequest{Query: "x"}); err != refuse {
		t.Fatalf("stream short-circuit: %v", err)
	}
}

func TestStreamInterceptorNilNil(t *testing.T) {
	c := dial(t, WithStreamInterceptor(func(context.Context, string, proto.Message, *Client, Streamer,
		...CallOption) (ClientStream, error) {
		return nil, nil
	}))
	defer c.Close()
	if s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "x"}); s != nil || CodeOf(err) != Internal {
		t.Fatalf("an interceptor's (nil, nil): %v, %v", s, err)
	}
	if err := c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "x"}, func(*ChatResponse) error { return nil }); CodeOf(err) != Internal {
		t.Fatalf("ChatStreamFunc: %v", err)
	}
}
