package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
	"github.com/thinkbank/libaiw/examples/go-backend/internal/testsvc"
)

// env is the reference service and a client of it, shared by the tests.
var env testsvc.Env

func TestMain(m *testing.M) { os.Exit(env.Run(m, "aiw-backend-e2e-")) }

// testLog sends the backend's access log to t.Log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// chromiumPath is $AIW_CHROMIUM, else Debian's /usr/bin/chromium.
func chromiumPath() string {
	if p := os.Getenv("AIW_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// startChromium launches headless Chromium with a fresh profile and returns
// the browser's DevTools WebSocket URL. The browser (its whole process
// group) is killed when the test ends.
func startChromium(t *testing.T) string {
	t.Helper()
	bin := chromiumPath()
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("CHROMIUM NOT FOUND (%s: %v): the end-to-end browser check cannot run. "+
			"Install Debian's chromium (make deps) or set AIW_CHROMIUM. This is a FAILURE, not a skip.", bin, err)
	}
	profile := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--user-data-dir="+profile, "--remote-debugging-port=0",
		"--window-size=1200,900", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan struct{})
	chromeLog := &testsvc.Buffer{} // for failure messages
	wsURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(chromeLog, line)
			if m := re.FindStringSubmatch(line); m != nil {
				wsURL <- m[1]
			}
		}
		_, _ = io.Copy(chromeLog, stderr)
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test created
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("chromium (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	select {
	case u := <-wsURL:
		return u
	case <-exited:
		t.Fatalf("chromium exited before DevTools was ready; stderr:\n%s", chromeLog.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("chromium: no \"DevTools listening\" line within 60s; stderr:\n%s", chromeLog.String())
	}
	return ""
}

// expectedAnswer is what the reference service streams for query, read
// through the Go package directly, so the page is compared with the service.
func expectedAnswer(t *testing.T, query string) (string, int) {
	t.Helper()
	stream, err := env.Client.ChatStream(aiworker.AppendToOutgoingContext(context.Background(), "x-request-id", "e2e-expected"), &aiworker.ChatRequest{Query: query})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	n := 0
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return sb.String(), n
		}
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteString(m.Chunk)
		n++
	}
}

// chatState is what the page shows about a chat exchange.
type chatState struct {
	State  string `json:"state"`
	Answer string `json:"answer"`
	Chunks string `json:"chunks"`
	Status string `json:"status"`
	Log    string `json:"log"`
}

// waitChat waits until the page's chat is no longer streaming.
const waitChat = `new Promise((resolve, reject) => {
  const read = () => ({ state: document.body.dataset.chat,
    answer: (document.getElementById("answer") || {}).textContent || "",
    chunks: (document.getElementById("answer") || {dataset: {}}).dataset.chunks || "",
    status: document.getElementById("status").textContent,
    log: document.getElementById("log").innerText });
  const check = () => {
    const s = document.body.dataset.chat;
    if (s === "done" || s === "error") { obs.disconnect(); clearTimeout(timer); resolve(read()); return true; }
    return false;
  };
  const obs = new MutationObserver(check);
  const timer = setTimeout(() => { obs.disconnect(); reject(new Error("chat still " + document.body.dataset.chat + " after 30s")); }, 30000);
  obs.observe(document.body, { attributes: true, subtree: true, childList: true, characterData: true });
  check();
})`

// waitPartial resolves with the answer text the first time some, but not
// all, of a streamed answer is on the page while the stream is still open.
const waitPartial = `new Promise((resolve, reject) => {
  const check = () => {
    const a = document.getElementById("answer");
    if (a && document.body.dataset.chat === "streaming" && Number(a.dataset.chunks) >= 1) {
      obs.disconnect(); clearTimeout(timer);
      resolve({ state: "streaming", answer: a.textContent, chunks: a.dataset.chunks, status: "", log: "" });
      return true;
    }
    if (document.body.dataset.chat !== "streaming" && a && a.dataset.chunks !== "0") {
      obs.disconnect(); clearTimeout(timer); reject(new Error("the stream finished before a partial answer was seen"));
    }
    return false;
  };
  const obs = new MutationObserver(check);
  const timer = setTimeout(() => { obs.disconnect(); reject(new Error("no partial answer within 30s")); }, 30000);
  obs.observe(document.body, { attributes: true, subtree: true, childList: true, characterData: true });
  check();
})`

const waitSearch = `new Promise((resolve, reject) => {
  const read = () => ({ state: document.body.dataset.search,
    items: Array.from(document.querySelectorAll("#results li")).map((li) => li.innerText),
    status: document.getElementById("search-status").textContent });
  const check = () => {
    const s = document.body.dataset.search;
    if (s === "done" || s === "error") { obs.disconnect(); clearTimeout(timer); resolve(read()); }
  };
  const obs = new MutationObserver(check);
  const timer = setTimeout(() => { obs.disconnect(); reject(new Error("search still " + document.body.dataset.search + " after 30s")); }, 30000);
  obs.observe(document.body, { attributes: true, subtree: true, childList: true, characterData: true });
  check();
})`

