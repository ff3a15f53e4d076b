package aiworker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"sync"
	"testing"
	"time"
)

// An open stream is a parked goroutine's worth of state, never an OS thread:
// thousands of streams open at once on one client, all with a message
// delivered and unread, keep the thread count at GOMAXPROCS plus a small
// constant (gRPC's own threads, the poller's, the runtime's), and add no
// goroutine per stream (a Background ctx needs no watcher).
func TestManyOpenStreams(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	noLeak(t)
	n := 5000
	if raceEnabled || asanBuild {
		n = 1000 // -race and -asan are several times slower
	}
	maxThreads := runtime.GOMAXPROCS(0) + 16
	c := dial(t)
	// One call first, so that the channel is connected and gRPC's threads
	// are all there before counting.
	if _, err := c.VectorSearch(context.Background(), &SearchRequest{Query: "q"}); err != nil {
		t.Fatal(err)
	}
	goroutines := runtime.NumGoroutine()
	peak := osThreads(t)
	threads := func(when string) {
		t.Helper()
		th := osThreads(t)
		if th > peak {
			peak = th
		}
		if th > maxThreads {
			t.Fatalf("%s: %d OS threads, want at most GOMAXPROCS+16 = %d: %s", when, th, maxThreads, threadNames())
		}
	}
	streams := make([]*ChatStream, n)
	t.Cleanup(func() {
		// On a failure, end the streams left (their tokens go back).
		for _, s := range streams {
			if s != nil {
				_ = s.Close()
			}
		}
	})
	for i := range streams {
		s, err := c.ChatStream(context.Background(), &ChatRequest{Query: fmt.Sprintf("s%d", i)})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		streams[i] = s
		if i%500 == 499 {
			threads(fmt.Sprintf("%d streams open", i+1))
		}
	}
	if pendingCalls(c) != n {
		t.Errorf("%d calls in flight, want %d", pendingCalls(c), n)
	}
	// Every stream gets its first message delivered; none is read. The
	// service's handlers (64 threads) finish quickly: the rest of each
	// answer waits, flow-controlled, for the client to read it.
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; i < n; {
		if len(streams[i].ClientStream.(*Stream).w.ch) > 0 {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %d of %d: no message delivered in 90 s", i, n)
		}
		time.Sleep(time.Millisecond)
	}
	threads(fmt.Sprintf("%d streams open, each with a message unread", n))
	if g := runtime.NumGoroutine(); g > goroutines+8 {
		t.Errorf("%d goroutines with %d streams open, %d before: a goroutine per stream", g, n, goroutines)
	}
	if pendingCalls(c) != n {
		t.Errorf("%d calls in flight, want %d", pendingCalls(c), n)
	}
	// Now read them all to the end, in an order other than the start order.
	for k, i := range rand.Perm(n) {
		s := streams[i]
		var msgs []*ChatResponse
		for {
			m, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			msgs = append(msgs, m)
		}
		if len(msgs) != 5 || msgs[0].GetChunk() != fmt.Sprintf("You asked: s%d. ", i) || !msgs[4].GetIsFinal() {
			t.Fatalf("stream %d: %d messages, first %q", i, len(msgs), msgs[0].GetChunk())
		}
		if k%1000 == 999 {
			threads(fmt.Sprintf("%d streams read", k+1))
		}
	}
	if p := pendingCalls(c); p != 0 {
		t.Errorf("%d calls in flight after reading every stream", p)
	}
	t.Logf("%d streams: at most %d OS threads (limit %d), %d goroutines before", n, peak, maxThreads, goroutines)
}

// The final message of a stream races Close (of the client or the stream)
// and a ctx cancel: the stream ends with an error, or with io.EOF only when
// Recv returned the final message (IsFinal) before; never io.EOF after
// fewer messages, and never a message after the error.
func TestFinalMessageRaces(t *testing.T) {
	iters := 600
	if raceEnabled || asanBuild {
		iters = 200
	}
	for _, how := range []string{"client-close", "stream-close", "cancel"} {
		how := how
		t.Run(how, func(t *testing.T) {
			noLeak(t)
			shared := dial(t)
			outcomes := map[string]int{}
			for it := 0; it < iters; it++ {
				c := shared
				if how == "client-close" {
					var err error
					if c, err = Dial(target); err != nil {
						t.Fatal(err)
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				s, err := c.ChatStream(ctx, &ChatRequest{Query: "q"})
				if err != nil {
					t.Fatal(err)
				}
				for k := 0; k < 4; k++ { // all but the last
					m, err := s.Recv()
					if err != nil || m.GetIsFinal() {
						t.Fatalf("iteration %d, message %d: %v, %v", it, k, m, err)
					}
				}
				switch it % 3 {
				case 0: // the final message has been delivered, unread
					for deadline := time.Now().Add(5 * time.Second); len(s.ClientStream.(*Stream).w.ch) == 0; time.Sleep(50 * time.Microsecond) {
						if time.Now().After(deadline) {
							t.Fatal("the final message was never delivered")
						}
					}
				case 1: // it may still be on its way
				case 2:
					time.Sleep(time.Duration(rand.Intn(300)) * time.Microsecond)
				}
				var wg sync.WaitGroup
				wg.Add(1)
				start := make(chan struct{})
				go func() {
					defer wg.Done()
					<-start
					switch how {
					case "client-close":
						_ = c.Close()
					case "stream-close":
						_ = s.Close()
					case "cancel":
						cancel()
					}
				}()
				close(start)
				final := false
				var end error
				for {
					m, err := s.Recv()
					if err != nil {
						end = err
						break
					}
					if final {
						t.Fatalf("iteration %d: a message after the final one", it)
					}
					final = m.GetIsFinal()
					if !final {
						t.Fatalf("iteration %d: message %q after 4, not the final one", it, m.GetChunk())
					}
				}
				wg.Wait()
				switch {
				case end == io.EOF && !final:
					t.Fatalf("iteration %d (%s): io.EOF although the final message was never returned", it, how)
				case end == io.EOF:
					outcomes["final, then EOF"]++
				case CodeOf(end) != Canceled:
					t.Fatalf("iteration %d (%s): %v, want Canceled", it, how, end)
				case how == "client-close" && !errors.Is(end, ErrClientClosed):
					t.Fatalf("iteration %d: %v, want ErrClientClosed", it, end)
				case how == "cancel" && !errors.Is(end, context.Canceled):
					t.Fatalf("iteration %d: %v, want context.Canceled", it, end)
				case final:
					outcomes["final, then error"]++
				default:
					outcomes["error"]++
				}
				// Recv keeps returning the same end.
				if _, err := s.Recv(); err != end {
					t.Fatalf("iteration %d: Recv after the end: %v, then %v", it, end, err)
				}
				cancel()
				if how == "client-close" {
					_ = c.Close()
				}
			}
			t.Logf("%d iterations: %v", iters, outcomes)
			if outcomes["error"] == 0 {
				t.Errorf("the %s never ended a stream before its final message was read: the race was not exercised", how)
			}
		})
	}
}
