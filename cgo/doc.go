// Package aiworker is the Go client of ThinkBank's AI service
// (ai_service.AiWorker), built on libaiw, the C client, through cgo. It is
// shaped like a grpc-go generated client:
//
//	c, err := aiworker.Dial("127.0.0.1:50051", aiworker.WithTimeout(30*time.Second))
//	...
//	defer c.Close()
//	resp, err := c.GetEmbedding(ctx, &aiworker.EmbeddingRequest{Text: "hello"})
//
// Module path: github.com/thinkbank/libaiw/cgo (see README.md for using it
// from another module and for pkg-config). Go 1.19, standard library only.
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
// Cost: a unary call is one cgo transition to start it on the client's
// libaiw completion queue; one poller goroutine per client takes finished
// calls in batches (one transition per batch, responses flattened by C) and
// hands them to the waiting goroutines, which hold no OS thread. A streamed
// message is one C-to-Go callback on the calling thread; a stream in flight
// holds an OS thread while it waits in C.
//
// Streaming comes in two forms: ChatStreamFunc (a callback per message, on
// the calling goroutine) and ChatStream (Recv until io.EOF, grpc-go style).
// Neither buffers: a slow consumer slows the stream down.
package aiworker
