package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
)

// The operator's subcommands of `plantwin twins`: commands, alarms and the
// audit trail.

// commandMargin is how much longer than --ttl + --timeout `twins cmd`
// waits for its answer, so the node answers before the call gives up.
const commandMargin = 5 * time.Second

func newTwinsCmdCmd() *cobra.Command {
	o := clientOptions{}
	var key string
	var ttl time.Duration
	var noWait bool
	cmd := &cobra.Command{
		Use:   "cmd TWIN_ID COMMAND [ARG=VALUE...] [--timeout 10s] [--ttl 60s] [--no-wait]",
		Short: "Ask a twin to carry out a command and wait for the outcome",
		Long: `Ask a twin to carry out one of its model's commands (plantwin models get
MODEL lists them with their parameters). Arguments are parsed by the
parameter's type, as twins set parses values: true/false, integers,
decimals, strings, enum symbols.

The command waits until the device has carried the command out, failed it,
or it timed out: each attempt may take --timeout, and a command the device
cannot take (offline) waits at most --ttl. With --no-wait it returns once
the node has accepted the command; follow it with plantwin twins commands.
An interlock (an active alarm whose rule blocks the command) fails it at
once. The exit status is 1 when the command failed or timed out.

Pass --idempotency-key to make a retry safe: a repeated key returns the
first command and does not carry it out again.`,
		Example: `  plantwin twins cmd pump-L1-01 stop reason="seal leak" --idempotency-key shift2-stop-1`,
		Args:    usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			attempt := o.timeout
			if attempt <= 0 || ttl <= 0 {
				return usage(errors.New("--timeout and --ttl must be positive"))
			}
			raw, err := splitCommandArgs(args[2:])
			if err != nil {
				return err
			}
			conn, err := o.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), ttl+attempt+commandMargin)
			defer cancel()
			tc := pb.NewTwinServiceClient(conn)
			t, err := tc.GetTwin(ctx, &pb.GetTwinRequest{Id: args[0]})
			if err != nil {
				return callError("get twin "+args[0], o.server, err)
			}
			m, err := pb.NewModelServiceClient(conn).GetModel(ctx, &pb.GetModelRequest{Name: t.Model})
			if err != nil {
				return callError("get model "+t.Model, o.server, err)
			}
			values, err := typeCommandArgs(m, args[1], raw)
			if err != nil {
				return err
			}
			c, err := tc.InvokeCommand(ctx, &pb.InvokeCommandRequest{
				TwinId:         args[0],
				Command:        args[1],
				Args:           values,
				IdempotencyKey: key,
				Timeout:        durationpb.New(attempt),
				Ttl:            durationpb.New(ttl),
				Wait:           !noWait,
			})
			if err != nil {
				return callError("invoke "+args[1]+" on "+args[0], o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, false, c); done {
				if err != nil {
					return err
				}
			} else if err := printCommand(w, c); err != nil {
				return err
			}
			return commandOutcome(c)
		},
	}
	o.register(cmd, true)
	// The shared --timeout bounds a whole call; here it is the command's
	// own per-attempt timeout, and the call waits for all of it.
	to := cmd.Flags().Lookup("timeout")
	to.Usage = "how long the device has for each attempt (the call waits up to --ttl + --timeout + 5s)"
	to.DefValue = "10s"
	_ = to.Value.Set(to.DefValue)
	f := cmd.Flags()
	f.StringVar(&key, "idempotency-key", "", "a key that makes a retry safe: a repeated key returns the first command")
	f.DurationVar(&ttl, "ttl", 60*time.Second, "how long the command may wait for an offline device before it times out")
	f.BoolVar(&noWait, "no-wait", false, "return once the node has accepted the command, without waiting for the outcome")
	cmd.ValidArgsFunction = completeTwinIDs(&o)
	return cmd
}

// splitCommandArgs splits ARG=VALUE arguments, refusing malformed and
// repeated ones.
func splitCommandArgs(args []string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return nil, usage(fmt.Errorf("argument %q has no value: want ARG=VALUE, e.g. %s=VALUE", a, a))
		case k == "":
			return nil, usage(fmt.Errorf("argument %q has no name: want ARG=VALUE", a))
		}
		if _, dup := out[k]; dup {
			return nil, usage(fmt.Errorf("argument %s given twice", k))
		}
		out[k] = v
	}
	return out, nil
}