// openPage starts Chromium and loads url in its page; the browser goes
// when the test ends.
func openPage(t *testing.T, url string) *cdpSession {
	t.Helper()
	browserWS := startChromium(t)
	pageWS, err := pageWebSocketURL(browserWS, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := dialWebSocket(pageWS, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	page := &cdpSession{ws: ws}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(page.call("Page.enable", nil, nil, 10*time.Second))
	must(page.call("Page.navigate", map[string]string{"url": url}, nil, 20*time.Second))
	// Wait for the load event of this page (not a late one of about:blank).
	for loaded := false; !loaded; {
		must(page.waitEvent("Page.loadEventFired", 30*time.Second))
		var where string
		if err := page.evaluate(`location.href + " " + document.readyState`, &where, 10*time.Second); err != nil {
			t.Logf("page not ready yet: %v", err)
			continue
		}
		loaded = where == url+" complete"
	}
	return page
}

// TestBrowserChatAndSearch loads the page in headless Chromium, asks a
// question and runs a search as a user would (typing and clicking through
// the DevTools protocol), checks the streamed answer and the results in the
// DOM, and saves a screenshot to build/e2e/chat.png.
func TestBrowserChatAndSearch(t *testing.T) {
	root, err := testsvc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(gateway.NewServer(env.Client, gateway.Config{Target: env.Svc.Addr,
		Heartbeat: time.Second, Logger: log.New(testLog{t}, "backend: ", 0), AccessLog: testLog{t}}))
	defer ts.Close()

	page := openPage(t, ts.URL+"/")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var title string
	must(page.evaluate("document.title", &title, 10*time.Second))
	if title != "ThinkBank AI gateway" {
		t.Fatalf("page title %q", title)
	}

	// 1. A slow answer: a partial answer is visible while the stream is open.
	slowQ := "!slow:400"
	wantSlow, _ := expectedAnswer(t, slowQ)
	must(page.typeInto("#chat-input", slowQ))
	must(page.click("#chat-send"))
	var partial chatState
	must(page.evaluate(waitPartial, &partial, 40*time.Second))
	if partial.Answer == "" || partial.Answer == wantSlow || !strings.HasPrefix(wantSlow, partial.Answer) {
		t.Fatalf("partial answer %q is not a proper prefix of %q", partial.Answer, wantSlow)
	}
	var st chatState
	must(page.evaluate(waitChat, &st, 40*time.Second))
	if st.State != "done" || st.Answer != wantSlow {
		t.Fatalf("slow chat: state %q answer %q (want %q); log:\n%s", st.State, st.Answer, wantSlow, st.Log)
	}
	t.Logf("partial answer seen while streaming: %q", partial.Answer)

	// 2. A question typed into the box: the full streamed answer appears.
	question := "What is in the quarterly report?"
	want, chunks := expectedAnswer(t, question)
	must(page.typeInto("#chat-input", question))
	must(page.click("#chat-send"))
	must(page.evaluate(waitChat, &st, 40*time.Second))
	if st.State != "done" {
		t.Fatalf("chat state %q; log:\n%s", st.State, st.Log)
	}
	if st.Answer != want || st.Chunks != fmt.Sprint(chunks) {
		t.Fatalf("answer in the page %q (%s chunks)\nwant %q (%d chunks)", st.Answer, st.Chunks, want, chunks)
	}
	for _, s := range []string{question, want, "Sources: Quarterly report 2024 Q1 (doc-001, 0.95)"} {
		if !strings.Contains(st.Log, s) {
			t.Errorf("chat log lacks %q:\n%s", s, st.Log)
		}
	}

	// 3. A search: the results are listed.
	must(page.typeInto("#search-input", "harbour sunset"))
	must(page.click("#search-send"))
	var sr struct {
		State  string   `json:"state"`
		Items  []string `json:"items"`
		Status string   `json:"status"`
	}
	must(page.evaluate(waitSearch, &sr, 40*time.Second))
	if sr.State != "done" || len(sr.Items) != 10 || !strings.Contains(sr.Items[0], "Quarterly report 2024 Q1") ||
		!strings.Contains(sr.Items[0], "doc-001") || sr.Status != "10 shown of 12 matches" {
		t.Fatalf("search in the page: %+v", sr)
	}

	// 4. The screenshot.
	var shot struct {
		Data string `json:"data"`
	}
	must(page.call("Page.captureScreenshot", map[string]string{"format": "png"}, &shot, 30*time.Second))
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%v, %d bytes)", err, len(png))
	}
	out := filepath.Join(root, "build", "e2e", "chat.png")
	must(os.MkdirAll(filepath.Dir(out), 0o755))
	must(os.WriteFile(out, png, 0o644))
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}

