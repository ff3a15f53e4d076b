package aiworker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestGetEmbeddingText(t *testing.T) {
	c := dial(t)
	resp, err := c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.Error != "" || resp.VisualVector != nil {
		t.Errorf("success=%v error=%q visual=%d", resp.Success, resp.Error, len(resp.VisualVector))
	}
	// tests/refservice/README.md check values.
	if v := resp.GetSemanticVector(); len(v) < 3 || v[0] != float32(-0.61) || v[1] != float32(0.0621) || v[2] != float32(-0.361) {
		t.Errorf("semantic[0..2] = %v", v[:3])
	}
	sameVector(t, "semantic", resp.SemanticVector, refVector([]byte("hello"), false))
}

func TestGetEmbeddingTypes(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	text := "The quick brown fox — ünïcödé"
	for _, tc := range []struct {
		typ      EmbeddingType
		sem, vis bool
	}{
		{EmbeddingType_EMBEDDING_UNKNOWN, true, false},
		{EmbeddingType_EMBEDDING_SEMANTIC, true, false},
		{EmbeddingType_EMBEDDING_VISUAL, false, true},
		{EmbeddingType_EMBEDDING_BOTH, true, true},
	} {
		resp, err := c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: text}, Type: tc.typ})
		if err != nil {
			t.Fatalf("%v: %v", tc.typ, err)
		}
		if tc.sem {
			sameVector(t, tc.typ.String()+" semantic", resp.SemanticVector, refVector([]byte(text), false))
		} else if resp.SemanticVector != nil {
			t.Errorf("%v: unexpected semantic vector", tc.typ)
		}
		if tc.vis {
			sameVector(t, tc.typ.String()+" visual", resp.VisualVector, refVector([]byte(text), true))
		} else if resp.VisualVector != nil {
			t.Errorf("%v: unexpected visual vector", tc.typ)
		}
	}
}

func TestGetEmbeddingImage(t *testing.T) {
	c := dial(t)
	data := []byte{0x61, 0x00, 0x62} // bytes with a NUL pass through
	resp, err := c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Image{Image: &ImageData{Data: data, Format: "png"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.SemanticVector != nil {
		t.Errorf("image UNKNOWN type gave a semantic vector")
	}
	if v := resp.VisualVector; len(v) < 2 || v[0] != float32(0.7972) || v[1] != float32(-0.5341) {
		t.Errorf("visual[0..1] = %v", v[:2])
	}
	sameVector(t, "visual", resp.VisualVector, refVector(data, true))
	resp, err = c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Image{Image: &ImageData{Data: data}}, Type: EmbeddingType_EMBEDDING_BOTH})
	if err != nil {
		t.Fatal(err)
	}
	sameVector(t, "both/semantic", resp.SemanticVector, refVector(data, false))
	sameVector(t, "both/visual", resp.VisualVector, refVector(data, true))
	// An empty image is still the image case.
	resp, err = c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Image{Image: &ImageData{}}})
	if err != nil {
		t.Fatal(err)
	}
	sameVector(t, "empty image", resp.VisualVector, refVector(nil, true))
}

