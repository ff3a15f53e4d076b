package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// ---- errors -----------------------------------------------------------------

// errorJSON is the body of every error answer: {"code":"UNAVAILABLE","message":"..."}.
type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// codeName is the code's name as CONTRACT.md spells it (libaiw's table,
// through the Go package).
func codeName(c aiworker.Code) string { return aiworker.CodeName(c) }

// errorMessage is the service's (or the library's) message without the
// code prefix that Error() may add.
func errorMessage(err error) string {
	var e *aiworker.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorJSON{Code: "INTERNAL", Message: "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorJSON{Code: code, Message: message})
}

// callErrorJSON is the error body of a failed call: its code's name and the
// message.
func callErrorJSON(err error) errorJSON {
	return errorJSON{Code: codeName(aiworker.CodeOf(err)), Message: errorMessage(err)}
}

// writeCallError answers a failed call with the HTTP status of its code
// (CONTRACT.md); success=false from the service is 502 SERVICE_ERROR.
func writeCallError(w http.ResponseWriter, err error) {
	writeJSON(w, aiworker.HTTPStatus(err), callErrorJSON(err))
}

// ---- floats -------------------------------------------------------------------

// encoding/json refuses NaN and ±Inf ("json: unsupported value"), which a
// service may well send (a score it could not compute, an embedding that
// overflowed). The answers encode them as protobuf's JSON mapping does: the
// strings "NaN", "Infinity" and "-Infinity" in place of the number. Finite
// values are written exactly as encoding/json writes a float32.

// jsonFloat is a float32 in an answer.
type jsonFloat float32

func (f jsonFloat) MarshalJSON() ([]byte, error) { return appendFloat32(nil, float32(f)), nil }

// jsonFloats is a []float32 in an answer; nil is written as [].
type jsonFloats []float32

func (v jsonFloats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(v)*10)
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat32(b, f)
	}
	return append(b, ']'), nil
}

// appendFloat32 appends f's JSON form: encoding/json's for a finite float32
// (shortest repr, exponent form below 1e-6 and from 1e21 on), protobuf's
// JSON strings for NaN and the infinities.
func appendFloat32(b []byte, f float32) []byte {
	x := float64(f)
	switch {
	case math.IsNaN(x):
		return append(b, `"NaN"`...)
	case math.IsInf(x, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(x, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := float32(math.Abs(x)); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, x, format, -1, 32)
	if format == 'e' { // e-07 -> e-7, as encoding/json writes it
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// jsonEnum holds the lower-case JSON names of an enum's values; "" and
// "unknown" (any case) always name its UNKNOWN value, 0.
type jsonEnum[E ~int32] map[string]E

// parse looks s up case-insensitively.
func (names jsonEnum[E]) parse(s string) (E, bool) {
	if s == "" || strings.EqualFold(s, "unknown") {
		return 0, true
	}
	e, ok := names[strings.ToLower(s)]
	return e, ok
}

// decodeBody reads the whole body (so that the server notices a client that
// goes away) and decodes it as one JSON value. It answers 400
// INVALID_ARGUMENT (413 for an oversized body, 408 DEADLINE_EXCEEDED for one
// not received within Config.ReadTimeout) and returns false on failure.
func (s *server) decodeBody(w http.ResponseWriter, r *http.Request, v interface{}) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "RESOURCE_EXHAUSTED",
				fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
			return false
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// The server's read deadline (Config.ReadTimeout) passed; it
			// stays, so draining the rest of the body fails at once. Do
			// not wait for another request on this connection either.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestTimeout, "DEADLINE_EXCEEDED",
				fmt.Sprintf("request not received within %s", s.cfg.ReadTimeout))
			return false
		}
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "reading the request body: "+err.Error())
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "empty request body; a JSON object is required")
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

func pathUnescape(s string) (string, error) { return url.PathUnescape(s) }

// ---- health -------------------------------------------------------------------

