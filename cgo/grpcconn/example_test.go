package grpcconn_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	aiworker "github.com/thinkbank/libaiw/cgo"
	"github.com/thinkbank/libaiw/cgo/grpcconn"
	pb "github.com/thinkbank/libaiw/cgo/grpcconn/gen/ai_service"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// A grpc-go program's calls, unchanged but for the dial line.
func ExampleDial() {
	// conn, err := grpc.Dial("127.0.0.1:50051", grpc.WithInsecure())
	conn, err := grpcconn.Dial("127.0.0.1:50051")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewAiWorkerClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", "demo-1")

	var trailer metadata.MD
	emb, err := client.GetEmbedding(ctx, &pb.EmbeddingRequest{
		Content: &pb.EmbeddingRequest_Text{Text: "a cat on a keyboard"}}, grpc.Trailer(&trailer))
	if status.Code(err) == codes.Unavailable {
		log.Fatalf("the service is down: %v", err)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(emb.SemanticVector), "floats")

	stream, err := client.ChatStream(ctx, &pb.ChatRequest{Query: "what is in the harbour photo?"})
	if err != nil {
		log.Fatal(err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(m.Chunk)
	}

	// grpc-go's own health client, over the same connection.
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println(h.GetStatus(), err)
}

// The Go package's Dial options configure the channel.
func ExampleDial_options() {
	conn, err := grpcconn.Dial("dns:///ai.internal:443",
		aiworker.WithTLS(nil, nil, nil),
		aiworker.WithPerRPCCredentials(aiworker.BearerToken("token")),
		aiworker.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		aiworker.WithKeepaliveParams(aiworker.KeepaliveParams{Time: 30 * time.Second, Timeout: 10 * time.Second}))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	_ = pb.NewAiWorkerClient(conn)
}
