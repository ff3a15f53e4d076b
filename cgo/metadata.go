package aiworker

import (
	"context"
	"fmt"
	"strings"
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