type healthJSON struct {
	Status       string `json:"status"`
	GRPCEndpoint string `json:"grpc_endpoint"`
	Error        string `json:"error,omitempty"`
	// Connectivity is the channel's state (READY, IDLE, CONNECTING,
	// TRANSIENT_FAILURE, SHUTDOWN); omitted for an AIClient without GetState.
	Connectivity string `json:"connectivity,omitempty"`
	// ServingStatus is servingStatus's; omitted when nothing can be asked.
	ServingStatus string `json:"serving_status,omitempty"`

	// ThinkBank's own health fields (its web UI reads them): available is
	// status == "healthy"; host and port are the AI target's
	// (targetHostPort; port is a string, as ThinkBank's backend sends it);
	// message is for people.
	Available bool   `json:"available"`
	Host      string `json:"host"`
	Port      string `json:"port"`
	Message   string `json:"message"`
}

// ---- embed --------------------------------------------------------------------

type imageJSON struct {
	Data   []byte `json:"data"` // base64 in JSON
	Format string `json:"format"`
}

type embedRequestJSON struct {
	Text  string     `json:"text"`
	Image *imageJSON `json:"image"`
	Type  string     `json:"type"` // "", "semantic", "visual", "both"
}

var embeddingTypes = jsonEnum[aiworker.EmbeddingType]{"semantic": aiworker.EmbeddingType_EMBEDDING_SEMANTIC,
	"visual": aiworker.EmbeddingType_EMBEDDING_VISUAL, "both": aiworker.EmbeddingType_EMBEDDING_BOTH}

func (b *embedRequestJSON) toRequest() (*aiworker.EmbeddingRequest, string) {
	t, ok := embeddingTypes.parse(b.Type)
	if !ok {
		return nil, fmt.Sprintf("type %q: want semantic, visual or both", b.Type)
	}
	req := &aiworker.EmbeddingRequest{Type: t}
	switch {
	case b.Text != "" && b.Image != nil:
		return nil, "give either text or image, not both"
	case b.Image != nil:
		if len(b.Image.Data) == 0 {
			return nil, "image.data (base64) is required"
		}
		req.Content = &aiworker.EmbeddingRequest_Image{
			Image: &aiworker.ImageData{Data: b.Image.Data, Format: b.Image.Format}}
	case b.Text != "":
		req.Content = &aiworker.EmbeddingRequest_Text{Text: b.Text}
	default:
		return nil, "text or image is required"
	}
	return req, ""
}

// embedRules: an embedding answer is the EmbeddingResponse (schema_json.go)
// without its error text (an error is answered as an error instead).
var embedRules = map[string]fieldRule{"error": dropField}

func embedResponseFrom(r *aiworker.EmbeddingResponse) json.RawMessage {
	return appendMessage(nil, r.ProtoReflect(), embedRules)
}

// ---- search -------------------------------------------------------------------

type searchRequestJSON struct {
	Query     string   `json:"query"`
	Type      string   `json:"type"` // "", "semantic", "visual", "hybrid"
	Limit     int32    `json:"limit"`
	Threshold float32  `json:"threshold"`
	Filters   []string `json:"filters"`
}

var searchTypes = jsonEnum[aiworker.SearchType]{"semantic": aiworker.SearchType_SEARCH_SEMANTIC,
	"visual": aiworker.SearchType_SEARCH_VISUAL, "hybrid": aiworker.SearchType_SEARCH_HYBRID}

func (b *searchRequestJSON) toRequest() (*aiworker.SearchRequest, string) {
	t, ok := searchTypes.parse(b.Type)
	switch {
	case !ok:
		return nil, fmt.Sprintf("type %q: want semantic, visual or hybrid", b.Type)
	case b.Query == "":
		return nil, "query is required"
	case b.Limit < 0:
		return nil, "limit must not be negative"
	}
	return &aiworker.SearchRequest{Query: b.Query, Type: t, Limit: b.Limit,
		Threshold: b.Threshold, Filters: b.Filters}, ""
}

// searchResultsFrom: each SearchResult as the schema has it (schema_json.go).
func searchResultsFrom(in []*aiworker.SearchResult) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(in))
	for _, r := range in {
		if r != nil {
			out = append(out, appendMessage(nil, r.ProtoReflect(), nil))
		}
	}
	return out
}

