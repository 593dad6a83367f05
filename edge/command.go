package edge

import (
	"context"
	"errors"
	"fmt"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/twins"
)

// Arg is one argument of a command: a parameter of the model's command
// and its value. Connectors receive them in the order of the model's
// parameters.
type Arg struct {
	Name  string
	Value twins.Value
}

// Commander carries a twin's desired values and commands to its device.
// Every connector implements it for the writes and commands its bindings
// declare. Both calls return when the device has taken the write or
// answered the command, or with an error: ErrNotConnected while the
// device is unreachable (the caller decides whether to wait and retry),
// ErrNotBound for a property or command without a binding, the context's
// error, or the device's refusal.
type Commander interface {
	// Write writes a desired value of a writable property.
	Write(ctx context.Context, twinID, property string, v twins.Value) error
	// Command carries out a command with its arguments.
	Command(ctx context.Context, twinID, command string, args []Arg) error
}

// Errors every Commander may return (wrapped with details).
var (
	ErrNotConnected = errors.New("device not connected")
	ErrNotBound     = errors.New("no binding for this write or command")
	ErrStopped      = errors.New("connector stopped")
)

// Device returns the node's edge host as the runtime's actors.Device: it
// carries one attempt of a twin's command or desired-value write to the
// device and classifies the outcome for the twin. An unreachable device or
// a restarting connector is worth another attempt; a refusal, a missing
// binding or no answer in time is not (after a timeout the device may have
// acted, so sending again could act twice).
// A Commander that is not a Host reconciles desired values when it has a
// method Writes(twinID, property string) bool saying which it writes.
func Device(c Commander) actors.Device { return hostDevice{c} }

type hostDevice struct{ h Commander }

func (d hostDevice) Writes(twinID, property string) bool {
	w, ok := d.h.(interface {
		Writes(twinID, property string) bool
	})
	return ok && w.Writes(twinID, property)
}

func (d hostDevice) Do(ctx context.Context, twinID string, cmd twins.CommandRecord) (bool, error) {
	var err error
	if cmd.Property != "" && len(cmd.Args) == 1 {
		err = d.h.Write(ctx, twinID, cmd.Property, cmd.Args[0].Value)
	} else {
		args := make([]Arg, len(cmd.Args))
		for i, a := range cmd.Args {
			args[i] = Arg{Name: a.Name, Value: a.Value}
		}
		err = d.h.Command(ctx, twinID, cmd.Name, args)
	}
	if err == nil {
		return false, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false, fmt.Errorf("no answer from the device within %s: %w", cmd.Timeout, err)
	}
	return errors.Is(err, ErrNotConnected) || errors.Is(err, ErrStopped), err
}
