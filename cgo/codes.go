package aiworker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Code is a status code, numbered and named as gRPC's (and grpc-go's codes
// package), plus ServiceError for an answer with success=false.
type Code uint32

// The codes. 0..16 are gRPC's status codes.
const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
	// ServiceError: the RPC succeeded but the service answered
	// success=false; the response is returned together with the error, whose
	// Message is the service's error text. HTTP 502.
	ServiceError Code = 17
)

var codeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
	"Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
	"Unauthenticated", "ServiceError",
}

// String returns the name as grpc-go prints it ("OK", "Canceled",
// "DeadlineExceeded", ...; "ServiceError"), or "Code(N)".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.FormatInt(int64(c), 10) + ")"
}

var httpStatus = [...]int{200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401, 502}

// HTTPStatus returns the HTTP status of the code (CONTRACT.md, as
// grpc-gateway maps them; ServiceError is 502; unknown codes 500).
func (c Code) HTTPStatus() int {
	if int(c) < len(httpStatus) {
		return httpStatus[c]
	}
	return 500
}

// Error is the error of a failed call: a status code and a message. When the
// call ended because its context did, Unwrap returns ctx.Err(), so
// errors.Is(err, context.Canceled) and errors.Is(err,
// context.DeadlineExceeded) hold.
type Error struct {
	Code    Code
	Message string
	cause   error
}

// Error formats the error as grpc-go's status errors do.
func (e *Error) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", e.Code, e.Message)
}

// Unwrap returns the context error that ended the call, or nil.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code and message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && t.Message == e.Message
}

// Errorf makes an *Error, like grpc-go's status.Errorf.
func Errorf(c Code, format string, a ...interface{}) error {
	return &Error{Code: c, Message: fmt.Sprintf(format, a...)}
}

// CodeOf returns the code of err: OK for nil, the Code of an *Error found
// with errors.As, Unknown otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Unknown
}

// HTTPStatus returns the HTTP status for err: 200 for nil, the code's
// status (CONTRACT.md; ServiceError 502) for an *Error, 500 otherwise.
func HTTPStatus(err error) int { return CodeOf(err).HTTPStatus() }

// ctxError is the error of a call that its context ended.
func ctxError(err error) *Error {
	c := Canceled
	if errors.Is(err, context.DeadlineExceeded) {
		c = DeadlineExceeded
	}
	return &Error{Code: c, Message: err.Error(), cause: err}
}

// ErrClientClosed (code Canceled) is returned by calls made after
// (*Client).Close and by the calls Close cancelled.
var ErrClientClosed = &Error{Code: Canceled, Message: "aiworker: client is closed"}
