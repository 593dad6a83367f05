package gateway

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/twins"
)

// errorCodes is the one table mapping domain errors to gRPC codes; the
// first entry that matches (errors.Is) wins.
var errorCodes = []struct {
	err  error
	code codes.Code
}{
	{actors.ErrUnknownTwin, codes.NotFound},
	{actors.ErrUnknownMember, codes.NotFound},
	{actors.ErrNotDrainable, codes.FailedPrecondition},
	{twins.ErrUnknownProperty, codes.InvalidArgument},
	{twins.ErrInvalidValue, codes.InvalidArgument},
	{twins.ErrNotWritable, codes.FailedPrecondition},
	{twins.ErrVersionConflict, codes.Aborted},
	{actors.ErrClosed, codes.Unavailable},
	{actors.ErrOverloaded, codes.ResourceExhausted},
	{actors.ErrUnavailable, codes.Unavailable},
	{actors.ErrTimeout, codes.DeadlineExceeded},
	{actors.ErrJournalTrimmed, codes.OutOfRange},
	{persistence.ErrClosed, codes.Unavailable},
	{persistence.ErrFenced, codes.Aborted},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// toStatus converts a domain error into a gRPC status error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// withField converts err like toStatus and names the request field it is
// about in the message.
func withField(field string, err error) error {
	st := status.Convert(toStatus(err))
	return status.Error(st.Code(), field+": "+st.Message())
}

// invalid reports a bad request field.
func invalid(field, msg string) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, msg)
}
