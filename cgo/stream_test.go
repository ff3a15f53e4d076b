package aiworker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

const chatAnswer = "You asked: %s. This is the reference AI service; its answers are deterministic, " +
	"streamed in five chunks, with sources on the last one."

func sourceIDs(src []*SearchResult) string {
	var ids []string
	for _, s := range src {
		ids = append(ids, s.AssetId)
	}
	return strings.Join(ids, ",")
}

func checkChat(t *testing.T, msgs []*ChatResponse, query, sources string) {
	t.Helper()
	if len(msgs) != 5 {
		t.Fatalf("%d messages, want 5", len(msgs))
	}
	var sb strings.Builder
	for i, m := range msgs {
		sb.WriteString(m.Chunk)
		if m.IsFinal != (i == 4) || (i < 4 && m.Sources != nil) {
			t.Errorf("message %d: is_final=%v sources=%d", i, m.IsFinal, len(m.Sources))
		}
	}
	if want := fmt.Sprintf(chatAnswer, query); sb.String() != want {
		t.Errorf("answer %q\nwant   %q", sb.String(), want)
	}
	if got := sourceIDs(msgs[4].GetSources()); got != sources {
		t.Errorf("sources %s, want %s", got, sources)
	}
	if s := msgs[4].Sources[0]; s.Caption != "Quarterly report 2024 Q1" || s.MimeType != "application/pdf" ||
		s.ThumbnailUrl != "https://thumbs.example.com/doc-001.jpg" || s.Score != float32(0.95) || s.Metadata["owner"] != "alice" {
		t.Errorf("first source %+v", s)
	}
}

func TestChatStreamFunc(t *testing.T) {
	noLeak(t)
	c := dial(t)
	var msgs []*ChatResponse
	q := "what is in Zürich?"
	err := c.ChatStreamFunc(context.Background(), &ChatRequest{Query: q}, func(m *ChatResponse) error {
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkChat(t, msgs, q, "doc-001,doc-003,doc-005")
	msgs = nil
	err = c.ChatStreamFunc(context.Background(), &ChatRequest{Query: q, Options: &ChatOptions{IncludeImages: true}},
		func(m *ChatResponse) error { msgs = append(msgs, m); return nil })
	if err != nil {
		t.Fatal(err)
	}
	checkChat(t, msgs, q, "doc-001,img-002,doc-003")
}

func TestChatStreamRecv(t *testing.T) {
	noLeak(t)
	c := dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.ChatStream(ctx, &ChatRequest{Query: "q"})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*ChatResponse
	for {
		m, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	checkChat(t, msgs, "q", "doc-001,doc-003,doc-005")
	if m, err := s.Recv(); m != nil || err != io.EOF {
		t.Errorf("Recv after EOF: %v, %v", m, err)
	}
	if s.Close() != nil {
		t.Errorf("Close after EOF")
	}
}

func TestChatEcho(t *testing.T) {
	c := dial(t)
	ctx := AppendToOutgoingContext(context.Background(), "authorization", "Bearer t0k", "x-request-id", "chat-echo-1")
	req := &ChatRequest{
		Query: "!echo",
		History: []*ChatMessage{
			{Role: "user", Content: "hi | there", Timestamp: 1700000000},
			{Role: "assistant", Content: "hello ü", Timestamp: -5},
		},
		Options: &ChatOptions{MaxContextDocs: 4, SimilarityThreshold: 0.5, IncludeImages: true, StreamResponse: true},
	}
	var chunks []string
	var last *ChatResponse
	err := c.ChatStreamFunc(ctx, req, func(m *ChatResponse) error {
		chunks = append(chunks, m.Chunk)
		last = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user|hi | there|1700000000\n", "assistant|hello ü|-5\n",
		"options:max_context_docs=4,similarity_threshold=0.5,include_images=1,stream_response=1"}
	if strings.Join(chunks, "#") != strings.Join(want, "#") {
		t.Errorf("chunks %q\nwant   %q", chunks, want)
	}
	if !last.IsFinal || len(last.Sources) != 1 {
		t.Fatalf("final %+v", last)
	}
	src := last.Sources[0]
	md := src.Metadata
	if src.AssetId != "echo" || src.Caption != "!echo" || src.Score != 1 || src.MimeType != "text/plain" ||
		md["query"] != "!echo" || md["history"] != "2" || md["options"] != "1" ||
		md["md:authorization"] != "Bearer t0k" || md["md:x-request-id"] != "chat-echo-1" {
		t.Errorf("echo source %+v", src)
	}
	chunks = nil
	err = c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "!echo"}, func(m *ChatResponse) error {
		chunks = append(chunks, m.Chunk)
		last = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 1 || chunks[0] != "options:max_context_docs=0,similarity_threshold=0.0,include_images=0,stream_response=0" ||
		last.Sources[0].Metadata["options"] != "0" || last.Sources[0].Metadata["history"] != "0" {
		t.Errorf("no options: %q %+v", chunks, last.Sources[0].Metadata)
	}
}

func TestMetadata(t *testing.T) {
	c := dial(t)
	ctx := AppendToOutgoingContext(context.Background(), "X-Request-ID", "md-test-1", "authorization", "Bearer abc")
	ctx2 := AppendToOutgoingContext(ctx, "blob-bin", "\xde\xad\xbe\xef")
	if _, err := c.GetEmbedding(ctx2, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "x"}}); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, "md-test-1")
	if e.RPC != "GetEmbedding" || e.Outcome != "OK" || e.Metadata["authorization"] != "Bearer abc" ||
		e.Metadata["blob-bin"] != "3q2+7w==" {
		t.Errorf("event %+v", e)
	}
	// The parent context is unchanged by the append.
	if md := outgoingMetadata(ctx); len(md) != 4 {
		t.Errorf("parent metadata changed: %q", md)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("odd number of kv did not panic")
			}
		}()
		AppendToOutgoingContext(ctx, "k")
	}()
	// Reserved header names are refused.
	_, err := c.GetEmbedding(AppendToOutgoingContext(ctx, "grpc-timeout", "1S"), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "x"}})
	if CodeOf(err) != InvalidArgument {
		t.Errorf("grpc- key: %v", err)
	}
}

