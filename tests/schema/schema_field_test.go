package aiworker

// tests/schema/run.sh copies this file into the cgo/ of a copy of the tree
// whose idl/ai_service.proto has two more fields (make gen-go regenerated
// ai_service.pb.go there): the Go structs have them, and the library's raw
// calls decode them. It does not compile against the real tree.

import (
	"context"
	"testing"
	"time"
)

func TestSchemaNewFields(t *testing.T) {
	c, err := Dial(target, WithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	resp, err := c.VectorSearch(ctx, &SearchRequest{Query: "!set:model_version=v7", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ModelVersion != "v7" || resp.GetModelVersion() != "v7" {
		t.Errorf("SearchResponse.ModelVersion = %q, want v7", resp.ModelVersion)
	}

	resp, err = c.VectorSearch(ctx, &SearchRequest{Query: "!set:results.indexed_at=1700000000123", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 2 {
		t.Fatalf("%d results, want 2", len(resp.Results))
	}
	for i, r := range resp.Results {
		var at int64 = r.IndexedAt // an int64, as the .proto says
		if at != 1700000000123 {
			t.Errorf("Results[%d].IndexedAt = %d, want 1700000000123", i, at)
		}
	}
}
