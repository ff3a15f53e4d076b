package aiworker

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
)

// Details returns the details of the server's status: the google.rpc.Status
// a server sends in the grpc-status-details-bin trailer (grpc-go's
// status.WithDetails, Python's grpc_status.rpc_status), each detail a
// google.protobuf.Any with its type URL and serialized message. Unmarshal
// one with anypb.UnmarshalTo or Any.UnmarshalNew when its type is linked
// in. Nil when the server sent none, or when they do not decode.
func (e *Error) Details() []*anypb.Any {
	if e == nil || e.details == nil {
		return nil
	}
	_, _, details, ok := decodeStatus(e.details)
	if !ok {
		return nil
	}
	return details
}

// decodeStatus reads a serialized google.rpc.Status {int32 code = 1;
// string message = 2; repeated google.protobuf.Any details = 3;} with the
// protobuf runtime's wire reader: the package needs no generated type for
// it (nor googleapis), and registers none that a program's own copy would
// clash with.
func decodeStatus(b []byte) (code int32, message string, details []*anypb.Any, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, "", nil, false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, "", nil, false
			}
			code, b = int32(v), b[m:]
		case num == 2 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return 0, "", nil, false
			}
			message, b = string(v), b[m:]
		case num == 3 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return 0, "", nil, false
			}
			a, good := decodeAny(v)
			if !good {
				return 0, "", nil, false
			}
			details, b = append(details, a), b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return 0, "", nil, false
			}
			b = b[m:]
		}
	}
	return code, message, details, true
}

// decodeAny reads a google.protobuf.Any {string type_url = 1; bytes value = 2;}.
func decodeAny(b []byte) (*anypb.Any, bool) {
	a := &anypb.Any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if (num == 1 || num == 2) && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, false
			}
			if num == 1 {
				a.TypeUrl = string(v)
			} else {
				a.Value = append([]byte{}, v...)
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, false
		}
		b = b[m:]
	}
	return a, true
}