var errStop = errors.New("enough")

func TestChatStopFromFunc(t *testing.T) {
	noLeak(t)
	c := dial(t)
	ctx, id := withID(context.Background(), t)
	n := 0
	err := c.ChatStreamFunc(ctx, &ChatRequest{Query: "!many:1000"}, func(m *ChatResponse) error {
		if m.Chunk != fmt.Sprintf("chunk-%d ", n) {
			t.Errorf("chunk %d = %q", n, m.Chunk)
		}
		n++
		if n == 3 {
			return fmt.Errorf("handler: %w", errStop)
		}
		return nil
	})
	if !errors.Is(err, errStop) || n != 3 {
		t.Fatalf("err = %v after %d messages", err, n)
	}
	if e := waitEvent(t, id); e.Outcome != "CANCELLED" {
		t.Errorf("server outcome %q", e.Outcome)
	}
	// The client is fine afterwards.
	if _, err := c.VectorSearch(context.Background(), &SearchRequest{Query: "q"}); err != nil {
		t.Fatal(err)
	}
}

func TestChatCancelMidStream(t *testing.T) {
	noLeak(t)
	c := dial(t)
	t.Run("func", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ctx, id := withID(ctx, t)
		n := 0
		start := time.Now()
		err := c.ChatStreamFunc(ctx, &ChatRequest{Query: "!slow:300"}, func(m *ChatResponse) error {
			n++
			cancel() // the next message is 300 ms away; the cancel must not wait for it
			return nil
		})
		if CodeOf(err) != Canceled || !errors.Is(err, context.Canceled) || HTTPStatus(err) != 499 || n != 1 {
			t.Fatalf("err = %v after %d messages", err, n)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("took %v", el)
		}
		if e := waitEvent(t, id); e.Outcome != "CANCELLED" {
			t.Errorf("server outcome %q", e.Outcome)
		}
	})
	t.Run("recv", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s, err := c.ChatStream(ctx, &ChatRequest{Query: "!slow:300"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = s.Recv()
		if CodeOf(err) != Canceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("recv-unread", func(t *testing.T) {
		// The reader stops reading; cancelling unblocks the handed-over message.
		ctx, cancel := context.WithCancel(context.Background())
		s, err := c.ChatStream(ctx, &ChatRequest{Query: "!many:100"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		_ = s.Close()
		if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "!many:100"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		_ = s.Close()
		if _, err := s.Recv(); CodeOf(err) != Canceled || errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestChatDeadline(t *testing.T) {
	noLeak(t)
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	n := 0
	err := c.ChatStreamFunc(ctx, &ChatRequest{Query: "!slow:200"}, func(*ChatResponse) error { n++; return nil })
	if CodeOf(err) != DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) || HTTPStatus(err) != 504 {
		t.Fatalf("err = %v", err)
	}
	if n < 1 || n >= 5 {
		t.Errorf("%d messages before the deadline", n)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	s, err := c.ChatStream(ctx2, &ChatRequest{Query: "!slow:200"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err = s.Recv()
		if err != nil {
			break
		}
	}
	if CodeOf(err) != DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv err = %v", err)
	}
}

func TestChatBackpressure(t *testing.T) {
	// A slow reader: libaiw reads a stream's next message only once the
	// previous one's completion is freed, and the poller copies ahead at
	// most one message per stream, so at most two (one copied, one held)
	// wait for the reader: nothing piles up, the poller never blocks on
	// the stream (other calls go on), and all messages arrive in order.
	noLeak(t)
	c := dial(t)
	s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "!many:50"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	// The server has sent all 51 messages long before this (no signal says
	// when: this is a pause for the producer, not synchronisation).
	time.Sleep(200 * time.Millisecond)
	if n := len(s.ClientStream.(*Stream).w.ch); n > 2 {
		t.Errorf("%d messages delivered to the stream while the reader had read 1: buffering", n)
	}
	// The poller is not stuck behind the unread stream.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.VectorSearch(ctx, &SearchRequest{Query: "q"}); err != nil {
		t.Fatalf("a call while a stream is not read: %v", err)
	}
	if n := pendingCalls(c); n != 1 {
		t.Errorf("%d calls in flight, want the stream's only", n)
	}
	for i := 1; ; i++ {
		m, err := s.Recv()
		if err == io.EOF {
			if i != 51 {
				t.Errorf("%d messages", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i < 50 && m.Chunk != fmt.Sprintf("chunk-%d ", i) {
			t.Fatalf("message %d: %q", i, m.Chunk)
		}
		if i == 50 && (!m.IsFinal || m.Chunk != "" || sourceIDs(m.Sources) != "doc-001,doc-003,doc-005") {
			t.Errorf("final %+v", m)
		}
		if i%10 == 0 {
			time.Sleep(5 * time.Millisecond) // a slow reader, not synchronisation
			if n := len(s.ClientStream.(*Stream).w.ch); n > 2 {
				t.Fatalf("after %d messages read, %d wait for the reader", i, n)
			}
		}
	}
}

func TestChatBigChunk(t *testing.T) {
	c := dial(t)
	var got []*ChatResponse
	err := c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "!big:100000"}, func(m *ChatResponse) error {
		got = append(got, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].Chunk) != 100000 || !got[1].IsFinal || got[1].Chunk != "" {
		t.Errorf("big: %d messages", len(got))
	}
}

// panicLine is where f panics: its file:line must be in the stack seen by
// the recover, which proves the panic was not recovered and raised again.
var panicLine string

func TestChatPanic(t *testing.T) {
	noLeak(t)
	c := dial(t)
	for _, tc := range []struct {
		name string
		val  interface{}
	}{{"x", "x"}, {"nil", nil}} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			ctx, id := withID(context.Background(), t)
			var got interface{}
			var stack string
			returned := false
			inFlight := -1
			func() {
				defer func() {
					got = recover()
					stack = string(debug.Stack())
					// ChatStreamFunc's deferred cleanup ran before this one:
					// the stream must be over already.
					inFlight = pendingCalls(c)
				}()
				// !slow: the server sleeps before each message, so it is still
				// in the call when the panic's cancel reaches it (with
				// !many it could finish first, and log OK).
				seen := 0
				_ = c.ChatStreamFunc(ctx, &ChatRequest{Query: "!slow:200"}, func(m *ChatResponse) error {
					if seen++; seen == 2 {
						_, file, line, _ := runtime.Caller(0)
						panicLine = fmt.Sprintf("%s:%d", file, line+2) // the panic line, next
						panic(tc.val)
					}
					return nil
				})
				returned = true
			}()
			if returned {
				t.Fatalf("ChatStreamFunc returned instead of panicking")
			}
			if got != tc.val {
				t.Fatalf("recovered %#v, want %#v", got, tc.val)
			}
			if !strings.Contains(stack, panicLine) || !strings.Contains(stack, "TestChatPanic.func") ||
				!strings.Contains(stack, "(*Client).ChatStreamFunc") {
				t.Errorf("the stack at the recover lacks f's frame at %s (the panic was re-raised?):\n%s", panicLine, stack)
			}
			if inFlight != 0 {
				t.Errorf("%d calls in flight when the panic left ChatStreamFunc: the stream was not cancelled", inFlight)
			}
			if e := waitEvent(t, id); e.Outcome != "CANCELLED" {
				t.Errorf("server outcome %q", e.Outcome)
			}
			// The client still works after the panic.
			var msgs []*ChatResponse
			if err := c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "q"}, func(m *ChatResponse) error {
				msgs = append(msgs, m)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			checkChat(t, msgs, "q", "doc-001,doc-003,doc-005")
		})
	}
	// runtime.Goexit in f (t.FailNow does that) cancels the stream too.
	t.Run("Goexit", func(t *testing.T) {
		ctx, id := withID(context.Background(), t)
		returned := false
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = c.ChatStreamFunc(ctx, &ChatRequest{Query: "!many:100"}, func(m *ChatResponse) error {
				runtime.Goexit()
				return nil
			})
			returned = true
		}()
		<-done
		if returned {
			t.Fatal("ChatStreamFunc returned after Goexit")
		}
		if n := pendingCalls(c); n != 0 {
			t.Errorf("%d calls in flight after Goexit", n)
		}
		if e := waitEvent(t, id); e.Outcome != "CANCELLED" {
			t.Errorf("server outcome %q", e.Outcome)
		}
	})
}

// f runs on the caller's goroutine outside any C call: it may start calls
// -- unary and streams -- through the same client.
func TestCallsFromInsideFunc(t *testing.T) {
	noLeak(t)
	c := dial(t)
	n, nested := 0, 0
	var inner []error
	err := c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "q"}, func(m *ChatResponse) error {
		n++
		resp, err := c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: m.GetChunk()}})
		if err != nil {
			inner = append(inner, err)
		} else if !equal(resp.GetSemanticVector(), refVector([]byte(m.GetChunk()), false)) {
			inner = append(inner, fmt.Errorf("message %d: the embedding of another text", n))
		}
		if n == 1 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := c.VectorSearch(ctx, &SearchRequest{Query: "q"}); err != nil {
				inner = append(inner, err)
			}
			if err := c.ChatStreamFunc(ctx, &ChatRequest{Query: "inner"}, func(*ChatResponse) error {
				nested++
				return nil
			}); err != nil {
				inner = append(inner, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 || nested != 5 {
		t.Errorf("%d messages, %d in the nested stream; want 5 and 5", n, nested)
	}
	for _, err := range inner {
		t.Errorf("call from inside f: %v", err)
	}
}

// Close from inside f: the stream ends with ErrClientClosed, Close returns
// (it does not wait for the f that called it), and a second Close is fine.
func TestCloseFromInsideFunc(t *testing.T) {
	noLeak(t)
	c, err := Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "!many:100"}, func(*ChatResponse) error {
		n++
		if n == 2 {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		return nil
	})
	if !errors.Is(err, ErrClientClosed) || n != 2 {
		t.Errorf("err = %v after %d messages, want ErrClientClosed after 2", err, n)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseDuringStream(t *testing.T) {
	noLeak(t)
	c, err := Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	funcErr := make(chan error, 1)
	go func() {
		var once sync.Once
		funcErr <- c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "!slow:300"}, func(*ChatResponse) error {
			once.Do(func() { close(first) })
			return nil
		})
	}()
	s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "!slow:300"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	<-first
	unary := make(chan error, 1)
	go func() {
		_, err := c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "!slow:5000"}})
		unary <- err
	}()
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Close took %v", el)
	}
	if err := <-funcErr; !errors.Is(err, ErrClientClosed) || errors.Is(err, context.Canceled) {
		t.Errorf("ChatStreamFunc: %v", err)
	}
	if _, err := s.Recv(); !errors.Is(err, ErrClientClosed) {
		t.Errorf("Recv: %v", err)
	}
	if err := <-unary; !errors.Is(err, ErrClientClosed) {
		t.Errorf("unary: %v", err) // ran either before Close (cancelled) or after (refused)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = c.VectorSearch(context.Background(), &SearchRequest{Query: "q"})
	if CodeOf(err) != Canceled || !errors.Is(err, ErrClientClosed) || HTTPStatus(err) != 499 {
		t.Errorf("after Close: %v", err)
	}
	if _, err := c.ChatStream(context.Background(), &ChatRequest{Query: "q"}); !errors.Is(err, ErrClientClosed) {
		t.Errorf("ChatStream after Close: %v", err)
	}
	if err := c.ChatStreamFunc(context.Background(), &ChatRequest{Query: "q"}, func(*ChatResponse) error { return nil }); !errors.Is(err, ErrClientClosed) {
		t.Errorf("ChatStreamFunc after Close: %v", err)
	}
}

func TestConcurrentCloses(t *testing.T) {
	noLeak(t)
	c, err := Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_ = c.Close()
		}()
		go func() {
			defer wg.Done()
			_, err := c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "x"}})
			if err != nil && CodeOf(err) != Canceled {
				t.Errorf("call racing Close: %v", err)
			}
		}()
	}
	wg.Wait()
}

// A ChatStream whose reader stopped reading must not make Close wait for it:
// a message was delivered to it that nobody takes (libaiw reads no further
// until it is freed).
func TestCloseWithUnreadStream(t *testing.T) {
	noLeak(t)
	c, err := Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.ChatStream(context.Background(), &ChatRequest{Query: "!many:20"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(s.ClientStream.(*Stream).w.ch) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("the second message never reached the stream")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close is still waiting for a stream nobody reads")
	}
	if _, err := s.Recv(); !errors.Is(err, ErrClientClosed) {
		t.Errorf("Recv after Close: %v", err)
	}
}
