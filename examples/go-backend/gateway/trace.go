package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand"
	"net/http"
	"strings"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the gateway
// takes part in the browser's trace, or starts one.
//
//   - A valid `traceparent` request header is kept: its trace id is the
//     request's, and the header is echoed unchanged in the response.
//     Valid is version 00, exactly "00-<32 hex trace id>-<16 hex parent id>-<2
//     hex flags>" in lower case, neither id all zeros; a higher version
//     (not ff) is parsed the same way, as W3C asks, ignoring what follows
//     its flags.
//   - Anything else (absent, malformed, uppercase, zero ids, version ff,
//     the header repeated) starts a new trace: a random trace id, a random
//     span id for the gateway's part, flags 01 (sampled), and that
//     traceparent is the one the response carries. A `tracestate` that came
//     with an invalid traceparent is dropped (W3C: it belongs to the
//     discarded trace).
//   - Each call to the AI service carries `traceparent` metadata with the
//     same trace id and a new span id as its parent id (the span of that
//     call), with the request's flags, and the request's `tracestate`, when
//     it has one, unchanged.

// traceContext is a request's position in its trace.
type traceContext struct {
	traceID string // 32 lower-case hex digits, not all zero
	flags   string // 2 lower-case hex digits
	state   string // the tracestate to pass on, or ""
	header  string // the traceparent of the response
}

type traceKey struct{}

// TraceID returns the W3C trace id of the request whose context this is
// ("" outside the gateway).
func TraceID(ctx context.Context) string {
	if tc, ok := ctx.Value(traceKey{}).(*traceContext); ok {
		return tc.traceID
	}
	return ""
}

// maxTraceState bounds the tracestate passed on: W3C allows 32 members of
// at most 256 + 1 + 256 characters; more than that is not a tracestate.
const maxTraceState = 32 * 514

// traceFrom reads the request's traceparent and tracestate, or starts a
// new trace.
func traceFrom(h http.Header) *traceContext {
	parents := h.Values("Traceparent")
	if len(parents) == 1 {
		if traceID, flags, ok := parseTraceparent(parents[0]); ok {
			tc := &traceContext{traceID: traceID, flags: flags, header: parents[0]}
			if st := strings.Join(h.Values("Tracestate"), ","); validTraceState(st) {
				tc.state = st
			}
			return tc
		}
	}
	tc := &traceContext{traceID: newTraceID(), flags: "01"}
	tc.header = "00-" + tc.traceID + "-" + newSpanID() + "-" + tc.flags
	return tc
}

// parseTraceparent returns the trace id and flags of a valid traceparent.
func parseTraceparent(s string) (traceID, flags string, ok bool) {
	// version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55.
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return "", "", false
	}
	version, traceID, parentID, flags := s[0:2], s[3:35], s[36:52], s[53:55]
	if !lowerHex(version) || !lowerHex(traceID) || !lowerHex(parentID) || !lowerHex(flags) {
		return "", "", false
	}
	switch {
	case version == "ff": // forbidden
		return "", "", false
	case version == "00" && len(s) != 55:
		return "", "", false
	case len(s) > 55 && (s[55] != '-' || len(s) > maxTraceparent || !printable(s[55:])):
		// A later version may only add "-..." fields; the gateway echoes
		// the header, so what it adds must be short and plain.
		return "", "", false
	case allZeros(traceID) || allZeros(parentID):
		return "", "", false
	}
	return traceID, flags, true
}

// maxTraceparent bounds a traceparent of a later version (version 00 is 55
// characters).
const maxTraceparent = 512

// printable: visible ASCII, no spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZeros(s string) bool { return strings.Trim(s, "0") == "" }

// validTraceState accepts a tracestate that can be passed on as gRPC
// metadata: printable ASCII (W3C's members are), bounded; not "".
func validTraceState(s string) bool {
	if strings.TrimSpace(s) == "" || len(s) > maxTraceState {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// randomHex returns n random bytes in hex, never all zeros.
func randomHex(n int) string {
	b := make([]byte, n)
	for {
		if _, err := rand.Read(b); err != nil {
			mrand.Read(b) // crypto/rand failing is near impossible; an id is still needed
		}
		for _, c := range b {
			if c != 0 {
				return hex.EncodeToString(b)
			}
		}
	}
}

// childParent is the traceparent of one call made for the request: the
// request's trace id and flags, a span id of the call's own (W3C: each
// outgoing request is a new span).
func (tc *traceContext) childParent() string {
	return "00-" + tc.traceID + "-" + newSpanID() + "-" + tc.flags
}

func newTraceID() string { return randomHex(16) }
func newSpanID() string  { return randomHex(8) }

// outgoing is the context for one call to the AI service made for the
// request whose context ctx is: its request id as x-request-id metadata,
// and its trace as traceparent (a new span id for this call) and
// tracestate.
func outgoing(ctx context.Context) context.Context {
	kv := []string{"x-request-id", RequestID(ctx)}
	if tc, ok := ctx.Value(traceKey{}).(*traceContext); ok {
		kv = append(kv, "traceparent", tc.childParent())
		if tc.state != "" {
			kv = append(kv, "tracestate", tc.state)
		}
	}
	return aiworker.AppendToOutgoingContext(ctx, kv...)
}