func TestGetEmbeddingServiceError(t *testing.T) {
	c := dial(t)
	resp, err := c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Image{Image: &ImageData{Data: []byte("x"), Format: "bmp"}}})
	if CodeOf(err) != ServiceError || HTTPStatus(err) != 502 {
		t.Fatalf("err = %v (code %v, http %d), want ServiceError/502", err, CodeOf(err), HTTPStatus(err))
	}
	if resp == nil || resp.Success || resp.Error != "unsupported image format: bmp" {
		t.Fatalf("resp = %+v", resp)
	}
	var e *Error
	if !errors.As(err, &e) || e.Message != "unsupported image format: bmp" {
		t.Errorf("error message %q", e.Message)
	}
	resp, err = c.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "!fail:no model loaded"}})
	if CodeOf(err) != ServiceError || resp == nil || resp.Error != "no model loaded" || resp.SemanticVector != nil {
		t.Fatalf("!fail: resp=%+v err=%v", resp, err)
	}
	if err.Error() != "rpc error: code = ServiceError desc = no model loaded" {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestInvalidArguments(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	check := func(what string, err error) {
		t.Helper()
		if CodeOf(err) != InvalidArgument || HTTPStatus(err) != 400 {
			t.Errorf("%s: err = %v, want InvalidArgument/400", what, err)
		}
	}
	_, err := c.GetEmbedding(ctx, &EmbeddingRequest{})
	check("no content", err)
	_, err = c.GetEmbedding(ctx, nil)
	check("nil request", err)
	_, err = c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "a\xffb"}})
	check("invalid UTF-8", err)
	_, err = c.VectorSearch(ctx, &SearchRequest{Query: "q", Limit: -1})
	check("negative limit", err)
	_, err = c.VectorSearch(ctx, &SearchRequest{Query: "q", Filters: []string{"ok", "bad\xff"}})
	check("invalid UTF-8 in filter", err)
	_, err = c.VectorSearch(ctx, nil)
	check("nil search", err)
	_, err = c.VectorSearch(ctx, &SearchRequest{})
	check("empty query", err)
	_, err = c.ProcessAsset(ctx, &AssetRequest{AssetId: "a", FilePath: "b"})
	check("missing mime type", err)
	_, err = c.ProcessAsset(ctx, nil)
	check("nil asset", err)
	err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "q", History: []*ChatMessage{{Role: "user", Content: "x\xfe"}}},
		func(*ChatResponse) error { return nil })
	check("invalid UTF-8 in history", err)
	err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "q"}, nil)
	check("nil func", err)
	_, err = c.ChatStream(ctx, nil)
	check("nil chat", err)
	_, err = c.ChatStream(ctx, &ChatRequest{})
	check("empty chat query", err)
	_, err = c.VectorSearch(AppendToOutgoingContext(ctx, "Bad Key", "v"), &SearchRequest{Query: "q"})
	check("bad metadata key", err)
	_, err = c.VectorSearch(AppendToOutgoingContext(ctx, "k", "bad\nvalue"), &SearchRequest{Query: "q"})
	check("bad metadata value", err)
	_, err = c.VectorSearch(AppendToOutgoingContext(ctx, "k", "a\x00"), &SearchRequest{Query: "q"})
	check("NUL in metadata value", err)
	_, err = Dial("127.0.0.1:1\x00")
	check("NUL in target", err)
}