// typeCommandArgs parses the raw arguments of command name of model m,
// each by its parameter's type, the way `twins set` parses values.
func typeCommandArgs(m *pb.Model, name string, raw map[string]string) (map[string]*pb.Value, error) {
	var spec *pb.CommandSpec
	have := make([]string, 0, len(m.Commands))
	for _, c := range m.Commands {
		have = append(have, c.Name)
		if c.Name == name {
			spec = c
		}
	}
	if spec == nil {
		return nil, usage(fmt.Errorf("model %s has no command %q (it has: %s)", m.Name, name, namesOrNone(have)))
	}
	params := map[string]*pb.ParameterSpec{}
	have = have[:0]
	for _, p := range spec.Parameters {
		params[p.Name] = p
		have = append(have, p.Name)
	}
	out := make(map[string]*pb.Value, len(raw))
	for k, text := range raw {
		p, ok := params[k]
		if !ok {
			return nil, usage(fmt.Errorf("command %s has no parameter %q (it has: %s)", name, k, namesOrNone(have)))
		}
		// parseValue reads a model property's type; hand it the parameter
		// as a one-property model so both parse text the same way.
		v, err := parseValue(&pb.Model{Name: m.Name, Properties: []*pb.PropertySpec{{Name: p.Name, Type: p.Type}}}, k, text)
		if err != nil {
			return nil, usage(err)
		}
		out[k] = v
	}
	for _, p := range spec.Parameters {
		if _, ok := raw[p.Name]; p.Required && !ok {
			typ := strings.ToLower(strings.TrimPrefix(p.Type.String(), "VALUE_TYPE_"))
			return nil, usage(fmt.Errorf("command %s needs argument %s (%s), e.g. %s=VALUE", name, p.Name, typ, p.Name))
		}
	}
	return out, nil
}

func namesOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	names = append([]string(nil), names...)
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// commandOutcome is the error `twins cmd` exits with: exit status 1 when
// the command failed or timed out, nil otherwise (also while unfinished).
func commandOutcome(c *pb.Command) error {
	var what string
	switch c.Status {
	case "failed":
		what = "failed"
	case "timed_out":
		what = "timed out"
	default:
		return nil
	}
	err := fmt.Errorf("command %s %s", c.Id, what)
	if c.Error != "" {
		err = fmt.Errorf("command %s %s: %s", c.Id, what, c.Error)
	}
	// An explicit code: the device's text must not read as a usage error.
	return &exitError{code: 1, err: err}
}

func newTwinsCommandsCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "commands TWIN_ID",
		Short: "List a twin's unfinished and recent commands, oldest first",
		Long: `List the commands of a twin that have not finished yet and its most recent
finished ones, oldest first: who invoked them, their status (pending,
dispatched, succeeded, failed, timed_out), attempts and error.`,
		Example: `  plantwin twins commands pump-L1-01`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewTwinServiceClient(conn).ListCommands(ctx, &pb.ListCommandsRequest{TwinId: args[0]})
			if err != nil {
				return callError("list commands of "+args[0], o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, true, resp.Commands...); done {
				return err
			}
			return printCommands(w, resp.Commands)
		},
	}
	o.register(cmd, true)
	cmd.ValidArgsFunction = completeTwinIDs(&o)
	return cmd
}

