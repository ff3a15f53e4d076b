package grpcconn

import (
	"errors"
	"io"

	aiworker "github.com/thinkbank/libaiw/cgo"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// toStatus turns an aiworker error into a grpc-go status error: the same
// code and message, and the server's status details (grpc-status-details-bin)
// so that status.FromError(err).Details() / .Proto().Details give them. A
// call its context ended is codes.Canceled / codes.DeadlineExceeded with
// the context's message ("context canceled", "context deadline exceeded"),
// as grpc-go reports it. nil and io.EOF are returned as they are.
func toStatus(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err
	}
	var e *aiworker.Error
	if !errors.As(err, &e) {
		return status.Error(codes.Unknown, err.Error())
	}
	code := codes.Code(e.Code)
	if e.Code > aiworker.Unauthenticated {
		// aiworker.ServiceError (an in-band success=false) cannot come from
		// the raw-message calls grpcconn makes; any other is not gRPC's.
		code = codes.Unknown
	}
	if d := e.Details(); len(d) > 0 {
		return status.FromProto(&spb.Status{Code: int32(code), Message: e.Message, Details: d}).Err()
	}
	return status.Error(code, e.Message)
}