// Strings may contain NUL bytes (proto3 allows them): they are sent as they
// are, and the reference service's !echo shows they arrived intact.
func TestNULBytesAreSent(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	resp, err := c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "a\x00b"}})
	if err != nil {
		t.Fatalf("NUL in text: %v", err)
	}
	// tests/refservice/README.md check values for the bytes 61 00 62.
	if v := resp.GetSemanticVector(); len(v) < 3 || v[0] != float32(-0.8746) || v[1] != float32(0.1506) || v[2] != float32(-0.6948) {
		t.Errorf("semantic[0..2] of \"a\\x00b\" = %v", v[:3])
	}
	sameVector(t, "semantic", resp.GetSemanticVector(), refVector([]byte("a\x00b"), false))

	sr, err := c.VectorSearch(ctx, &SearchRequest{Query: "!echo", Filters: []string{"ok", "bad\x00", "\x00"}})
	if err != nil {
		t.Fatalf("NUL in a filter: %v", err)
	}
	if got := sr.GetResults()[0].GetMetadata()["filters"]; got != "ok|bad\x00|\x00" {
		t.Errorf("filters echoed as %q", got)
	}

	var chunks []string
	err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "!echo", History: []*ChatMessage{{Role: "us\x00er", Content: "x\x00", Timestamp: 3}}},
		func(m *ChatResponse) error { chunks = append(chunks, m.GetChunk()); return nil })
	if err != nil {
		t.Fatalf("NUL in history: %v", err)
	}
	if len(chunks) != 2 || chunks[0] != "us\x00er|x\x00|3\n" {
		t.Errorf("history echoed as %q", chunks)
	}

	st, err := c.ProcessAsset(ctx, &AssetRequest{AssetId: "!echo", FilePath: "p\x00q", MimeType: "\x00"})
	if err != nil {
		t.Fatalf("NUL in an asset request: %v", err)
	}
	if want := "asset_id=!echo;file_path=p\x00q;mime_type=\x00;ocr=0;caption=0;embedding=0;summary=0;max_chunk_size=0;options=0"; st.GetError() != want {
		t.Errorf("asset echoed as %q, want %q", st.GetError(), want)
	}

	// A chat query with a NUL reaches the service too: the answer quotes it.
	var sb strings.Builder
	err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "q\x00r"}, func(m *ChatResponse) error { sb.WriteString(m.GetChunk()); return nil })
	if err != nil || sb.String() != fmt.Sprintf(chatAnswer, "q\x00r") {
		t.Errorf("NUL in the chat query: %q, %v", sb.String(), err)
	}

	// Enums are open in proto3: a value the .proto does not name is sent
	// as it is (the service knows no such type and answers with no vector).
	resp, err = c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "a"}, Type: 7})
	if err != nil || !resp.GetSuccess() || resp.GetSemanticVector() != nil || resp.GetVisualVector() != nil {
		t.Errorf("type 7: %v, %v", resp, err)
	}
}