// thinkBankClient is ThinkBank's web UI client (web-ui/src/lib/api.ts:
// getAIHealth and chatWithAssets, as written there but for the types, with
// API_BASE the page's origin) and what its ChatPage does with it: a first
// question without history, then a second one with the history of the
// first exchange; then the same chat route asked for text/event-stream and
// read with getReader().
const thinkBankClient = `(async () => {
  const API_BASE = location.origin;
  async function getAIHealth() {
    const response = await fetch(` + "`${API_BASE}/api/v1/ai/health`" + `);
    if (!response.ok) {
      throw new Error('Failed to check AI service');
    }
    return response.json();
  }
  async function chatWithAssets(query, history = [], topK = 5) {
    const response = await fetch(` + "`${API_BASE}/api/v1/chat`" + `, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query, history, top_k: topK }),
    });
    if (!response.ok) {
      throw new Error('Failed to chat with assets');
    }
    return response.json();
  }
  const health = await getAIHealth();
  const query = "What is in the quarterly report?";
  const first = await chatWithAssets(query, []);
  const history = [{ role: 'user', content: query }, { role: 'assistant', content: first.answer }];
  const second = await chatWithAssets("!echo", history);

  const resp = await fetch(` + "`${API_BASE}/api/v1/chat`" + `, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Accept': 'text/event-stream' },
    body: JSON.stringify({ query: "hello", history: [], top_k: 5 }),
  });
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let stream = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    stream += decoder.decode(value, { stream: true });
  }
  return { health, first, second, streamType: resp.headers.get("content-type"), stream,
           traceparent: resp.headers.get("traceparent") };
})()`

// TestBrowserThinkBankClient runs ThinkBank's own web UI client code in
// headless Chromium against the gateway: its health check and its chat
// requests, exactly as that client sends them (a browser's fetch, JSON
// body, Accept */*), get ThinkBank's shapes; asked for text/event-stream,
// the chat streams.
func TestBrowserThinkBankClient(t *testing.T) {
	ts := httptest.NewServer(gateway.NewServer(env.Client, gateway.Config{Target: env.Svc.Addr,
		Heartbeat: time.Second, Logger: log.New(testLog{t}, "backend: ", 0), AccessLog: testLog{t}}))
	defer ts.Close()
	page := openPage(t, ts.URL+"/")

	type source struct {
		AssetID  string            `json:"asset_id"`
		Score    float64           `json:"score"`
		MimeType string            `json:"mime_type"`
		Metadata map[string]string `json:"metadata"`
	}
	type answer struct {
		Answer  *string  `json:"answer"`
		Sources []source `json:"sources"`
	}
	var got struct {
		Health struct {
			Available *bool  `json:"available"`
			Host      string `json:"host"`
			Port      string `json:"port"`
			Message   string `json:"message"`
			Status    string `json:"status"`
		} `json:"health"`
		First       answer `json:"first"`
		Second      answer `json:"second"`
		StreamType  string `json:"streamType"`
		Stream      string `json:"stream"`
		Traceparent string `json:"traceparent"`
	}
	if err := page.evaluate(thinkBankClient, &got, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(env.Svc.Addr, ":")
	if h := got.Health; h.Available == nil || !*h.Available || h.Host != host || h.Port != port || h.Message == "" ||
		h.Status != "healthy" {
		t.Errorf("getAIHealth() = %+v", h)
	}
	want, _ := expectedAnswer(t, "What is in the quarterly report?")
	if got.First.Answer == nil || *got.First.Answer != want || len(got.First.Sources) == 0 ||
		got.First.Sources[0].AssetID != "doc-001" {
		t.Errorf("chatWithAssets(query) = %+v, want answer %q with sources", got.First, want)
	}
	wantEcho := "user|What is in the quarterly report?|0\nassistant|" + want + "|0\n" +
		"options:max_context_docs=5,similarity_threshold=0.0,include_images=0,stream_response=0"
	if s := got.Second; s.Answer == nil || *s.Answer != wantEcho || len(s.Sources) != 1 || s.Sources[0].Metadata["history"] != "2" {
		t.Errorf("chatWithAssets(\"!echo\", history) = %+v, want answer %q", s, wantEcho)
	}
	if !strings.HasPrefix(got.StreamType, "text/event-stream") || !strings.HasSuffix(got.Stream, "data: [DONE]\n\n") ||
		strings.Count(got.Stream, "data: {") != 5 || !strings.Contains(got.Stream, `"is_final":true`) {
		t.Errorf("the stream (%s):\n%s", got.StreamType, got.Stream)
	}
	if !regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`).MatchString(got.Traceparent) {
		t.Errorf("traceparent seen by the page: %q", got.Traceparent)
	}
}
