package gateway

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The answers' JSON comes from the schema: every field of a response
// message, in .proto order, keyed by its .proto name (today's keys), so a
// field added to idl/ai_service.proto appears without an edit here. What an
// answer leaves out or adds is said per answer (answers.go... below, in
// json.go's *From functions), in one small table each.
//
// Values: floats as appendFloat32 writes them (NaN and the infinities as
// protobuf's JSON strings), 32-bit integers as numbers, 64-bit ones as
// strings (as protojson), bools, strings escaped as encoding/json does,
// bytes in base64, enums by value name (a number for a value the schema
// does not know), repeated fields as [] and maps as {} also when empty,
// maps by sorted key, message fields as objects (left out when unset).

// fieldRule changes how one field of an answer is written.
type fieldRule int

const (
	keepField  fieldRule = iota
	dropField            // never written
	dropIfZero           // written only when set (non-zero / non-empty)
)

// appendMessage appends m as a JSON object; rules (may be nil) by field name.
func appendMessage(b []byte, m protoreflect.Message, rules map[string]fieldRule, prefix ...[]byte) []byte {
	b = append(b, '{')
	first := true
	for _, p := range prefix { // members written before the schema's (`"key":value`)
		if !first {
			b = append(b, ',')
		}
		b, first = append(b, p...), false
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch rules[string(fd.Name())] {
		case dropField:
			continue
		case dropIfZero:
			if !m.Has(fd) {
				continue
			}
		}
		if fd.Message() != nil && !fd.IsList() && !fd.IsMap() && !m.Has(fd) {
			continue // an unset sub-message
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
		b = appendField(b, fd, m.Get(fd))
	}
	return append(b, '}')
}

func appendField(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch {
	case fd.IsList():
		l := v.List()
		b = append(b, '[')
		for i := 0; i < l.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSingular(b, fd, l.Get(i))
		}
		return append(b, ']')
	case fd.IsMap():
		mp := v.Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k.String())
			b = append(b, ':')
			b = appendSingular(b, fd.MapValue(), mp.Get(k))
		}
		return append(b, '}')
	}
	return appendSingular(b, fd, v)
}

func appendSingular(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.FloatKind:
		return appendFloat32(b, float32(v.Float()))
	case protoreflect.DoubleKind:
		f := v.Float()
		if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
			return appendFloat32(b, float32(f)) // NaN, ±Inf: the same strings
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return appendString(b, strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return appendString(b, strconv.FormatUint(v.Uint(), 10))
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		return appendString(b, base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name()))
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message(), nil)
	}
	return append(b, "null"...)
}

// appendString appends s as encoding/json writes a string (HTML-safe,
// invalid UTF-8 replaced), so the answers read as they always have.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// member is one `"key":value` written before an answer's schema fields.
func member(key string, value interface{}) []byte {
	v, _ := json.Marshal(value)
	return append(append(appendString(nil, key), ':'), v...)
}