// searchRules: a search answer is the SearchResponse without its in-band
// success and error (a failure is answered as an error instead).
var searchRules = map[string]fieldRule{"success": dropField, "error": dropField}

func searchResponseFrom(r *aiworker.SearchResponse) json.RawMessage {
	return appendMessage(nil, r.ProtoReflect(), searchRules)
}

// ---- process ------------------------------------------------------------------

type processOptionsJSON struct {
	EnableOCR       bool  `json:"enable_ocr"`
	EnableCaption   bool  `json:"enable_caption"`
	EnableEmbedding bool  `json:"enable_embedding"`
	EnableSummary   bool  `json:"enable_summary"`
	MaxChunkSize    int32 `json:"max_chunk_size"`
}

type processRequestJSON struct {
	FilePath string              `json:"file_path"`
	MimeType string              `json:"mime_type"`
	Options  *processOptionsJSON `json:"options"`
}

func (b *processRequestJSON) toRequest(assetID string) (*aiworker.AssetRequest, string) {
	if b.FilePath == "" {
		return nil, "file_path is required"
	}
	if b.MimeType == "" {
		return nil, "mime_type is required"
	}
	req := &aiworker.AssetRequest{AssetId: assetID, FilePath: b.FilePath, MimeType: b.MimeType}
	if o := b.Options; o != nil {
		if o.MaxChunkSize < 0 {
			return nil, "options.max_chunk_size must not be negative"
		}
		req.Options = &aiworker.ProcessingOptions{EnableOcr: o.EnableOCR, EnableCaption: o.EnableCaption,
			EnableEmbedding: o.EnableEmbedding, EnableSummary: o.EnableSummary, MaxChunkSize: o.MaxChunkSize}
	}
	return req, ""
}

// processRules: a process answer is the asset's id (from the path), then
// the ProcessStatus, its error only when there is one.
var processRules = map[string]fieldRule{"error": dropIfZero}

func processResponseFrom(assetID string, r *aiworker.ProcessStatus) json.RawMessage {
	return appendMessage(nil, r.ProtoReflect(), processRules, member("asset_id", assetID))
}

// ---- chat ---------------------------------------------------------------------

type chatMessageJSON struct {
	Role      string `json:"role"`
	Content   string `json:"content"`
	Timestamp int64  `json:"timestamp"`
}

type chatOptionsJSON struct {
	MaxContextDocs      int32   `json:"max_context_docs"`
	SimilarityThreshold float32 `json:"similarity_threshold"`
	IncludeImages       bool    `json:"include_images"`
	StreamResponse      bool    `json:"stream_response"`
}

type chatRequestJSON struct {
	Query   string            `json:"query"`
	History []chatMessageJSON `json:"history"`
	Options *chatOptionsJSON  `json:"options"`
}

func (b *chatRequestJSON) toRequest() (*aiworker.ChatRequest, string) {
	if b.Query == "" {
		return nil, "query is required"
	}
	req := &aiworker.ChatRequest{Query: b.Query}
	for i, m := range b.History {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, fmt.Sprintf("history[%d].role %q: want user or assistant", i, m.Role)
		}
		req.History = append(req.History, &aiworker.ChatMessage{Role: m.Role, Content: m.Content,
			Timestamp: m.Timestamp})
	}
	if o := b.Options; o != nil {
		if o.MaxContextDocs < 0 {
			return nil, "options.max_context_docs must not be negative"
		}
		req.Options = &aiworker.ChatOptions{MaxContextDocs: o.MaxContextDocs,
			SimilarityThreshold: o.SimilarityThreshold, IncludeImages: o.IncludeImages,
			StreamResponse: o.StreamResponse}
	}
	return req, ""
}

// chatChunkJSON is one streamed message; the final one carries is_final and
// sources (always present, possibly empty, on the final message).
type chatChunkJSON struct {
	Chunk string `json:"chunk"`
}

type chatFinalJSON struct {
	Chunk   string            `json:"chunk"`
	IsFinal bool              `json:"is_final"`
	Sources []json.RawMessage `json:"sources"`
}
