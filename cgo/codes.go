package aiworker

/*
#include "aiwgo.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Code is a status code, numbered and named as gRPC's (and grpc-go's codes
// package), plus ServiceError for an answer with success=false. The values
// are libaiw's aiw_code constants (0..16 are gRPC's), taken from aiw.h.
type Code uint32

// The codes, from aiw.h.
const (
	OK                 Code = C.AIW_OK
	Canceled           Code = C.AIW_CANCELLED
	Unknown            Code = C.AIW_UNKNOWN
	InvalidArgument    Code = C.AIW_INVALID_ARGUMENT
	DeadlineExceeded   Code = C.AIW_DEADLINE_EXCEEDED
	NotFound           Code = C.AIW_NOT_FOUND
	AlreadyExists      Code = C.AIW_ALREADY_EXISTS
	PermissionDenied   Code = C.AIW_PERMISSION_DENIED
	ResourceExhausted  Code = C.AIW_RESOURCE_EXHAUSTED
	FailedPrecondition Code = C.AIW_FAILED_PRECONDITION
	Aborted            Code = C.AIW_ABORTED
	OutOfRange         Code = C.AIW_OUT_OF_RANGE
	Unimplemented      Code = C.AIW_UNIMPLEMENTED
	Internal           Code = C.AIW_INTERNAL
	Unavailable        Code = C.AIW_UNAVAILABLE
	DataLoss           Code = C.AIW_DATA_LOSS
	Unauthenticated    Code = C.AIW_UNAUTHENTICATED
	// ServiceError: the RPC succeeded but the service answered
	// success=false; the response is returned together with the error, whose
	// Message is the service's error text. HTTP 502.
	ServiceError Code = C.AIW_SERVICE_ERROR
)

// codeNames, cNames and httpStatus are derived once from libaiw's own tables
// (aiw_code_name, aiw_http_status): the names in grpc-go's spelling, the
// HTTP statuses as CONTRACT.md maps them.
var codeNames, cNames, httpStatus = codeTables()

func codeTables() ([]string, []string, []int) {
	n := int(ServiceError) + 1
	names, cnames, statuses := make([]string, n), make([]string, n), make([]int, n)
	for c := 0; c < n; c++ {
		cnames[c] = C.GoString(C.aiw_code_name(C.int(c)))
		names[c] = goCodeName(cnames[c])
		statuses[c] = int(C.aiw_http_status(C.int(c)))
	}
	return names, cnames, statuses
}

// goCodeName turns libaiw's name ("DEADLINE_EXCEEDED") into grpc-go's
// ("DeadlineExceeded"); grpc-go keeps "OK" and spells CANCELLED with one L.
func goCodeName(cName string) string {
	switch cName {
	case "OK":
		return "OK"
	case "CANCELLED":
		return "Canceled"
	}
	var b strings.Builder
	for _, word := range strings.Split(cName, "_") {
		if word == "" {
			continue
		}
		b.WriteString(word[:1])
		b.WriteString(strings.ToLower(word[1:]))
	}
	return b.String()
}

// String returns the name as grpc-go prints it ("OK", "Canceled",
// "DeadlineExceeded", ...; "ServiceError"), or "Code(N)".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.FormatInt(int64(c), 10) + ")"
}

// CodeName returns the code's name as CONTRACT.md and libaiw spell it
// ("OK", "CANCELLED", "DEADLINE_EXCEEDED", ..., "SERVICE_ERROR"; libaiw's
// aiw_code_name), the names the gateway and the CLI print; String gives
// grpc-go's spelling instead.
func CodeName(c Code) string {
	if int(c) < len(cNames) {
		return cNames[c]
	}
	return "UNKNOWN"
}

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
	details []byte // the serialized google.rpc.Status of grpc-status-details-bin, or nil
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