func TestVectorSearch(t *testing.T) {
	c := dial(t)
	resp, err := c.VectorSearch(context.Background(), &SearchRequest{Query: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.TotalCount != 12 || len(resp.Results) != 10 {
		t.Fatalf("success=%v total=%d results=%d", resp.Success, resp.TotalCount, len(resp.Results))
	}
	r := resp.Results[0]
	if r.AssetId != "doc-001" || r.Score != float32(0.95) || r.Caption != "Quarterly report 2024 Q1" ||
		r.MimeType != "application/pdf" || r.ThumbnailUrl != "https://thumbs.example.com/doc-001.jpg" ||
		len(r.Metadata) != 3 || r.Metadata["owner"] != "alice" || r.Metadata["year"] != "2024" || r.Metadata["kind"] != "report" {
		t.Errorf("first result %+v", r)
	}
	if got := resp.Results[7]; got.AssetId != "img-008" || got.Caption != "Scanned receipt, café Mühle" {
		t.Errorf("result 8: %+v", got)
	}
	if resp.Results[9].AssetId != "img-010" {
		t.Errorf("last result %s", resp.Results[9].AssetId)
	}

	resp, err = c.VectorSearch(context.Background(), &SearchRequest{
		Query: "q", Type: SearchType_SEARCH_VISUAL, Threshold: 0.8, Limit: 2, Filters: []string{"image/"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.TotalCount != 4 || len(resp.Results) != 2 || resp.Results[0].AssetId != "img-002" ||
		resp.Results[0].Score != float32(0.97) || resp.Results[1].AssetId != "img-004" {
		t.Errorf("visual search: total=%d results=%v", resp.TotalCount, resp.Results)
	}
	resp, err = c.VectorSearch(context.Background(), &SearchRequest{
		Query: "q", Type: SearchType_SEARCH_SEMANTIC, Filters: []string{"owner=alice"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range resp.GetResults() {
		ids = append(ids, r.GetAssetId())
	}
	if strings.Join(ids, ",") != "doc-001,doc-003,img-006" {
		t.Errorf("owner=alice: %v", ids)
	}
}

func TestVectorSearchEcho(t *testing.T) {
	c := dial(t)
	ctx := AppendToOutgoingContext(context.Background(), "X-Custom", "v1", "trace-bin", "\x00\x01\xff")
	ctx = AppendToOutgoingContext(ctx, "x-custom", "v2")
	resp, err := c.VectorSearch(ctx, &SearchRequest{
		Query: "!echo", Type: SearchType_SEARCH_HYBRID, Limit: 7, Threshold: 0.25, Filters: []string{"a=b", "image/"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.TotalCount != 1 || len(resp.Results) != 1 {
		t.Fatalf("echo: %+v", resp)
	}
	r := resp.Results[0]
	want := map[string]string{
		"query": "!echo", "type": "SEARCH_HYBRID", "limit": "7", "threshold": "0.25", "filters": "a=b|image/",
		"md:x-custom": "v1,v2", "md:trace-bin": "AAH/",
	}
	if r.AssetId != "echo" || r.Score != 0.25 || r.Caption != "!echo" || r.MimeType != "SEARCH_HYBRID" || r.ThumbnailUrl != "" {
		t.Errorf("echo result %+v", r)
	}
	for k, v := range want {
		if r.Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q", k, r.Metadata[k], v)
		}
	}
	if !strings.Contains(r.Metadata["md:user-agent"], "grpc") {
		t.Errorf("md:user-agent = %q", r.Metadata["md:user-agent"])
	}
}

func TestVectorSearchBigAnswer(t *testing.T) {
	// Larger than the pooled answer buffer: the malloc'd overflow path, twice
	// (the second time the grown pooled buffer).
	c := dial(t)
	for i := 0; i < 3; i++ {
		resp, err := c.VectorSearch(context.Background(), &SearchRequest{Query: "!big:300000"})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) != 1 || len(resp.Results[0].Caption) != 300000 ||
			strings.Trim(resp.Results[0].Caption, "x") != "" || resp.Results[0].AssetId != "big" {
			t.Fatalf("big: %d results", len(resp.Results))
		}
	}
	small := dial(t, WithMaxRecvMsgSize(1024))
	_, err := small.VectorSearch(context.Background(), &SearchRequest{Query: "!big:5000"})
	if CodeOf(err) != ResourceExhausted || HTTPStatus(err) != 429 {
		t.Errorf("over max receive size: %v", err)
	}
	sendLimited := dial(t, WithMaxSendMsgSize(100))
	_, err = sendLimited.VectorSearch(context.Background(), &SearchRequest{Query: strings.Repeat("q", 200)})
	if CodeOf(err) != ResourceExhausted {
		t.Errorf("over max send size: %v", err)
	}
}

func TestProcessAsset(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	st, err := c.ProcessAsset(ctx, &AssetRequest{AssetId: "a1", FilePath: "bucket/obj.png", MimeType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Success || st.Stage != ProcessingStage_STAGE_COMPLETED || st.Progress != 1.0 || st.Error != "" {
		t.Errorf("status %+v", st)
	}
	if st.GetStage().String() != "STAGE_COMPLETED" {
		t.Errorf("stage name %q", st.GetStage().String())
	}
	st, err = c.ProcessAsset(ctx, &AssetRequest{AssetId: "!echo", FilePath: "b/ü.pdf", MimeType: "application/pdf",
		Options: &ProcessingOptions{EnableOcr: true, EnableSummary: true, MaxChunkSize: 512}})
	if err != nil {
		t.Fatal(err)
	}
	want := "asset_id=!echo;file_path=b/ü.pdf;mime_type=application/pdf;ocr=1;caption=0;embedding=0;summary=1;max_chunk_size=512;options=1"
	if st.Error != want || st.Stage != ProcessingStage_STAGE_PROCESSING || st.Progress != 0.5 || !st.Success {
		t.Errorf("echo: %+v\nwant error %q", st, want)
	}
	st, err = c.ProcessAsset(ctx, &AssetRequest{AssetId: "!echo", FilePath: "p", MimeType: "m",
		Options: &ProcessingOptions{EnableCaption: true, EnableEmbedding: true}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "asset_id=!echo;file_path=p;mime_type=m;ocr=0;caption=1;embedding=1;summary=0;max_chunk_size=0;options=1"; st.Error != want {
		t.Errorf("echo: %q, want %q", st.Error, want)
	}
	st, err = c.ProcessAsset(ctx, &AssetRequest{AssetId: "!echo", FilePath: "p", MimeType: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(st.Error, ";options=0") {
		t.Errorf("no options: %q", st.Error)
	}
	st, err = c.ProcessAsset(ctx, &AssetRequest{AssetId: "!fail:disk full", FilePath: "p", MimeType: "m"})
	if CodeOf(err) != ServiceError || HTTPStatus(err) != 502 || st == nil || st.Success ||
		st.Error != "disk full" || st.Stage != ProcessingStage_STAGE_FAILED {
		t.Errorf("!fail: %+v, %v", st, err)
	}
}

func TestVectorSearchServiceError(t *testing.T) {
	c := dial(t)
	resp, err := c.VectorSearch(context.Background(), &SearchRequest{Query: "!fail:index offline"})
	if CodeOf(err) != ServiceError || HTTPStatus(err) != 502 || resp == nil || resp.Success ||
		resp.Error != "index offline" || resp.TotalCount != 0 || len(resp.Results) != 0 {
		t.Errorf("!fail: %+v, %v", resp, err)
	}
}

var codeTable = []struct {
	code Code
	name string // CONTRACT.md
	http int
}{
	{Canceled, "CANCELLED", 499}, {Unknown, "UNKNOWN", 500}, {InvalidArgument, "INVALID_ARGUMENT", 400},
	{DeadlineExceeded, "DEADLINE_EXCEEDED", 504}, {NotFound, "NOT_FOUND", 404},
	{AlreadyExists, "ALREADY_EXISTS", 409}, {PermissionDenied, "PERMISSION_DENIED", 403},
	{ResourceExhausted, "RESOURCE_EXHAUSTED", 429}, {FailedPrecondition, "FAILED_PRECONDITION", 400},
	{Aborted, "ABORTED", 409}, {OutOfRange, "OUT_OF_RANGE", 400}, {Unimplemented, "UNIMPLEMENTED", 501},
	{Internal, "INTERNAL", 500}, {Unavailable, "UNAVAILABLE", 503}, {DataLoss, "DATA_LOSS", 500},
	{Unauthenticated, "UNAUTHENTICATED", 401},
}

func TestStatusErrors(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	for _, tc := range codeTable {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			msg := "boom: " + tc.name + " ü"
			directive := "!error:" + tc.name + ":" + msg
			check := func(rpc string, err error) {
				t.Helper()
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.code || e.Message != msg || HTTPStatus(err) != tc.http {
					t.Errorf("%s: err = %v, want code %v message %q HTTP %d", rpc, err, tc.code, msg, tc.http)
				}
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: a server status must not match a context error", rpc)
				}
			}
			r1, err := c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: directive}})
			check("GetEmbedding", err)
			r2, err := c.VectorSearch(ctx, &SearchRequest{Query: directive})
			check("VectorSearch", err)
			r3, err := c.ProcessAsset(ctx, &AssetRequest{AssetId: directive, FilePath: "p", MimeType: "m"})
			check("ProcessAsset", err)
			if r1 != nil || r2 != nil || r3 != nil {
				t.Errorf("a response came with a status error")
			}
			n := 0
			err = c.ChatStreamFunc(ctx, &ChatRequest{Query: directive}, func(*ChatResponse) error { n++; return nil })
			check("ChatStreamFunc", err)
			if n != 0 {
				t.Errorf("ChatStreamFunc: %d messages before the error", n)
			}
			var got []string
			err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "!error-after:3:" + tc.name + ":" + msg},
				func(m *ChatResponse) error { got = append(got, m.Chunk); return nil })
			check("ChatStreamFunc error-after", err)
			if strings.Join(got, "") != "chunk-0 chunk-1 chunk-2 " {
				t.Errorf("chunks before the error: %q", got)
			}
			s, err := c.ChatStream(ctx, &ChatRequest{Query: "!error-after:1:" + tc.name + ":" + msg})
			if err != nil {
				t.Fatal(err)
			}
			if m, err := s.Recv(); err != nil || m.Chunk != "chunk-0 " {
				t.Errorf("Recv: %v, %v", m, err)
			}
			_, err = s.Recv()
			check("ChatStream.Recv", err)
			_, err2 := s.Recv()
			if err2 != err {
				t.Errorf("Recv after the error: %v", err2)
			}
		})
	}
}

func TestCodes(t *testing.T) {
	if CodeOf(nil) != OK || HTTPStatus(nil) != 200 || OK.String() != "OK" {
		t.Errorf("nil error")
	}
	names := []string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
		"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
		"OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated", "ServiceError"}
	for i, n := range names {
		if Code(i).String() != n {
			t.Errorf("Code(%d).String() = %q, want %q", i, Code(i).String(), n)
		}
	}
	if CodeName(Canceled) != "CANCELLED" || CodeName(DeadlineExceeded) != "DEADLINE_EXCEEDED" ||
		CodeName(ServiceError) != "SERVICE_ERROR" || CodeName(99) != "UNKNOWN" {
		t.Errorf("CodeName: %s %s %s %s", CodeName(Canceled), CodeName(DeadlineExceeded), CodeName(ServiceError), CodeName(99))
	}
	if Code(99).String() != "Code(99)" || Code(99).HTTPStatus() != 500 {
		t.Errorf("Code(99): %q %d", Code(99).String(), Code(99).HTTPStatus())
	}
	for _, tc := range codeTable {
		if tc.code.HTTPStatus() != tc.http || HTTPStatus(&Error{Code: tc.code}) != tc.http {
			t.Errorf("%v: HTTP %d, want %d", tc.code, tc.code.HTTPStatus(), tc.http)
		}
	}
	if HTTPStatus(&Error{Code: ServiceError}) != 502 {
		t.Errorf("ServiceError is not 502")
	}
	plain := errors.New("plain")
	if CodeOf(plain) != Unknown || HTTPStatus(plain) != 500 {
		t.Errorf("non-*Error: %v %d", CodeOf(plain), HTTPStatus(plain))
	}
	wrapped := fmt.Errorf("handler: %w", Errorf(NotFound, "x"))
	if CodeOf(wrapped) != NotFound {
		t.Errorf("wrapped *Error: %v", CodeOf(wrapped))
	}
	e := Errorf(NotFound, "no %s", "asset")
	if e.Error() != "rpc error: code = NotFound desc = no asset" {
		t.Errorf("Error() = %q", e.Error())
	}
	if !errors.Is(e, &Error{Code: NotFound, Message: "no asset"}) || errors.Is(e, &Error{Code: NotFound}) {
		t.Errorf("Is by code and message")
	}
	for _, s := range []string{ProcessingStage_STAGE_FAILED.String(), EmbeddingType_EMBEDDING_BOTH.String(),
		SearchType_SEARCH_HYBRID.String(), SearchType(9).String()} {
		if s == "" {
			t.Errorf("empty enum name")
		}
	}
	if SearchType(9).String() != "9" || EmbeddingType_EMBEDDING_VISUAL.String() != "EMBEDDING_VISUAL" {
		t.Errorf("enum String")
	}
}

func TestUnaryDeadline(t *testing.T) {
	noLeak(t)
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	ctx, id := withID(ctx, t)
	start := time.Now()
	_, err := c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "!slow:5000"}})
	if CodeOf(err) != DeadlineExceeded || HTTPStatus(err) != 504 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("deadline took %v", el)
	}
	if e := waitEvent(t, id); e.Outcome != "CANCELLED" {
		t.Errorf("server outcome %q", e.Outcome)
	}
	// A context already past its deadline fails before C.
	_, err = c.VectorSearch(ctx, &SearchRequest{Query: "q"})
	if CodeOf(err) != DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired ctx: %v", err)
	}
}

func TestDefaultTimeout(t *testing.T) {
	c := dial(t, WithTimeout(150*time.Millisecond))
	start := time.Now()
	_, err := c.ProcessAsset(context.Background(), &AssetRequest{AssetId: "!slow:5000", FilePath: "p", MimeType: "m"})
	if CodeOf(err) != DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v (the context did not end it, so no context error)", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("timeout took %v", el)
	}
	// A context deadline takes precedence over the default.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.ProcessAsset(ctx, &AssetRequest{AssetId: "!slow:400", FilePath: "p", MimeType: "m"}); err != nil {
		t.Errorf("ctx deadline should override the default timeout: %v", err)
	}
}

