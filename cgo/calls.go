package aiworker

/*
#include <stdlib.h>
#include "aiwgo.h"
*/
import "C"

import (
	"context"
	"strings"
	"sync"
	"unsafe"
)

// callBuf holds everything one call passes to C: the request arena, the
// list items and the fixed request descriptors; for a unary call also the
// channel its completion arrives on and the C block holding the answer.
// Pooled; none of the C-visible parts holds a Go pointer.
type callBuf struct {
	arena []byte
	items []C.aiwgo_item
	bad   string // the first field that cannot be represented

	ch    chan C.aiwgo_event // 1-buffered; the poller sends the call's completion
	block unsafe.Pointer     // C block of the completion (owner frees it through its poller)
	owner *Client

	cs *cState // a separate allocation: passed to C as plain pointers
}

// cState is the C-layout part of a callBuf. It holds no Go pointer, so cgo's
// pointer check of a plain pointer into it is cheap (an argument written
// &b.x.f would make cgo box -- copy -- the field on every call).
type cState struct {
	res    C.aiwgo_result
	emb    C.aiwgo_embedding_req
	search C.aiwgo_search_req
	asset  C.aiwgo_asset_req
	chat   C.aiwgo_chat_req
}

const arenaMax = 1 << 20 // arenas larger than this are not kept pooled

var bufPool = sync.Pool{New: func() interface{} {
	return &callBuf{arena: make([]byte, 0, 1024), ch: make(chan C.aiwgo_event, 1), cs: new(cState)}
}}

func getBuf() *callBuf {
	b := bufPool.Get().(*callBuf)
	b.arena = append(b.arena[:0], 0) // offset 0 is an empty string
	b.items = b.items[:0]
	b.bad = ""
	return b
}

// putBuf returns b to the pool; the answer's C block (already decoded) goes
// to its client's poller to be freed on its next transition.
func putBuf(b *callBuf) {
	if b.block != nil {
		b.owner.freeLater(b.block)
		b.block, b.owner = nil, nil
	}
	if cap(b.arena) > arenaMax {
		b.arena = make([]byte, 0, 1024)
	}
	bufPool.Put(b)
}

// str appends s and a NUL to the arena. protobuf-c strings end at a NUL, so
// a string containing one cannot be sent: the call fails with
// InvalidArgument naming the field.
func (b *callBuf) str(field, s string) C.aiwgo_span {
	if s == "" {
		return C.aiwgo_span{}
	}
	if strings.IndexByte(s, 0) >= 0 && b.bad == "" {
		b.bad = field
	}
	off := len(b.arena)
	b.arena = append(b.arena, s...)
	b.arena = append(b.arena, 0)
	return C.aiwgo_span{off: C.uint32_t(off), len: C.uint32_t(len(s))}
}

func (b *callBuf) bytes(p []byte) C.aiwgo_span {
	off := len(b.arena)
	b.arena = append(b.arena, p...)
	b.arena = append(b.arena, 0)
	return C.aiwgo_span{off: C.uint32_t(off), len: C.uint32_t(len(p))}
}

func (b *callBuf) raw(s string) C.aiwgo_span {
	off := len(b.arena)
	b.arena = append(b.arena, s...)
	b.arena = append(b.arena, 0)
	return C.aiwgo_span{off: C.uint32_t(off), len: C.uint32_t(len(s))}
}

// metadata adds ctx's request metadata as the first items.
func (b *callBuf) metadata(ctx context.Context, call *C.aiwgo_call) {
	md := outgoingMetadata(ctx)
	for i := 0; i+1 < len(md); i += 2 {
		it := C.aiwgo_item{a: b.str("metadata key", md[i])}
		if strings.HasSuffix(md[i], "-bin") {
			it.b = b.raw(md[i+1])
			it.n = 1
		} else {
			it.b = b.str("metadata value", md[i+1])
		}
		b.items = append(b.items, it)
	}
	call.metadata_count = C.uint32_t(len(md) / 2)
}

