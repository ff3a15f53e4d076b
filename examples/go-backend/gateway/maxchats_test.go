package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thinkbank/libaiw/examples/go-backend/gateway"
)

// openChat starts a chat and requires 200: the gateway's handler holds the
// chat (the status line comes with the first event, which a short
// heartbeat sends at once).
func (ts *testServer) openChat(t *testing.T, body, id string) *http.Response {
	t.Helper()
	resp := ts.postChat(t, body, "X-Request-Id: "+id)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("chat %s: status %d, want 200: %s", id, resp.StatusCode, b)
	}
	return resp
}

// finishChat reads a chat to its end and requires the final [DONE]. When
// the client sees the end of the body the handler has returned.
func finishChat(t *testing.T, resp *http.Response, id string) {
	t.Helper()
	evs := readAllEvents(t, resp.Body)
	if len(evs) == 0 || evs[len(evs)-1].raw != "data: [DONE]" {
		t.Fatalf("chat %s did not end with [DONE]: %+v", id, evs)
	}
}

// wantTooManyChats checks the answer to a chat over the limit.
func wantTooManyChats(t *testing.T, r response, limit int) {
	t.Helper()
	r.wantError(t, 503, "UNAVAILABLE", fmt.Sprintf("too many concurrent chats (limit %d)", limit))
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want \"1\"", got)
	}
	if want := fmt.Sprintf(`{"code":"UNAVAILABLE","message":"too many concurrent chats (limit %d)"}`+"\n", limit); string(r.body) != want {
		t.Errorf("body %q, want %q", r.body, want)
	}
}

// With -max-chats 2 and two chats open, a third is refused with 503 and
// Retry-After (without reaching the service); once the two have ended a new
// chat is served again.
func TestMaxChatsRefusesOverLimit(t *testing.T) {
	ts := newServer(t, gateway.Config{MaxChats: 2, Heartbeat: 20 * time.Millisecond})
	tag := time.Now().UnixNano()
	held := []string{fmt.Sprintf("held-a-%d", tag), fmt.Sprintf("held-b-%d", tag)}
	var open []*http.Response
	for _, id := range held {
		open = append(open, ts.openChat(t, `{"query":"!slow:250"}`, id))
	}

	refused := fmt.Sprintf("refused-%d", tag)
	wantTooManyChats(t, ts.do(t, "POST", "/api/v1/ai/chat", `{"query":"hello"}`, "X-Request-Id: "+refused), 2)
	// Refused before the body is read: even a bad body gets the 503.
	wantTooManyChats(t, ts.do(t, "POST", "/api/v1/ai/chat", `not json`), 2)
	// A wrong method is still 405, and other endpoints are not limited.
	ts.do(t, "GET", "/api/v1/ai/chat", "").wantError(t, 405, "UNIMPLEMENTED", "")
	var s searchBody
	ts.postOK(t, "/api/v1/ai/search", `{"query":"q","limit":1}`, &s)

	for i, resp := range open {
		finishChat(t, resp, held[i])
	}
	after := fmt.Sprintf("after-%d", tag)
	finishChat(t, ts.openChat(t, `{"query":"hello"}`, after), after)
	// Two at once fit again.
	a := ts.openChat(t, `{"query":"!slow:50"}`, after+"-a")
	b := ts.openChat(t, `{"query":"!slow:50"}`, after+"-b")
	finishChat(t, a, after+"-a")
	finishChat(t, b, after+"-b")

	if a, ok := ts.findAccess(t, refused); !ok || a.Route != "/api/v1/ai/chat" || a.Status != 503 {
		t.Errorf("no 503 in the access log for %s (%+v):\n%s", refused, a, ts.log.String())
	}
	evs, err := env.Svc.ReadEvents()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.RequestID == refused {
			t.Errorf("the refused chat reached the service: %+v", e)
		}
	}
}

// Every way a chat ends gives its slot back: bad bodies, an error before
// the stream, an error mid-stream, a completed stream and a browser that
// goes away.
func TestMaxChatsSlotReleasedOnEveryExit(t *testing.T) {
	ts := newServer(t, gateway.Config{MaxChats: 1, Heartbeat: 20 * time.Millisecond})
	for i := 0; i < 3; i++ {
		ts.do(t, "POST", "/api/v1/ai/chat", `{"query":""}`).wantError(t, 400, "INVALID_ARGUMENT", "query is required")
		ts.do(t, "POST", "/api/v1/ai/chat", `{`).wantError(t, 400, "INVALID_ARGUMENT", "")
		ts.do(t, "POST", "/api/v1/ai/chat", `{"query":"!error:UNAVAILABLE:model warming up"}`).
			wantError(t, 503, "UNAVAILABLE", "model warming up")
		r := ts.do(t, "POST", "/api/v1/ai/chat", `{"query":"!error-after:1:INTERNAL:boom"}`)
		if r.status != 200 || !strings.Contains(string(r.body), "event: error") {
			t.Fatalf("error mid-stream: %d %s", r.status, r.body)
		}
		id := fmt.Sprintf("done-%d-%d", i, time.Now().UnixNano())
		finishChat(t, ts.openChat(t, `{"query":"hello"}`, id), id)
	}

	// The browser goes away from a held chat: its handler returns soon after
	// and the slot is free again; until then a new chat is refused.
	gone := ts.openChat(t, `{"query":"!slow:300"}`, fmt.Sprintf("gone-%d", time.Now().UnixNano()))
	wantTooManyChats(t, ts.do(t, "POST", "/api/v1/ai/chat", `{"query":"hello"}`), 1)
	gone.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := ts.postChat(t, `{"query":"hello"}`)
		if resp.StatusCode == 200 {
			finishChat(t, resp, "after-disconnect")
			break
		}
		b, _ := io.ReadAll(resp.Body)
		wantTooManyChats(t, response{status: resp.StatusCode, header: resp.Header, body: b}, 1)
		if time.Now().After(deadline) {
			t.Fatal("the slot of a disconnected chat was not given back within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MaxChats 0 (the zero Config, -max-chats 0) is unlimited.
func TestMaxChatsZeroIsUnlimited(t *testing.T) {
	ts := newServer(t, gateway.Config{Heartbeat: 20 * time.Millisecond})
	var open []*http.Response
	for i := 0; i < 5; i++ {
		open = append(open, ts.openChat(t, `{"query":"!slow:100"}`, fmt.Sprintf("unlimited-%d-%d", i, time.Now().UnixNano())))
	}
	for i, resp := range open {
		finishChat(t, resp, fmt.Sprint("unlimited-", i))
	}
}
