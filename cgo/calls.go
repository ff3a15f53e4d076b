package aiworker

/*
#include <stdlib.h>
#include "aiwgo.h"
*/
import "C"

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/proto"
)

// The gRPC paths of the service, as C strings for the life of the process.
var (
	pathProcessAsset = C.CString("/ai_service.AiWorker/ProcessAsset")
	pathChatStream   = C.CString("/ai_service.AiWorker/ChatStream")
	pathGetEmbedding = C.CString("/ai_service.AiWorker/GetEmbedding")
	pathVectorSearch = C.CString("/ai_service.AiWorker/VectorSearch")
)

const (
	methodProcessAsset = "/ai_service.AiWorker/ProcessAsset"
	methodChatStream   = "/ai_service.AiWorker/ChatStream"
	methodGetEmbedding = "/ai_service.AiWorker/GetEmbedding"
	methodVectorSearch = "/ai_service.AiWorker/VectorSearch"
)

// callBuf is what one call passes to C: the serialized request, the
// metadata arena and its entries, and the error C fills. Pooled; none of it
// holds a Go pointer, so cgo's pointer checks of it are cheap.
type callBuf struct {
	req   []byte
	arena []byte
	md    []C.aiwgo_md
	err   *C.aiw_error // a separate allocation: passed to C as a plain pointer
	w     *waiter
}

const bufKeepMax = 1 << 20 // buffers larger than this are not kept pooled

var bufPool = sync.Pool{New: func() interface{} {
	return &callBuf{req: make([]byte, 0, 256), arena: make([]byte, 0, 128), err: new(C.aiw_error), w: newWaiter()}
}}

func getBuf() *callBuf {
	b := bufPool.Get().(*callBuf)
	b.arena = b.arena[:0]
	b.md = b.md[:0]
	return b
}

func putBuf(b *callBuf) {
	if cap(b.req) > bufKeepMax {
		b.req = make([]byte, 0, 256)
	}
	if cap(b.arena) > bufKeepMax {
		b.arena = make([]byte, 0, 128)
	}
	bufPool.Put(b)
}

var marshalOpts = proto.MarshalOptions{}

// prepare serializes req, ctx's metadata and the credentials' into b.
func (b *callBuf) prepare(ctx context.Context, c *Client, method string, req proto.Message, ci *callInfo) error {
	if ci.err != nil {
		return ci.err
	}
	var err error
	if b.req, err = marshalOpts.MarshalAppend(b.req[:0], req); err != nil {
		return Errorf(InvalidArgument, "aiworker: cannot serialize the request: %v", err)
	}
	md := outgoingMetadata(ctx)
	for i := 0; i+1 < len(md); i += 2 {
		if err := b.appendMetadata(md[i], md[i+1]); err != nil {
			return err
		}
	}
	return b.appendCredentials(ctx, c, method, ci.creds)
}

// appendMetadata adds one request header to b (libaiw validates it).
func (b *callBuf) appendMetadata(k, v string) error {
	bin := strings.HasSuffix(k, "-bin")
	if strings.IndexByte(k, 0) >= 0 || (!bin && strings.IndexByte(v, 0) >= 0) {
		return Errorf(InvalidArgument, "aiworker: metadata %q contains a NUL byte", k)
	}
	e := C.aiwgo_md{key_off: C.uint32_t(len(b.arena)), key_len: C.uint32_t(len(k))}
	b.arena = append(append(b.arena, k...), 0)
	e.value_off, e.value_len = C.uint32_t(len(b.arena)), C.uint32_t(len(v))
	b.arena = append(append(b.arena, v...), 0)
	if bin {
		e.is_bin = 1
	}
	b.md = append(b.md, e)
	if uint64(len(b.arena)) > 0xffffffff {
		return Errorf(ResourceExhausted, "aiworker: metadata too large")
	}
	return nil
}

// start starts the call prepared in b on the client's queue (one cgo
// transition). token may be nil.
func (c *Client) start(b *callBuf, tag C.uint64_t, path *C.char, streaming bool, token *C.aiw_cancel_token,
	timeoutMS int64, ci *callInfo) C.aiw_code {
	var req unsafe.Pointer
	if len(b.req) > 0 {
		req = unsafe.Pointer(&b.req[0])
	}
	var arena *C.char
	var md *C.aiwgo_md
	if len(b.md) > 0 {
		arena, md = (*C.char)(unsafe.Pointer(&b.arena[0])), &b.md[0]
	}
	wfr, st := C.int(0), C.int(0)
	if ci.waitForReady > 0 || (ci.waitForReady == 0 && c.opts.waitForReady) {
		wfr = 1
	}
	if streaming {
		st = 1
	}
	cgoEnter()
	rc := C.aiwgo_start(c.c, c.q, tag, path, st, token, C.int64_t(timeoutMS), wfr, ci.compressor,
		C.size_t(ci.maxRecv), req, C.size_t(len(b.req)), arena, md, C.size_t(len(b.md)), b.err)
	cgoLeave()
	return rc
}