// check reports a request that cannot be passed to C.
func (b *callBuf) check() error {
	if b.bad != "" {
		return Errorf(InvalidArgument, "aiworker: %s contains a NUL byte", b.bad)
	}
	if uint64(len(b.arena)) > 0xffffffff {
		return Errorf(ResourceExhausted, "aiworker: request too large")
	}
	return nil
}

func (b *callBuf) arenaPtr() *C.char { return (*C.char)(unsafe.Pointer(&b.arena[0])) }

func (b *callBuf) itemsPtr() *C.aiwgo_item {
	if len(b.items) == 0 {
		return nil
	}
	return &b.items[0]
}

type rpcKind int

const (
	rpcEmbedding rpcKind = iota
	rpcSearch
	rpcAsset
)

// invoke makes the unary call prepared in b: one cgo transition starts it on
// the client's queue, the client's poller delivers its completion on b.ch
// (a cancelled ctx costs one more transition, cancelling the call's token).
// On nil error or a ServiceError, data is the flattened answer (valid until
// putBuf).
func (c *Client) invoke(ctx context.Context, b *callBuf, kind rpcKind, call *C.aiwgo_call) (data []byte, err error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	timeout, err := c.timeoutMS(ctx, true)
	if err != nil {
		return nil, err
	}
	if !c.acquire() {
		return nil, ErrClientClosed
	}
	defer c.calls.Done()
	done := ctx.Done()
	call.token = nil
	if done != nil {
		if call.token, err = getToken(); err != nil {
			return nil, err
		}
	}
	call.timeout_ms = C.int64_t(timeout)
	call.wait_for_ready = 0
	if c.opts.waitForReady {
		call.wait_for_ready = 1
	}
	tag := c.addWaiter(b)
	cs := b.cs
	errp := &cs.res.err
	var rc C.aiw_code
	switch kind {
	case rpcEmbedding:
		req := &cs.emb
		rc = C.aiwgo_get_embedding_start(c.c, c.q, tag, req, b.arenaPtr(), b.itemsPtr(), errp)
	case rpcSearch:
		req := &cs.search
		rc = C.aiwgo_vector_search_start(c.c, c.q, tag, req, b.arenaPtr(), b.itemsPtr(), errp)
	case rpcAsset:
		req := &cs.asset
		rc = C.aiwgo_process_asset_start(c.c, c.q, tag, req, b.arenaPtr(), b.itemsPtr(), errp)
	}
	if rc != C.AIW_OK {
		c.dropWaiter(tag)
		if call.token != nil {
			putToken(call.token)
		}
		return nil, c.callError(ctx, rc, &b.cs.res.err)
	}
	var ev C.aiwgo_event
	if c.started(done == nil) {
		c.lead(b)
		ev = <-b.ch
	} else if done == nil {
		ev = <-b.ch
	} else {
		select {
		case ev = <-b.ch:
		case <-done:
			C.aiw_cancel_token_cancel(call.token)
			ev = <-b.ch
			C.aiw_cancel_token_reset(call.token) // pooled tokens are clean
		}
		putToken(call.token)
	}
	if ev.block != nil {
		b.block, b.owner = unsafe.Pointer(ev.block), c
	}
	return eventResult(ctx, c, &ev)
}

// eventResult maps a completion onto invoke's results.
func eventResult(ctx context.Context, c *Client, ev *C.aiwgo_event) ([]byte, error) {
	rc := C.aiw_code(ev.code)
	var data []byte
	msg := ""
	if ev.block != nil {
		all := unsafe.Slice((*byte)(unsafe.Pointer(ev.block)), int(ev.len)+int(ev.msg_len))
		data = all[:ev.len:ev.len]
		msg = string(all[ev.len:])
	} else if rc == C.AIW_OUT_OF_MEMORY {
		msg = "out of memory"
	}
	switch {
	case (rc == C.AIW_OK || rc == C.AIW_SERVICE_ERROR) && len(data) == 0:
		return nil, Errorf(Internal, "aiworker: a call ended with %s but no response", C.GoString(C.aiw_strerror(C.int(rc))))
	case rc == C.AIW_OK:
		return data, nil
	case rc == C.AIW_SERVICE_ERROR:
		return data, &Error{Code: ServiceError, Message: msg}
	}
	return nil, c.callErrorMsg(ctx, rc, msg)
}

