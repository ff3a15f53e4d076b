package grpcconn

import (
	"context"
	"net"
	"strconv"
	"strings"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// callInfo is what a call's grpc-go options ask for: the aiworker call
// options they translate into, and where the results go once the call ends.
type callInfo struct {
	aiw     []aiworker.CallOption
	header  *metadata.MD
	trailer *metadata.MD
	peerOut *peer.Peer
	peer    string // filled by aiworker.Peer
	maxSend int    // -1: no limit asked
}

// parse translates grpc-go call options. Header and Trailer write straight
// into the caller's metadata.MD (same underlying type as aiworker.Metadata).
// Options without a meaning here are ignored (README.md lists them); a codec
// other than proto is refused, since the bytes sent would not be what the
// caller asked for.
func (ci *callInfo) parse(opts []grpc.CallOption) error {
	ci.maxSend = -1
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			ci.header = o.HeaderAddr
			ci.aiw = append(ci.aiw, aiworker.Header((*aiworker.Metadata)(o.HeaderAddr)))
		case *grpc.HeaderCallOption:
			ci.header = o.HeaderAddr
			ci.aiw = append(ci.aiw, aiworker.Header((*aiworker.Metadata)(o.HeaderAddr)))
		case grpc.TrailerCallOption:
			ci.trailer = o.TrailerAddr
			ci.aiw = append(ci.aiw, aiworker.Trailer((*aiworker.Metadata)(o.TrailerAddr)))
		case *grpc.TrailerCallOption:
			ci.trailer = o.TrailerAddr
			ci.aiw = append(ci.aiw, aiworker.Trailer((*aiworker.Metadata)(o.TrailerAddr)))
		case grpc.PeerCallOption:
			ci.setPeer(o.PeerAddr)
		case *grpc.PeerCallOption:
			ci.setPeer(o.PeerAddr)
		case grpc.FailFastCallOption: // grpc.WaitForReady(b) is FailFast(!b)
			ci.aiw = append(ci.aiw, aiworker.WaitForReady(!o.FailFast))
		case *grpc.FailFastCallOption:
			ci.aiw = append(ci.aiw, aiworker.WaitForReady(!o.FailFast))
		case grpc.MaxRecvMsgSizeCallOption:
			ci.aiw = append(ci.aiw, aiworker.MaxCallRecvMsgSize(o.MaxRecvMsgSize))
		case *grpc.MaxRecvMsgSizeCallOption:
			ci.aiw = append(ci.aiw, aiworker.MaxCallRecvMsgSize(o.MaxRecvMsgSize))
		case grpc.MaxSendMsgSizeCallOption:
			ci.maxSend = o.MaxSendMsgSize
		case *grpc.MaxSendMsgSizeCallOption:
			ci.maxSend = o.MaxSendMsgSize
		case grpc.CompressorCallOption:
			ci.aiw = append(ci.aiw, aiworker.UseCompressor(o.CompressorType))
		case *grpc.CompressorCallOption:
			ci.aiw = append(ci.aiw, aiworker.UseCompressor(o.CompressorType))
		case grpc.PerRPCCredsCallOption:
			if o.Creds != nil {
				ci.aiw = append(ci.aiw, aiworker.CallCredentials(o.Creds))
			}
		case *grpc.PerRPCCredsCallOption:
			if o.Creds != nil {
				ci.aiw = append(ci.aiw, aiworker.CallCredentials(o.Creds))
			}
		case grpc.ForceCodecCallOption:
			if err := protoCodecOnly(o.Codec.Name()); err != nil {
				return err
			}
		case *grpc.ForceCodecCallOption:
			if err := protoCodecOnly(o.Codec.Name()); err != nil {
				return err
			}
		case grpc.CustomCodecCallOption:
			if err := protoCodecOnly(o.Codec.String()); err != nil {
				return err
			}
		case *grpc.CustomCodecCallOption:
			if err := protoCodecOnly(o.Codec.String()); err != nil {
				return err
			}
		case grpc.ContentSubtypeCallOption:
			if err := protoCodecOnly(o.ContentSubtype); err != nil {
				return err
			}
		case *grpc.ContentSubtypeCallOption:
			if err := protoCodecOnly(o.ContentSubtype); err != nil {
				return err
			}
		default:
			// grpc.EmptyCallOption, grpc.MaxRetryRPCBufferSize and options of
			// newer grpc-go versions: nothing to do here.
		}
	}
	return nil
}

func (ci *callInfo) setPeer(p *peer.Peer) {
	if p == nil {
		return
	}
	if ci.peerOut == nil {
		ci.aiw = append(ci.aiw, aiworker.Peer(&ci.peer))
	}
	ci.peerOut = p
}

