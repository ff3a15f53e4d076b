// Package aiworker is the Go client of ThinkBank's AI service
// (ai_service.AiWorker), built on libaiw, the C client on gRPC C core,
// through cgo. It is shaped like a grpc-go generated client:
//
//	c, err := aiworker.Dial("127.0.0.1:50051", aiworker.WithTimeout(30*time.Second))
//	...
//	defer c.Close()
//	resp, err := c.GetEmbedding(ctx, &aiworker.EmbeddingRequest{
//		Content: &aiworker.EmbeddingRequest_Text{Text: "hello"},
//		Type:    aiworker.EmbeddingType_EMBEDDING_SEMANTIC,
//	})
//
// The messages are the ones protoc-gen-go generates from
// idl/ai_service.proto (ai_service.pb.go), so proto.Marshal, proto.Equal and
// protojson work on them as on grpc-go's. Module path:
// github.com/thinkbank/libaiw/cgo; it needs google.golang.org/protobuf
// (Debian's golang-google-protobuf-dev through a replace, see README.md).
//
// Calls take a context: its deadline becomes the call's deadline, cancelling
// it cancels the call at once, and the error then has code Canceled or
// DeadlineExceeded and matches context.Canceled / context.DeadlineExceeded
// with errors.Is. Request metadata comes from AppendToOutgoingContext.
//
// Errors are *Error values with a Code named as grpc-go's codes; CodeOf and
// HTTPStatus map any error to its code and HTTP status. An answer with
// success=false is returned together with an error of code ServiceError
// (HTTP 502) carrying the service's text, so it cannot be missed.
//
// Cost: every call, unary or streaming, runs on the client's libaiw queue
// through libaiw's raw-message interface (requests serialized in Go, one
// cgo transition to start a call). One poller goroutine per client takes
// completions in batches, one transition per batch, and hands each to the
// goroutine waiting for it: a waiting call or an open stream is a parked
// goroutine, never an OS thread inside C, so a process can hold tens of
// thousands of open streams.
//
// Streaming comes in two forms: ChatStream (Recv until io.EOF, grpc-go
// style) and ChatStreamFunc (a function per message, on the calling
// goroutine). Neither buffers more than one message: a slow consumer slows
// the stream down through HTTP/2 flow control.
package aiworker
