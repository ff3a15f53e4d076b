package aiworker

// The bounded soak with restarts: goroutines make unary calls and streams
// through one client while the reference service is killed (SIGKILL) and
// started again on the same port, twice. Every call must end OK or with a
// clean status before its deadline; after each restart the same client must
// succeed again; at the end goroutines, OS threads, file descriptors and RSS
// must be back near where they were after the warm-up. AIW_SOAK_SECONDS
// sets the length (default 12; `make soak` runs it longer).

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// soakServer is a reference service on a fixed port that can be restarted.
type soakServer struct {
	port int
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *soakServer) start(t *testing.T) {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ { // the port may still be in TIME_WAIT use
		cmd := refServiceCommand("--port", strconv.Itoa(s.port))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if sc.Scan() && strings.HasPrefix(sc.Text(), "LISTENING") {
			go func() {
				for sc.Scan() {
				}
			}()
			s.cmd = cmd
			return
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the reference service did not start on port %d", s.port)
}

func (s *soakServer) kill() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

type procStats struct{ goroutines, threads, fds, rssKB int }

func (p procStats) String() string {
	return fmt.Sprintf("%d goroutines, %d threads, %d fds, %d kB RSS", p.goroutines, p.threads, p.fds, p.rssKB)
}

func statsNow(t *testing.T) procStats {
	st := procStats{goroutines: runtime.NumGoroutine(), threads: osThreads(t)}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		st.fds = len(ents)
	}
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			st.rssKB, _ = strconv.Atoi(f[1])
		}
	}
	return st
}

func TestSoakWithRestarts(t *testing.T) {
	seconds := 12
	if n, err := strconv.Atoi(os.Getenv("AIW_SOAK_SECONDS")); err == nil && n > 0 {
		seconds = n
	}
	if asanBuild || raceEnabled {
		seconds = 6 // the sanitizers make each call several times dearer
	}
	srv := &soakServer{port: freePort(t)}
	srv.start(t)
	defer srv.kill()
	c, err := Dial("127.0.0.1:" + strconv.Itoa(srv.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	var ok, failed, late atomic.Int64
	call := func(i int) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		var err error
		if i%4 == 0 {
			err = c.ChatStreamFunc(cctx, &ChatRequest{Query: "soak"}, func(*ChatResponse) error { return nil })
		} else {
			_, err = c.GetEmbedding(cctx, text("soak"))
		}
		if time.Since(start) > 3*time.Second {
			late.Add(1)
		}
		switch CodeOf(err) {
		case OK:
			ok.Add(1)
		case Unavailable, DeadlineExceeded, Canceled, Internal, Unknown:
			failed.Add(1) // a clean status while the service is down
		default:
			t.Errorf("call %d: unexpected %v", i, err)
		}
	}
	// Warm up, then take the baseline.
	for i := 0; i < 50; i++ {
		call(i)
	}
	runtime.GC()
	base := statsNow(t)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; ; i += 8 {
				select {
				case <-stop:
					return
				default:
				}
				call(i)
			}
		}(g)
	}
	total := time.Duration(seconds) * time.Second
	for r := 0; r < 2; r++ {
		time.Sleep(total / 3)
		srv.kill()
		time.Sleep(200 * time.Millisecond)
		srv.start(t)
	}
	time.Sleep(total / 3)
	close(stop)
	wg.Wait()

	// The same client works after the restarts.
	deadline := time.Now().Add(10 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.GetEmbedding(cctx, text("after the restarts"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client does not recover after the restarts: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if late.Load() > 0 {
		t.Errorf("%d calls ended more than 1 s after their 2 s deadline", late.Load())
	}
	if ok.Load() == 0 {
		t.Fatalf("no call succeeded")
	}

	// Flat at the end: give the runtime a moment to park what it started.
	var end procStats
	for i := 0; i < 50; i++ {
		runtime.GC()
		end = statsNow(t)
		if end.goroutines <= base.goroutines+2 && end.fds <= base.fds+4 && end.threads <= base.threads+8 &&
			(end.rssKB <= base.rssKB+64*1024 || asanBuild) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("soak %ds: %d calls OK, %d ended with a clean error during the outages; baseline %v; end %v",
		seconds, ok.Load(), failed.Load(), base, end)
	if end.goroutines > base.goroutines+2 {
		t.Errorf("goroutines grew: %v -> %v", base, end)
	}
	if end.fds > base.fds+4 {
		t.Errorf("file descriptors grew: %v -> %v", base, end)
	}
	if end.threads > base.threads+8 {
		t.Errorf("OS threads grew: %v -> %v", base, end)
	}
	if end.rssKB > base.rssKB+64*1024 && !asanBuild { // ASan keeps freed memory in quarantine
		t.Errorf("RSS grew by more than 64 MiB: %v -> %v", base, end)
	}
}
