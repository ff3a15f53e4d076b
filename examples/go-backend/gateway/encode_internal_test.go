package gateway

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	aiworker "github.com/thinkbank/libaiw/cgo"
)

// Finite float32s are written exactly as encoding/json writes them.
func TestFloatEncodingMatchesEncodingJSON(t *testing.T) {
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.1, 0.7, -0.61, 0.0621, 1e-6, 9.99e-7, 1e-7,
		-1.5e-8, 1e20, 1e21, 3.4e38, math.MaxFloat32, math.SmallestNonzeroFloat32, 123456789, 1.0 / 3}
	x := uint32(12345)
	for i := 0; i < 2000; i++ { // and a spread of bit patterns
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if f := math.Float32frombits(x); !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
			vals = append(vals, f)
		}
	}
	for _, f := range vals {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := jsonFloat(f).MarshalJSON(); string(got) != string(want) {
			t.Errorf("%g: %s, want %s", f, got, want)
		}
	}
	got, _ := json.Marshal(jsonFloats(vals[:4]))
	want, _ := json.Marshal(vals[:4])
	if string(got) != string(want) {
		t.Errorf("vector %s, want %s", got, want)
	}
	if got, _ := json.Marshal(struct {
		V jsonFloats `json:"v"`
	}{}); string(got) != `{"v":[]}` {
		t.Errorf("nil vector: %s", got)
	}
	nonFinite, _ := json.Marshal([]jsonFloat{jsonFloat(math.NaN()), jsonFloat(math.Inf(1)), jsonFloat(math.Inf(-1))})
	if string(nonFinite) != `["NaN","Infinity","-Infinity"]` {
		t.Errorf("non-finite: %s", nonFinite)
	}
}

// A chat message that cannot be encoded becomes an error event, never an
// empty or missing one.
func TestDataEventEncodingFailure(t *testing.T) {
	frame, ok := dataEvent(map[string]interface{}{"chunk": make(chan int)})
	if ok || !strings.HasPrefix(string(frame), "event: error\ndata: {\"code\":\"INTERNAL\",\"message\":\"encoding a chat message: ") ||
		!strings.HasSuffix(string(frame), "\"}\n\n") {
		t.Errorf("frame %q ok %v", frame, ok)
	}
	frame, ok = dataEvent(chatFinalJSON{Chunk: "c", IsFinal: true,
		Sources: searchResultsFrom([]*aiworker.SearchResult{{AssetId: "a", Score: float32(math.NaN())}})})
	if want := `data: {"chunk":"c","is_final":true,"sources":[{"asset_id":"a","score":"NaN","caption":"","mime_type":"","thumbnail_url":"","metadata":{}}]}` + "\n\n"; !ok || string(frame) != want {
		t.Errorf("frame %q ok %v\nwant %q", frame, ok, want)
	}
}
