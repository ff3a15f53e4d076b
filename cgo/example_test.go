package aiworker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The example runs against the reference service TestMain starts (target);
// a program would dial its own service, e.g. "127.0.0.1:50051".
func ExampleClient_GetEmbedding() {
	c, err := Dial(target, WithTimeout(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// The content oneof: a text ...
	req := &EmbeddingRequest{
		Content: &EmbeddingRequest_Text{Text: "hello"},
		Type:    EmbeddingType_EMBEDDING_SEMANTIC,
	}
	resp, err := c.GetEmbedding(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q as %v: %d floats, first %.4g\n", req.GetText(), req.GetType(), len(resp.GetSemanticVector()),
		resp.GetSemanticVector()[0])

	// ... or an image (bytes may hold NULs).
	img := &EmbeddingRequest{
		Content: &EmbeddingRequest_Image{Image: &ImageData{Data: []byte{'a', 0, 'b'}, Format: "png"}},
		Type:    EmbeddingType_EMBEDDING_VISUAL,
	}
	vis, err := c.GetEmbedding(ctx, img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d-byte %s image as %s: %d floats, first %.4g\n", len(img.GetImage().GetData()),
		img.GetImage().GetFormat(), img.GetType().String(), len(vis.GetVisualVector()), vis.GetVisualVector()[0])

	// Responses are protobuf messages: compare them with proto.Equal.
	again, err := c.GetEmbedding(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same answer twice:", proto.Equal(resp, again), "- text and image alike:", proto.Equal(resp, vis))

	// protojson speaks the proto3 JSON mapping (enum names, camelCase).
	// Its spacing is deliberately unstable, so re-indent it for printing.
	b, err := protojson.Marshal(req)
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.String())
	back := new(EmbeddingRequest)
	if err := protojson.Unmarshal(b, back); err != nil {
		log.Fatal(err)
	}
	fmt.Println("round trip:", proto.Equal(req, back))
	// Output:
	// "hello" as EMBEDDING_SEMANTIC: 1024 floats, first -0.61
	// 3-byte png image as EMBEDDING_VISUAL: 1152 floats, first 0.7972
	// same answer twice: true - text and image alike: false
	// {"text":"hello","type":"EMBEDDING_SEMANTIC"}
	// round trip: true
}