func nilRequest(what string) error {
	return Errorf(InvalidArgument, "aiworker: nil %s", what)
}

// GetEmbedding calls AiWorker.GetEmbedding. A response with success=false is
// returned together with an error of code ServiceError.
func (c *Client) GetEmbedding(ctx context.Context, req *EmbeddingRequest) (*EmbeddingResponse, error) {
	if req == nil {
		return nil, nilRequest("EmbeddingRequest")
	}
	if req.Image != nil && req.Text != "" {
		return nil, Errorf(InvalidArgument, "aiworker: EmbeddingRequest sets both Text and Image (a oneof)")
	}
	b := getBuf()
	defer putBuf(b)
	r := &b.cs.emb
	*r = C.aiwgo_embedding_req{}
	b.metadata(ctx, &r.call)
	if req.Image != nil {
		r.has_image = 1
		r.image_data = b.bytes(req.Image.Data)
		r.image_format = b.str("ImageData.Format", req.Image.Format)
	} else if req.Text != "" {
		r.has_text = 1
		r.text = b.str("EmbeddingRequest.Text", req.Text)
	}
	r._type = C.int32_t(req.Type)
	data, err := c.invoke(ctx, b, rpcEmbedding, &r.call)
	if data == nil {
		return nil, err
	}
	return parseEmbedding(data), err
}

// VectorSearch calls AiWorker.VectorSearch. A response with success=false is
// returned together with an error of code ServiceError.
func (c *Client) VectorSearch(ctx context.Context, req *SearchRequest) (*SearchResponse, error) {
	if req == nil {
		return nil, nilRequest("SearchRequest")
	}
	b := getBuf()
	defer putBuf(b)
	r := &b.cs.search
	*r = C.aiwgo_search_req{}
	b.metadata(ctx, &r.call)
	r.query = b.str("SearchRequest.Query", req.Query)
	r._type = C.int32_t(req.Type)
	r.limit = C.int32_t(req.Limit)
	r.threshold = C.float(req.Threshold)
	for _, f := range req.Filters {
		b.items = append(b.items, C.aiwgo_item{a: b.str("SearchRequest.Filters", f)})
	}
	r.filter_count = C.uint32_t(len(req.Filters))
	data, err := c.invoke(ctx, b, rpcSearch, &r.call)
	if data == nil {
		return nil, err
	}
	return parseSearch(data), err
}

// ProcessAsset calls AiWorker.ProcessAsset. A response with success=false is
// returned together with an error of code ServiceError.
func (c *Client) ProcessAsset(ctx context.Context, req *AssetRequest) (*ProcessStatus, error) {
	if req == nil {
		return nil, nilRequest("AssetRequest")
	}
	b := getBuf()
	defer putBuf(b)
	r := &b.cs.asset
	*r = C.aiwgo_asset_req{}
	b.metadata(ctx, &r.call)
	r.asset_id = b.str("AssetRequest.AssetId", req.AssetId)
	r.file_path = b.str("AssetRequest.FilePath", req.FilePath)
	r.mime_type = b.str("AssetRequest.MimeType", req.MimeType)
	if o := req.Options; o != nil {
		r.has_options = 1
		r.enable_ocr = cbool(o.EnableOcr)
		r.enable_caption = cbool(o.EnableCaption)
		r.enable_embedding = cbool(o.EnableEmbedding)
		r.enable_summary = cbool(o.EnableSummary)
		r.max_chunk_size = C.int32_t(o.MaxChunkSize)
	}
	data, err := c.invoke(ctx, b, rpcAsset, &r.call)
	if data == nil {
		return nil, err
	}
	return parseProcess(data), err
}

func cbool(v bool) C.int32_t {
	if v {
		return 1
	}
	return 0
}
