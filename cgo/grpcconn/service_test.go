package grpcconn_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// service is a running reference AI service (tests/refservice), as
// cgo/channel_test.go's startReplica starts it.
type service struct {
	cmd  *exec.Cmd
	addr string // 127.0.0.1:<port>
}

// startService starts tests/refservice/ai_worker_server.py with args
// (AIW_TEST_PYTHON, default /usr/bin/python3; AIW_TEST_SERVER, default the
// checkout's script) and stops it when the test ends.
func startService(tb testing.TB, args ...string) *service {
	tb.Helper()
	python := os.Getenv("AIW_TEST_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	script := os.Getenv("AIW_TEST_SERVER")
	if script == "" {
		script = filepath.Join("..", "..", "tests", "refservice", "ai_worker_server.py")
	}
	s := &service{cmd: exec.Command(python, append([]string{script, "--port", "0"}, args...)...)}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.cmd.Stderr = os.Stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "LISTENING ") {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		tb.Fatalf("reference service %v did not start", args)
	}
	s.addr = "127.0.0.1:" + strings.TrimPrefix(sc.Text(), "LISTENING ")
	go func() {
		for sc.Scan() {
		}
	}()
	tb.Cleanup(s.stop)
	return s
}

func (s *service) stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// deadAddr is a loopback address nothing listens on (connections are refused).
func deadAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