// protoCodecOnly accepts the proto codec (all libaiw speaks) and refuses
// any other one.
func protoCodecOnly(name string) error {
	if name == "" || strings.EqualFold(name, "proto") {
		return nil
	}
	return status.Errorf(codes.Unimplemented,
		"grpcconn: codec %q is not supported: libaiw sends and receives protobuf messages only", name)
}

// checkSend applies grpc.MaxCallSendMsgSize, with grpc-go's error.
func (ci *callInfo) checkSend(req proto.Message) error {
	if ci.maxSend < 0 {
		return nil
	}
	if n := proto.Size(req); n > ci.maxSend {
		return status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", n, ci.maxSend)
	}
	return nil
}

// after completes the results of an ended call as grpc-go leaves them:
// Header and Trailer non-nil (empty when the server sent none), Peer's Addr
// a net.Addr.
func (ci *callInfo) after() {
	if ci.header != nil && *ci.header == nil {
		*ci.header = metadata.MD{}
	}
	if ci.trailer != nil && *ci.trailer == nil {
		*ci.trailer = metadata.MD{}
	}
	if ci.peerOut != nil && ci.peer != "" {
		ci.peerOut.Addr = ParseAddr(ci.peer)
	}
}

// withOutgoing copies grpc-go's outgoing metadata of ctx
// (metadata.NewOutgoingContext, AppendToOutgoingContext) into aiworker's,
// skipping the headers grpc-go never sends from metadata (pseudo-headers,
// content-type, user-agent, te, grpc-timeout, grpc-encoding, grpc-status,
// grpc-message, grpc-message-type, grpc-status-details-bin). ctx is returned
// as it is when it has none.
func withOutgoing(ctx context.Context) context.Context {
	md, added, ok := metadata.FromOutgoingContextRaw(ctx)
	if !ok {
		return ctx
	}
	n := 0
	for _, vv := range md {
		n += 2 * len(vv)
	}
	for _, a := range added {
		n += len(a)
	}
	if n == 0 {
		return ctx
	}
	kv := make([]string, 0, n)
	for k, vv := range md {
		k = strings.ToLower(k)
		if reservedHeader(k) {
			continue
		}
		for _, v := range vv {
			kv = append(kv, k, v)
		}
	}
	for _, a := range added {
		for i := 0; i+1 < len(a); i += 2 {
			k := strings.ToLower(a[i])
			if reservedHeader(k) {
				continue
			}
			kv = append(kv, k, a[i+1])
		}
	}
	if len(kv) == 0 {
		return ctx
	}
	return aiworker.AppendToOutgoingContext(ctx, kv...)
}

// reservedHeader: grpc-go's isReservedHeader (internal/transport), the
// headers its transport owns and drops from outgoing metadata.
func reservedHeader(k string) bool {
	if k != "" && k[0] == ':' {
		return true
	}
	switch k {
	case "content-type", "user-agent", "grpc-message-type", "grpc-encoding", "grpc-message",
		"grpc-status", "grpc-timeout", "grpc-status-details-bin", "te":
		return true
	}
	return false
}

// ParseAddr turns a peer address as gRPC C core names it into a net.Addr:
// "ipv4:10.0.0.7:50051" and "ipv6:[::1]:50051" into a *net.TCPAddr,
// "unix:/path" into a *net.UnixAddr, anything else into an Addr whose
// String is the text itself.
func ParseAddr(s string) net.Addr {
	scheme, rest, _ := strings.Cut(s, ":")
	switch scheme {
	case "ipv4", "ipv6":
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			break
		}
		if i := strings.IndexByte(host, '%'); i >= 0 { // zone
			ip := net.ParseIP(host[:i])
			p, perr := strconv.Atoi(port)
			if ip != nil && perr == nil {
				return &net.TCPAddr{IP: ip, Port: p, Zone: host[i+1:]}
			}
			break
		}
		ip := net.ParseIP(host)
		p, perr := strconv.Atoi(port)
		if ip != nil && perr == nil {
			return &net.TCPAddr{IP: ip, Port: p}
		}
	case "unix", "unix-abstract":
		if scheme == "unix-abstract" {
			return &net.UnixAddr{Name: "@" + rest, Net: "unix"}
		}
		return &net.UnixAddr{Name: rest, Net: "unix"}
	}
	return rawAddr(s)
}

// rawAddr is a peer address ParseAddr could not parse.
type rawAddr string

func (a rawAddr) Network() string { return "" }
func (a rawAddr) String() string  { return string(a) }