// invoke makes one unary call: serialize, start (one transition), wait for
// the poller to deliver the RESULT (a cancelled ctx costs one more
// transition, cancelling the call's token), unmarshal the response straight
// from C memory and free the completion (one transition).
func (c *Client) invoke(ctx context.Context, path *C.char, method string, req, resp proto.Message,
	opts []CallOption) error {
	if c.unary != nil {
		return c.unary(ctx, method, req, resp, c, invokeFinal, opts...)
	}
	return c.invokeNow(ctx, path, method, req, resp, opts)
}

// invokeFinal is the invoker at the end of a chain of interceptors, which
// may have changed the method.
func invokeFinal(ctx context.Context, method string, req, reply proto.Message, c *Client, opts ...CallOption) error {
	if path := knownPath(method); path != nil {
		return c.invokeNow(ctx, path, method, req, reply, opts)
	}
	if strings.IndexByte(method, 0) >= 0 {
		return Errorf(InvalidArgument, "aiworker: method %q contains a NUL byte", method)
	}
	path := C.CString(method)
	defer C.free(unsafe.Pointer(path))
	return c.invokeNow(ctx, path, method, req, reply, opts)
}

// knownPath is the process-lifetime C string of one of AiWorker's paths, else nil.
func knownPath(method string) *C.char {
	switch method {
	case methodProcessAsset:
		return pathProcessAsset
	case methodChatStream:
		return pathChatStream
	case methodGetEmbedding:
		return pathGetEmbedding
	case methodVectorSearch:
		return pathVectorSearch
	}
	return nil
}

// invokeNow is invoke past the interceptors.
func (c *Client) invokeNow(ctx context.Context, path *C.char, method string, req, resp proto.Message,
	opts []CallOption) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	timeout, err := c.timeoutMS(ctx, true)
	if err != nil {
		return err
	}
	ci := callInfoOf(opts)
	b := getBuf()
	defer putBuf(b)
	if err := b.prepare(ctx, c, method, req, &ci); err != nil {
		return err
	}
	b.w.stream = false
	tag, ok := c.register(b.w, true)
	if !ok {
		return ErrClientClosed
	}
	defer c.calls.Done()
	done := ctx.Done()
	var token *C.aiw_cancel_token
	if done != nil {
		if token, err = getToken(); err != nil {
			c.unregister(tag)
			return err
		}
	}
	if rc := c.start(b, tag, path, false, token, timeout, &ci); rc != C.AIW_OK {
		c.unregister(tag)
		if token != nil {
			putToken(token)
		}
		return c.callError(ctx, rc, errMessage(b.err), false)
	}
	var d delivery
	if done == nil {
		d = <-b.w.ch
	} else {
		select {
		case d = <-b.w.ch:
		case <-done:
			C.aiw_cancel_token_cancel(token)
			d = <-b.w.ch
			C.aiw_cancel_token_reset(token) // pooled tokens are clean
		}
		putToken(token)
	}
	ev := d.ev
	if ci.header != nil {
		*ci.header = readMetadata(ev.completion, false, ev.n_headers)
	}
	if ci.trailer != nil {
		*ci.trailer = readMetadata(ev.completion, true, ev.n_trailers)
	}
	if ci.peer != nil {
		*ci.peer = readPeer(ev.completion)
	}
	return c.unaryResult(ctx, &ev, resp)
}

// Invoke makes a unary call of any method of any service on the channel,
// named by its gRPC path ("/pkg.Service/Method"), as grpc-go's
// ClientConn.Invoke: req is serialized and the response unmarshalled into
// resp with the protobuf runtime (the raw-message interface; no in-band
// success check). Call options and errors as for every call.
func (c *Client) Invoke(ctx context.Context, method string, req, resp proto.Message, opts ...CallOption) error {
	if req == nil || resp == nil {
		return nilRequest("request or response")
	}
	return c.invokeMethod(ctx, method, req, resp, opts...)
}

// invokeMethod is Invoke without its argument checks.
func (c *Client) invokeMethod(ctx context.Context, method string, req, resp proto.Message, opts ...CallOption) error {
	if path := knownPath(method); path != nil {
		return c.invoke(ctx, path, method, req, resp, opts)
	}
	if strings.IndexByte(method, 0) >= 0 {
		return Errorf(InvalidArgument, "aiworker: method %q contains a NUL byte", method)
	}
	path := C.CString(method) // libaiw copies what it keeps
	defer C.free(unsafe.Pointer(path))
	return c.invoke(ctx, path, method, req, resp, opts)
}