func newTwinsAlarmsCmd() *cobra.Command {
	o := clientOptions{}
	var active bool
	cmd := &cobra.Command{
		Use:   "alarms [TWIN_ID] [--active]",
		Short: "List alarms that are not normal or are shelved, most severe first",
		Long: `List the alarms of one twin, or of every twin, that are not normal or are
shelved, most severe first. STATE is active_unacked, active_acked or
cleared_unacked; ID (TWIN/RULE) is what twins ack and twins shelve take.
With --active, only alarms whose condition holds now.`,
		Example: `  plantwin twins alarms --active`,
		Args:    usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			req := &pb.ListAlarmsRequest{ActiveOnly: active}
			what := "list alarms"
			if len(args) == 1 {
				req.TwinId = args[0]
				what += " of " + args[0]
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewTwinServiceClient(conn).ListAlarms(ctx, req)
			if err != nil {
				return callError(what, o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, true, resp.Alarms...); done {
				return err
			}
			return printAlarms(w, resp.Alarms)
		},
	}
	o.register(cmd, true)
	cmd.Flags().BoolVar(&active, "active", false, "only alarms whose condition holds now")
	cmd.ValidArgsFunction = completeTwinIDs(&o)
	return cmd
}

// checkAlarmID checks the form TWIN/RULE of an alarm id.
func checkAlarmID(id string) error {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 || i == len(id)-1 {
		return usage(fmt.Errorf("alarm %q: want TWIN/RULE, e.g. pump-L1-01/overheat (the ID column of twins alarms)", id))
	}
	return nil
}

func newTwinsAckCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "ack ALARM_ID",
		Short: "Acknowledge an alarm (ALARM_ID is TWIN/RULE, as twins alarms lists it)",
		Long: `Acknowledge an alarm: an active alarm becomes active_acked, a cleared one
returns to normal. ALARM_ID is TWIN/RULE, as twins alarms lists it. Fails
(FailedPrecondition) when there is nothing to acknowledge. Who acknowledged
is recorded in the twin's audit trail.`,
		Example: `  plantwin twins ack pump-L1-01/overheat`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if err := checkAlarmID(args[0]); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			a, err := pb.NewTwinServiceClient(conn).AcknowledgeAlarm(ctx, &pb.AcknowledgeAlarmRequest{AlarmId: args[0]})
			if err != nil {
				return callError("acknowledge alarm "+args[0], o.server, err)
			}
			return printAlarmChange(cmd.OutOrStdout(), o.output, a, "acknowledged")
		},
	}
	o.register(cmd, true)
	return cmd
}

func newTwinsShelveCmd() *cobra.Command {
	o := clientOptions{}
	var dur time.Duration
	var reason string
	cmd := &cobra.Command{
		Use:   "shelve ALARM_ID --for 1h [--reason TEXT]",
		Short: "Shelve an alarm for a while: still tracked, not annunciated",
		Long: `Shelve an alarm for the time given with --for: it is still tracked and
listed, but not annunciated, until the time runs out or twins unshelve.
ALARM_ID is TWIN/RULE, as twins alarms lists it. Who shelved it and the
reason are recorded in the twin's audit trail.`,
		Example: `  plantwin twins shelve pump-L1-01/overheat --for 2h --reason "sensor replaced, recalibrating"`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if err := checkAlarmID(args[0]); err != nil {
				return err
			}
			if dur <= 0 {
				return usage(errors.New("--for: want how long to shelve, e.g. --for 1h (to unshelve: plantwin twins unshelve)"))
			}
			return shelve(cmd, &o, args[0], dur, reason)
		},
	}
	o.register(cmd, true)
	cmd.Flags().DurationVar(&dur, "for", 0, "how long the alarm stays shelved, e.g. 30m or 8h (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}

func newTwinsUnshelveCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:     "unshelve ALARM_ID",
		Short:   "Unshelve an alarm: annunciate it again",
		Long:    `Unshelve an alarm before its shelving runs out. ALARM_ID is TWIN/RULE, as twins alarms lists it.`,
		Example: `  plantwin twins unshelve pump-L1-01/overheat`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if err := checkAlarmID(args[0]); err != nil {
				return err
			}
			return shelve(cmd, &o, args[0], 0, "")
		},
	}
	o.register(cmd, true)
	return cmd
}

// shelve shelves alarm id for d, or unshelves it when d is 0.
func shelve(cmd *cobra.Command, o *clientOptions, id string, d time.Duration, reason string) error {
	conn, ctx, done, err := o.connect(cmd.Context())
	if err != nil {
		return err
	}
	defer done()
	verb, action := "shelve", "shelved"
	if d == 0 {
		verb, action = "unshelve", "unshelved"
	}
	a, err := pb.NewTwinServiceClient(conn).ShelveAlarm(ctx, &pb.ShelveAlarmRequest{AlarmId: id, Duration: durationpb.New(d), Reason: reason})
	if err != nil {
		return callError(verb+" alarm "+id, o.server, err)
	}
	return printAlarmChange(cmd.OutOrStdout(), o.output, a, action)
}

func newTwinsAuditCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "audit TWIN_ID",
		Short: "Show who commanded, set, acknowledged or shelved what on a twin",
		Long: `Show a twin's audit trail, newest last: who invoked commands, set desired
values, and acknowledged, shelved or unshelved alarms, at which twin
version and when.`,
		Example: `  plantwin twins audit pump-L1-01`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewTwinServiceClient(conn).GetAudit(ctx, &pb.GetAuditRequest{TwinId: args[0]})
			if err != nil {
				return callError("audit of "+args[0], o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, true, resp.Entries...); done {
				return err
			}
			return printAudit(w, resp.Entries)
		},
	}
	o.register(cmd, true)
	cmd.ValidArgsFunction = completeTwinIDs(&o)
	return cmd
}

// tableTime renders a time for a table: UTC RFC 3339 to the second, "-"
// when unset.
func tableTime(ts *timestamppb.Timestamp) string {
	if ts == nil || (ts.Seconds == 0 && ts.Nanos == 0) {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// cell renders free text (a device's error, an alarm message) as one table
// cell: "-" when empty, tabs and line breaks as spaces.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.Fields(s), " ")
}

// printCommand prints the command `twins cmd` invoked.
func printCommand(w io.Writer, c *pb.Command) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tATTEMPTS\tERROR")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", c.Id, c.Name, c.Status, c.Attempts, cell(c.Error))
	return tw.Flush()
}

func printCommands(w io.Writer, cs []*pb.Command) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tINVOKED_BY\tCREATED\tATTEMPTS\tERROR")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Id, c.Name, c.Status, cell(c.InvokedBy), tableTime(c.CreatedAt), c.Attempts, cell(c.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d commands\n", len(cs))
	return err
}

// alarmID is the TWIN/RULE id of a, built if the node left it out.
func alarmID(a *pb.Alarm) string {
	if a.Id != "" {
		return a.Id
	}
	return a.TwinId + "/" + a.Name
}

// shelvedText renders whether and until when a is shelved.
func shelvedText(a *pb.Alarm) string {
	switch {
	case !a.Shelved:
		return "no"
	case a.ShelvedUntil == nil:
		return "yes"
	}
	return "until " + tableTime(a.ShelvedUntil)
}

func printAlarms(w io.Writer, as []*pb.Alarm) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tSTATE\tSHELVED\tRAISED\tMESSAGE")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", alarmID(a), a.Severity, a.State, shelvedText(a), tableTime(a.RaisedAt), cell(a.Message))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d alarms\n", len(as))
	return err
}

// printAlarmChange prints an alarm after ack, shelve or unshelve, as a
// line or as JSON or YAML.
func printAlarmChange(w io.Writer, output string, a *pb.Alarm, action string) error {
	if done, err := printStructured(w, output, false, a); done {
		return err
	}
	_, err := fmt.Fprintln(w, alarmChangeLine(a, action))
	return err
}

// alarmChangeLine states an alarm's state after action (acknowledged,
// shelved or unshelved) in a line.
func alarmChangeLine(a *pb.Alarm, action string) string {
	line := alarmID(a) + ": " + a.State
	switch {
	case action == "acknowledged":
		line += ", acknowledged"
		if a.AckedBy != "" {
			line += " by " + a.AckedBy
		}
	case a.Shelved:
		line += ", shelved " + shelvedText(a)
		if a.ShelvedBy != "" {
			line += " by " + a.ShelvedBy
		}
		if a.ShelveReason != "" {
			line += " (" + cell(a.ShelveReason) + ")"
		}
	default:
		line += ", not shelved"
	}
	return line
}

func printAudit(w io.Writer, es []*pb.AuditEntry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tTIME\tACTOR\tACTION\tDETAIL")
	for _, e := range es {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Version, tableTime(e.Time), cell(e.Actor), e.Action, cell(e.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d entries\n", len(es))
	return err
}
