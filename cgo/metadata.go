package aiworker

/*
#include "aiwgo.h"
*/
import "C"

import (
	"context"
	"fmt"
	"strings"
	"unsafe"
)

type outgoingKey struct{}

// AppendToOutgoingContext returns a context carrying ctx's request metadata
// plus the given key/value pairs, as grpc-go's
// metadata.AppendToOutgoingContext: keys are lower-cased; an odd number of
// arguments panics. Keys ending in "-bin" carry raw binary values. Every call
// made with the context sends the metadata, in order. Invalid keys or values
// fail the call with InvalidArgument.
func AppendToOutgoingContext(ctx context.Context, kv ...string) context.Context {
	if len(kv)%2 == 1 {
		panic(fmt.Sprintf("aiworker: AppendToOutgoingContext got an odd number of input pairs for metadata: %d", len(kv)))
	}
	prev, _ := ctx.Value(outgoingKey{}).([]string)
	md := make([]string, len(prev), len(prev)+len(kv))
	copy(md, prev)
	for i := 0; i < len(kv); i += 2 {
		md = append(md, strings.ToLower(kv[i]), kv[i+1])
	}
	return context.WithValue(ctx, outgoingKey{}, md)
}

// outgoingMetadata returns the flat key/value list of ctx (never modified).
func outgoingMetadata(ctx context.Context) []string {
	md, _ := ctx.Value(outgoingKey{}).([]string)
	return md
}

// Metadata is a set of gRPC metadata: lower-case keys, each with its values
// in order (values of -bin keys are the raw bytes), as grpc-go's
// metadata.MD.
type Metadata map[string][]string

// Get returns the values of key (lower-cased first), as grpc-go's MD.Get.
func (md Metadata) Get(key string) []string { return md[strings.ToLower(key)] }

// CallOption configures one call, as grpc-go's grpc.CallOption.
type CallOption interface{ apply(*callInfo) }

type callInfo struct {
	header, trailer *Metadata
	peer            *string
	compressor      *C.char // nil: the client's default
	waitForReady    int8    // 0: the client's default; 1 wait; -1 fail fast
	maxRecv         int     // 0: the client's limit
	creds           PerRPCCredentials
	err             error // a bad option, reported by the call
}

type callOptionFunc func(*callInfo)

func (f callOptionFunc) apply(ci *callInfo) { f(ci) }

// Header stores the response headers of the call in *md when it ends (as
// grpc-go's grpc.Header). For a stream use ChatStream.Header.
func Header(md *Metadata) CallOption { return callOptionFunc(func(ci *callInfo) { ci.header = md }) }

// Trailer stores the response trailers of the call in *md when it ends (as
// grpc-go's grpc.Trailer). For a stream use ChatStream.Trailer.
func Trailer(md *Metadata) CallOption { return callOptionFunc(func(ci *callInfo) { ci.trailer = md }) }

// Peer stores the address of the server that answered ("ipv4:10.0.0.7:50051")
// in *p when the call ends, as grpc-go's grpc.Peer (which gives a
// *peer.Peer; here the address as gRPC names it). "" when no server was
// reached.
func Peer(p *string) CallOption { return callOptionFunc(func(ci *callInfo) { ci.peer = p }) }

// UseCompressor compresses this call's request with the named compressor
// ("gzip", "deflate" or "identity"), as grpc-go's grpc.UseCompressor;
// overrides WithCompressor. Another name fails the call with Internal, as
// grpc-go does for a compressor it has not registered.
func UseCompressor(name string) CallOption {
	return callOptionFunc(func(ci *callInfo) {
		if cn := compressorName(name); cn != nil {
			ci.compressor = cn
		} else {
			ci.err = Errorf(Internal, "grpc: Compressor is not installed for requested grpc-encoding %q", name)
		}
	})
}

// WaitForReady makes this call wait (until its deadline) for the channel to
// be ready instead of failing fast with Unavailable, as grpc-go's
// grpc.WaitForReady; overrides WithWaitForReady.
func WaitForReady(wait bool) CallOption {
	return callOptionFunc(func(ci *callInfo) {
		if wait {
			ci.waitForReady = 1
		} else {
			ci.waitForReady = -1
		}
	})
}

// MaxCallRecvMsgSize sets the largest response message this call accepts,
// in bytes, as grpc-go's grpc.MaxCallRecvMsgSize; a larger one fails the
// call with ResourceExhausted. It can only lower the client's limit
// (WithMaxRecvMsgSize).
func MaxCallRecvMsgSize(n int) CallOption {
	return callOptionFunc(func(ci *callInfo) {
		if n < 0 || n > 0x7fffffff {
			ci.err = Errorf(InvalidArgument, "aiworker: MaxCallRecvMsgSize(%d) out of range", n)
			return
		}
		ci.maxRecv = n
	})
}

// CallCredentials adds per-call credentials to this call, as grpc-go's
// grpc.PerRPCCredentials call option: their metadata is sent with it (after
// the client's own, WithPerRPCCredentials).
func CallCredentials(creds PerRPCCredentials) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.creds = creds })
}

// The compressors libaiw knows, as C strings for the life of the process
// (package variables, not map values: LeakSanitizer sees these).
var (
	cGzip     = C.CString("gzip")
	cDeflate  = C.CString("deflate")
	cIdentity = C.CString("identity")
)

// compressorName is the C name of a compressor libaiw knows, else nil.
func compressorName(name string) *C.char {
	switch name {
	case "gzip":
		return cGzip
	case "deflate":
		return cDeflate
	case "identity":
		return cIdentity
	}
	return nil
}

// detailsKey is the trailer of the status details; like grpc-go, the
// package decodes it (Error.Details) and keeps it out of Trailer.
const detailsKey = "grpc-status-details-bin"

func callInfoOf(opts []CallOption) callInfo {
	var ci callInfo
	for _, o := range opts {
		if o != nil {
			o.apply(&ci)
		}
	}
	return ci
}

// readMetadata copies n headers (trailing false) or trailers of a
// completion into a Metadata (nil when n is 0).
func readMetadata(comp *C.aiw_completion, trailing bool, n C.uint32_t) Metadata {
	if n == 0 {
		return nil
	}
	t := C.int(0)
	if trailing {
		t = 1
	}
	md := make(Metadata, n)
	for i := C.size_t(0); i < C.size_t(n); i++ {
		k := C.GoString(C.aiw_completion_metadata_key(comp, t, i))
		if k == detailsKey {
			continue
		}
		var vlen C.size_t
		v := C.aiw_completion_metadata_value(comp, t, i, &vlen)
		md[k] = append(md[k], C.GoStringN((*C.char)(unsafe.Pointer(v)), C.int(vlen)))
	}
	return md
}

// readDetails returns the grpc-status-details-bin trailer of a completion,
// or nil.
func readDetails(comp *C.aiw_completion) []byte {
	var n C.size_t
	v := C.aiw_response_info_get(C.aiw_completion_response_info(comp), 1, detailsKeyC, &n)
	if v == nil {
		return nil
	}
	return C.GoBytes(v, C.int(n))
}

var detailsKeyC = C.CString(detailsKey)

// readPeer returns the peer address of a completion ("" when unknown).
func readPeer(comp *C.aiw_completion) string {
	return C.GoString(C.aiw_response_info_peer(C.aiw_completion_response_info(comp)))
}
