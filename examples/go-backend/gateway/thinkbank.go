package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// ThinkBank's own routes, answered in the shapes its web UI expects
// (web-ui/src/lib/api.ts of ThinkBank): POST /api/v1/chat here, and the
// available/host/port/message fields of GET /api/v1/ai/health (healthJSON).

// thinkBankChatJSON is the body ThinkBank's web UI sends:
// {"query":"...","history":[{"role":"user","content":"..."},...],"top_k":5}.
type thinkBankChatJSON struct {
	Query string `json:"query"`
	// History entries are taken as the /api/v1/ai/chat route takes them
	// (role "user" or "assistant", content, optional timestamp).
	History []chatMessageJSON `json:"history"`
	// TopK is how many documents the answer may draw on: ChatOptions'
	// max_context_docs. 0 or absent: no options are sent (the service's
	// default).
	TopK int32 `json:"top_k"`
}

func (b *thinkBankChatJSON) toRequest() (*aiworker.ChatRequest, string) {
	if b.TopK < 0 {
		return nil, "top_k must not be negative"
	}
	c := chatRequestJSON{Query: b.Query, History: b.History}
	if b.TopK > 0 {
		c.Options = &chatOptionsJSON{MaxContextDocs: b.TopK}
	}
	return c.toRequest()
}

// thinkBankAnswerJSON is ThinkBank's chat answer: the chunks concatenated
// and the sources of the final message, in the form of the other routes'
// sources ([] when there are none).
type thinkBankAnswerJSON struct {
	Answer  string            `json:"answer"`
	Sources []json.RawMessage `json:"sources"`
}

// maxAnswerBytes bounds an answer collected into one JSON document (the
// stream is not bounded: ask for text/event-stream).
const maxAnswerBytes = 32 << 20

// handleThinkBankChat answers POST /api/v1/chat: one JSON document
// {answer, sources} once the stream is over, or, when the request's Accept
// header asks for text/event-stream, the same Server-Sent Events as
// /api/v1/ai/chat. Errors, -max-chats, the chat deadline and a client that
// goes away (499) are as for /api/v1/ai/chat; in the JSON form every
// failure is an ordinary JSON error, since nothing was sent before.
func (s *server) handleThinkBankChat(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	serveChat(s, w, r, (*thinkBankChatJSON).toRequest, acceptsEventStream(r.Header))
}

// collectChat reads the stream to its end and answers {answer, sources}.
func (s *server) collectChat(w http.ResponseWriter, r *http.Request, ctx context.Context, stream *aiworker.ChatStream) {
	defer func() { _ = stream.Close() }() // the RPC is over when the handler returns
	var answer strings.Builder
	sources := []json.RawMessage{}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			switch {
			case r.Context().Err() != nil:
				clientClosed(w) // the browser went away; nothing to answer
			case ctx.Err() == context.DeadlineExceeded:
				writeCallError(w, &aiworker.Error{Code: aiworker.DeadlineExceeded, Message: "chat deadline exceeded"})
			default:
				writeCallError(w, err)
			}
			return
		}
		if answer.Len()+len(m.Chunk) > maxAnswerBytes {
			writeError(w, http.StatusInternalServerError, "INTERNAL", fmt.Sprintf(
				"answer larger than %d bytes; ask for it as a stream (Accept: text/event-stream)", maxAnswerBytes))
			return
		}
		answer.WriteString(m.Chunk)
		if m.IsFinal {
			sources = searchResultsFrom(m.Sources)
		}
	}
	writeJSON(w, http.StatusOK, thinkBankAnswerJSON{Answer: answer.String(), Sources: sources})
}

// acceptsEventStream tells whether the Accept header lists text/event-stream
// (with a q above 0). */* does not count: a plain fetch() gets JSON.
func acceptsEventStream(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/event-stream" {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}
