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
}

type callOptionFunc func(*callInfo)

func (f callOptionFunc) apply(ci *callInfo) { f(ci) }

// Header stores the response headers of the call in *md when it ends (as
// grpc-go's grpc.Header). For a stream use ChatStream.Header.
func Header(md *Metadata) CallOption { return callOptionFunc(func(ci *callInfo) { ci.header = md }) }

// Trailer stores the response trailers of the call in *md when it ends (as
// grpc-go's grpc.Trailer). For a stream use ChatStream.Trailer.
func Trailer(md *Metadata) CallOption { return callOptionFunc(func(ci *callInfo) { ci.trailer = md }) }

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
		var vlen C.size_t
		v := C.aiw_completion_metadata_value(comp, t, i, &vlen)
		md[k] = append(md[k], C.GoStringN((*C.char)(unsafe.Pointer(v)), C.int(vlen)))
	}
	return md
}