// unaryResult turns a unary RESULT into invoke's outcome and frees it.
func (c *Client) unaryResult(ctx context.Context, ev *C.aiwgo_event, resp proto.Message) error {
	defer C.aiw_completion_free(ev.completion)
	rc := C.aiw_code(ev.code)
	if rc != C.AIW_OK {
		err := c.callError(ctx, rc, C.GoStringN(ev.msg, C.int(ev.msg_len)), ev.deadline_expired != 0)
		if e, ok := err.(*Error); ok && ev.n_trailers > 0 && e != ErrClientClosed {
			e.details = readDetails(ev.completion)
		}
		return err
	}
	if err := unmarshalC(ev.data, ev.len, resp); err != nil {
		return err
	}
	return nil
}

// unmarshalC decodes a message from C memory; the result shares nothing
// with it (the protobuf runtime copies strings and bytes).
func unmarshalC(data *C.uint8_t, n C.uint32_t, m proto.Message) error {
	var b []byte
	if n > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n))
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return decodeError(int(n), m)
	}
	return nil
}

// messageName is m's full protobuf name; the package's own messages (registered
// as libaiw.aiworker, gen_go.sh) by their schema's name, ai_service.X.
func messageName(m proto.Message) string {
	name := string(m.ProtoReflect().Descriptor().FullName())
	if strings.HasPrefix(name, "libaiw.aiworker.") {
		return "ai_service." + strings.TrimPrefix(name, "libaiw.aiworker.")
	}
	return name
}

func decodeError(n int, m proto.Message) error {
	return Errorf(Internal, "could not decode the response: %d bytes that are not a valid %s message",
		n, messageName(m))
}

// cgoSlots bounds how many goroutines are inside a libaiw call that may
// wait on gRPC's locks (starting a call, letting a stream read on): each
// holds an OS thread while it does, and ten thousand streams starting at
// once must not become ten thousand threads. The poller is not counted.
var cgoSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func cgoEnter() { cgoSlots <- struct{}{} }
func cgoLeave() { <-cgoSlots }

// inBand is a response that reports failures in-band (success=false).
type inBand interface {
	GetSuccess() bool
	GetError() string
}

// serviceError is the error of a response with success=false, else nil.
func serviceError(r inBand) error {
	if r.GetSuccess() {
		return nil
	}
	msg := r.GetError()
	if msg == "" {
		msg = "the service answered success=false with no error text"
	}
	return &Error{Code: ServiceError, Message: msg}
}

func nilRequest(what string) error {
	return Errorf(InvalidArgument, "aiworker: nil %s", what)
}

// GetEmbedding calls AiWorker.GetEmbedding. A response with success=false is
// returned together with an error of code ServiceError. opts: Header,
// Trailer, Peer, UseCompressor, WaitForReady, MaxCallRecvMsgSize,
// CallCredentials (as for every call).
func (c *Client) GetEmbedding(ctx context.Context, req *EmbeddingRequest, opts ...CallOption) (*EmbeddingResponse, error) {
	if req == nil {
		return nil, nilRequest("EmbeddingRequest")
	}
	if req.Content == nil {
		return nil, Errorf(InvalidArgument, "EmbeddingRequest needs content: set text or image")
	}
	resp := new(EmbeddingResponse)
	if err := c.invoke(ctx, pathGetEmbedding, methodGetEmbedding, req, resp, opts); err != nil {
		return nil, err
	}
	return resp, serviceError(resp)
}

// VectorSearch calls AiWorker.VectorSearch. A response with success=false is
// returned together with an error of code ServiceError.
func (c *Client) VectorSearch(ctx context.Context, req *SearchRequest, opts ...CallOption) (*SearchResponse, error) {
	if req == nil {
		return nil, nilRequest("SearchRequest")
	}
	if req.Query == "" {
		return nil, Errorf(InvalidArgument, "SearchRequest.query is required")
	}
	resp := new(SearchResponse)
	if err := c.invoke(ctx, pathVectorSearch, methodVectorSearch, req, resp, opts); err != nil {
		return nil, err
	}
	return resp, serviceError(resp)
}

// ProcessAsset calls AiWorker.ProcessAsset. A response with success=false is
// returned together with an error of code ServiceError.
func (c *Client) ProcessAsset(ctx context.Context, req *AssetRequest, opts ...CallOption) (*ProcessStatus, error) {
	if req == nil {
		return nil, nilRequest("AssetRequest")
	}
	for _, f := range [...]struct{ name, v string }{{"asset_id", req.AssetId}, {"file_path", req.FilePath},
		{"mime_type", req.MimeType}} {
		if f.v == "" {
			return nil, Errorf(InvalidArgument, "AssetRequest.%s is required", f.name)
		}
	}
	resp := new(ProcessStatus)
	if err := c.invoke(ctx, pathProcessAsset, methodProcessAsset, req, resp, opts); err != nil {
		return nil, err
	}
	return resp, serviceError(resp)
}
