package aiworker

import "unsafe"

// flatReader reads the flattened form written by aiwgo.c: native-endian
// 4-byte words after an 8-byte header (total length, offset of the string
// bytes). All strings of one message share one Go allocation.
type flatReader struct {
	b       []byte
	pos     int
	strs    string
	strBase int
}

func newFlatReader(b []byte) flatReader {
	r := flatReader{b: b, pos: 0}
	total := int(r.u32())
	wordsEnd := int(r.u32())
	r.strs = string(b[wordsEnd:total])
	r.strBase = wordsEnd
	return r
}

func (r *flatReader) u32() uint32 {
	_ = r.b[r.pos+3] // bounds check
	v := *(*uint32)(unsafe.Pointer(&r.b[r.pos]))
	r.pos += 4
	return v
}

func (r *flatReader) i32() int32 { return int32(r.u32()) }

func (r *flatReader) f32() float32 {
	_ = r.b[r.pos+3]
	v := *(*float32)(unsafe.Pointer(&r.b[r.pos]))
	r.pos += 4
	return v
}

func (r *flatReader) bool() bool { return r.u32() != 0 }

func (r *flatReader) str() string {
	off := int(r.u32()) - r.strBase
	n := int(r.u32())
	if n == 0 {
		return ""
	}
	return r.strs[off : off+n]
}

// floatsInto copies a float vector into dst (which has room for it).
func (r *flatReader) floatsInto(dst []float32) []float32 {
	n := int(r.u32())
	if n == 0 {
		return nil
	}
	_ = r.b[r.pos+4*n-1]
	src := unsafe.Slice((*float32)(unsafe.Pointer(&r.b[r.pos])), n)
	r.pos += 4 * n
	return dst[:copy(dst[:n:n], src)]
}

// peekVectorLen returns the length of the float vector at byte offset pos.
func (r *flatReader) peekU32(pos int) uint32 {
	_ = r.b[pos+3]
	return *(*uint32)(unsafe.Pointer(&r.b[pos]))
}

func (r *flatReader) results(n int) []*SearchResult {
	if n == 0 {
		return nil
	}
	all := make([]SearchResult, n)
	out := make([]*SearchResult, n)
	for i := range all {
		s := &all[i]
		s.AssetId = r.str()
		s.Score = r.f32()
		s.Caption = r.str()
		s.MimeType = r.str()
		s.ThumbnailUrl = r.str()
		if m := int(r.u32()); m > 0 {
			s.Metadata = make(map[string]string, m)
			for j := 0; j < m; j++ {
				k := r.str()
				s.Metadata[k] = r.str()
			}
		}
		out[i] = s
	}
	return out
}

func parseEmbedding(b []byte) *EmbeddingResponse {
	r := newFlatReader(b)
	resp := &EmbeddingResponse{}
	resp.Success = r.bool()
	resp.Error = r.str()
	nsem := int(r.peekU32(r.pos))
	nvis := int(r.peekU32(r.pos + 4 + 4*nsem))
	if nsem+nvis > 0 {
		all := make([]float32, nsem+nvis)
		resp.SemanticVector = r.floatsInto(all[:nsem:nsem])
		resp.VisualVector = r.floatsInto(all[nsem:])
	} else {
		r.pos += 8
	}
	return resp
}

func parseSearch(b []byte) *SearchResponse {
	r := newFlatReader(b)
	resp := &SearchResponse{}
	resp.Success = r.bool()
	resp.Error = r.str()
	resp.TotalCount = r.i32()
	resp.Results = r.results(int(r.u32()))
	return resp
}

func parseProcess(b []byte) *ProcessStatus {
	r := newFlatReader(b)
	resp := &ProcessStatus{}
	resp.Success = r.bool()
	resp.Error = r.str()
	resp.Stage = ProcessingStage(r.i32())
	resp.Progress = r.f32()
	return resp
}

func parseChat(b []byte) *ChatResponse {
	r := newFlatReader(b)
	resp := &ChatResponse{}
	resp.Chunk = r.str()
	resp.IsFinal = r.bool()
	resp.Sources = r.results(int(r.u32()))
	return resp
}