func TestUnaryCancel(t *testing.T) {
	noLeak(t)
	c := dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	ctx, id := withID(ctx, t)
	timer := time.AfterFunc(100*time.Millisecond, cancel)
	defer timer.Stop()
	start := time.Now()
	_, err := c.VectorSearch(ctx, &SearchRequest{Query: "!slow:5000"})
	if CodeOf(err) != Canceled || HTTPStatus(err) != 499 || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("cancel took %v", el)
	}
	if e := waitEvent(t, id); e.Outcome != "CANCELLED" {
		t.Errorf("server outcome %q", e.Outcome)
	}
	// Already cancelled: no RPC at all.
	ctx2, id2 := withID(ctx, t)
	_, err = c.GetEmbedding(ctx2, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "x"}})
	if CodeOf(err) != Canceled || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	if _, err := c.VectorSearch(context.Background(), &SearchRequest{Query: "q"}); err != nil {
		t.Fatal(err)
	}
	data := readEvents()
	if strings.Contains(data, id2) {
		t.Errorf("a call with a cancelled context reached the server")
	}
	// The token pool stays healthy: cancellable calls after a cancel work.
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "again"}}); err != nil {
			t.Fatalf("call %d after a cancel: %v", i, err)
		}
		cancel()
	}
}

func TestUnavailable(t *testing.T) {
	// A port nothing listens on: fail fast.
	bad, err := Dial("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = bad.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "x"}})
	if CodeOf(err) != Unavailable || HTTPStatus(err) != 503 {
		t.Errorf("no server: %v", err)
	}
	// Wait-for-ready waits until the deadline instead.
	wfr, err := Dial("127.0.0.1:1", WithWaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	defer wfr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = wfr.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "x"}})
	if CodeOf(err) != DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait for ready: %v (want DeadlineExceeded, not a fail-fast Unavailable)", err)
	}
	if _, err := Dial(""); CodeOf(err) != InvalidArgument {
		t.Errorf("empty target: %v", err)
	}
	if _, err := Dial(target, WithMaxRecvMsgSize(-1)); CodeOf(err) != InvalidArgument {
		t.Errorf("negative size: %v", err)
	}
}

// deadlineOnlyCtx has a deadline but a Done channel that never closes: only
// libaiw's own deadline (from ctx.Deadline) can end a call made with it, so
// the error comes down the deadline_expired path, not the ctx-cancel one.
type deadlineOnlyCtx struct {
	context.Context
	d time.Time
}

func (c deadlineOnlyCtx) Deadline() (time.Time, bool) { return c.d, true }

// A DEADLINE_EXCEEDED the service answers with on its own -- while the ctx
// has time left, or has no deadline at all -- is the service's: its message
// is kept and it does not match context.DeadlineExceeded. One caused by the
// ctx's deadline firing does, for unary calls and streams alike.
func TestDeadlineExceededOrigin(t *testing.T) {
	noLeak(t)
	c := dial(t)
	const msg = "upstream model timed out"
	directive := "!error:DEADLINE_EXCEEDED:" + msg
	server := func(what string, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) || e.Code != DeadlineExceeded || e.Message != msg || HTTPStatus(err) != 504 {
			t.Errorf("%s: err = %v, want DeadlineExceeded %q", what, err, msg)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("%s: the service's DEADLINE_EXCEEDED matches a context error: %v", what, err)
		}
	}
	long, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ctx := range []context.Context{long, context.Background(), deadlineOnlyCtx{context.Background(), time.Now().Add(time.Minute)}} {
		_, err := c.GetEmbedding(ctx, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: directive}})
		server("GetEmbedding", err)
		_, err = c.VectorSearch(ctx, &SearchRequest{Query: directive})
		server("VectorSearch", err)
		_, err = c.ProcessAsset(ctx, &AssetRequest{AssetId: directive, FilePath: "p", MimeType: "m"})
		server("ProcessAsset", err)
		err = c.ChatStreamFunc(ctx, &ChatRequest{Query: directive}, func(*ChatResponse) error { return nil })
		server("ChatStreamFunc", err)
		s, err := c.ChatStream(ctx, &ChatRequest{Query: "!error-after:2:DEADLINE_EXCEEDED:" + msg})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; ; n++ {
			if _, err = s.Recv(); err != nil {
				break
			}
		}
		server("ChatStream.Recv", err)
		if n != 2 {
			t.Errorf("%d messages before the error", n)
		}
	}
	// The client's default timeout is not the ctx's either.
	dt := dial(t, WithTimeout(30*time.Second))
	_, err := dt.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: directive}})
	server("GetEmbedding, default timeout", err)

	fromCtx := func(what string, err error) {
		t.Helper()
		if CodeOf(err) != DeadlineExceeded || HTTPStatus(err) != 504 || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v, want the ctx's DeadlineExceeded", what, err)
		}
		if e, ok := err.(*Error); ok && e.Message == msg {
			t.Errorf("%s: a deadline that fired has the service's message", what)
		}
	}
	// A ctx deadline that fires (the ctx's Done and libaiw's deadline race).
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	_, err = c.GetEmbedding(short, &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "!slow:5000"}})
	fromCtx("GetEmbedding, ctx deadline", err)
	short, cancel3 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel3()
	err = c.ChatStreamFunc(short, &ChatRequest{Query: "!slow:5000"}, func(*ChatResponse) error { return nil })
	fromCtx("ChatStreamFunc, ctx deadline", err)
	// Only libaiw's deadline, taken from ctx.Deadline, can fire here: libaiw
	// says so (aiw_completion_deadline_expired), so it is the ctx's.
	for _, unary := range []bool{true, false} {
		ctx := deadlineOnlyCtx{context.Background(), time.Now().Add(200 * time.Millisecond)}
		start := time.Now()
		if unary {
			_, err = c.VectorSearch(ctx, &SearchRequest{Query: "!slow:5000"})
			fromCtx("VectorSearch, libaiw's deadline from ctx", err)
		} else {
			err = c.ChatStreamFunc(ctx, &ChatRequest{Query: "!slow:5000"}, func(*ChatResponse) error { return nil })
			fromCtx("ChatStreamFunc, libaiw's deadline from ctx", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("the deadline took %v", el)
		}
	}
	// And the default timeout firing is DeadlineExceeded, not the ctx's.
	dt2 := dial(t, WithTimeout(200*time.Millisecond))
	_, err = dt2.GetEmbedding(context.Background(), &EmbeddingRequest{Content: &EmbeddingRequest_Text{Text: "!slow:5000"}})
	if CodeOf(err) != DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("default timeout: %v", err)
	}
}
