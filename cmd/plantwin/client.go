package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/gateway/auth"
)

// clientOptions are the connection and output flags shared by the client
// commands (twins, backup). PLANTWIN_SERVER and PLANTWIN_TOKEN give
// defaults, so tokens need not appear in shell history.
type clientOptions struct {
	server  string
	token   string
	tls     bool
	ca      string
	cert    string
	key     string
	output  string
	timeout time.Duration
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (o *clientOptions) register(cmd *cobra.Command, outputs bool) {
	f := cmd.Flags()
	f.StringVar(&o.server, "server", envOr("PLANTWIN_SERVER", "127.0.0.1:7070"), "node gRPC address (env PLANTWIN_SERVER)")
	f.StringVar(&o.token, "token", os.Getenv("PLANTWIN_TOKEN"), "bearer token (env PLANTWIN_TOKEN)")
	f.BoolVar(&o.tls, "tls", false, "use TLS, verifying the server against the system roots (implied by --ca)")
	f.StringVar(&o.ca, "ca", "", "PEM CA certificate to verify the server with (turns TLS on)")
	f.StringVar(&o.cert, "cert", "", "PEM client certificate for mutual TLS (with --key)")
	f.StringVar(&o.key, "key", "", "PEM private key of --cert")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline of the whole command (watch: of each call)")
	if outputs {
		f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
		_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	}
}

func (o *clientOptions) validate() error {
	switch o.output {
	case "", "table", "json", "yaml":
		return nil
	}
	return usage(fmt.Errorf("--output %q: want table, json or yaml", o.output))
}

// dial connects to --server with the TLS and token settings.
func (o *clientOptions) dial() (*grpc.ClientConn, error) {
	useTLS := o.tls || o.ca != "" || o.cert != ""
	var opts []grpc.DialOption
	if useTLS {
		tc, err := auth.ClientTLS(o.ca, o.cert, o.key)
		if err != nil {
			return nil, usage(err)
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		if o.key != "" {
			return nil, usage(errors.New("--key needs --cert"))
		}
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if o.token != "" {
		if !useTLS {
			host, _, _ := net.SplitHostPort(o.server)
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return nil, usage(fmt.Errorf("refusing to send a token in clear text to %s: pass --ca (or --tls) to use TLS", o.server))
			}
		}
		opts = append(opts, grpc.WithPerRPCCredentials(auth.PerRPCToken(o.token, !useTLS)))
	}
	conn, err := grpc.NewClient(o.server, opts...)
	if err != nil {
		return nil, usage(fmt.Errorf("--server %s: %w", o.server, err))
	}
	return conn, nil
}

func (o *clientOptions) context(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, o.timeout)
}

// connect dials --server and returns the connection, a context bounded by
// --timeout, and the function that releases both.
func (o *clientOptions) connect(parent context.Context) (*grpc.ClientConn, context.Context, func(), error) {
	conn, err := o.dial()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := o.context(parent)
	return conn, ctx, func() { cancel(); conn.Close() }, nil
}

// jsonOpts prints every field, zero values included; int64 as strings.
var jsonOpts = protojson.MarshalOptions{EmitUnpopulated: true}

// marshalJSON renders m as protojson with stable indentation (protojson
// itself varies its whitespace on purpose).
func marshalJSON(m proto.Message, indent string) ([]byte, error) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if indent == "" {
		err = json.Compact(&out, b)
	} else {
		err = json.Indent(&out, b, "", indent)
	}
	return out.Bytes(), err
}

// printJSON prints one message as indented JSON.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := marshalJSON(m, "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// printJSONArray prints messages as a JSON array, one per line.
func printJSONArray[M proto.Message](w io.Writer, ms []M) error {
	if len(ms) == 0 {
		_, err := fmt.Fprintln(w, "[]")
		return err
	}
	var b strings.Builder
	b.WriteString("[\n")
	for i, m := range ms {
		js, err := marshalJSON(m, "")
		if err != nil {
			return err
		}
		b.WriteString("  ")
		b.Write(js)
		if i < len(ms)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// toYAML renders a message (or a list of them) as YAML with the same
// field names and values as the JSON output.
func toYAML(ms ...proto.Message) (any, error) {
	var out []any
	for _, m := range ms {
		b, err := jsonOpts.Marshal(m)
		if err != nil {
			return nil, err
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// printYAML prints one message, or a list when list is true.
func printYAML[M proto.Message](w io.Writer, list bool, ms ...M) error {
	pm := make([]proto.Message, len(ms))
	for i, m := range ms {
		pm[i] = m
	}
	v, err := toYAML(pm...)
	if err != nil {
		return err
	}
	var doc any = v
	if !list {
		doc = v.([]any)[0]
	} else if len(ms) == 0 {
		doc = []any{}
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

// printStructured prints ms as JSON or YAML when --output asks for one of
// them (list: an array, else the single message) and reports whether it
// did; the caller prints its table otherwise.
func printStructured[M proto.Message](w io.Writer, output string, list bool, ms ...M) (bool, error) {
	switch output {
	case "json":
		if list {
			return true, printJSONArray(w, ms)
		}
		return true, printJSON(w, ms[0])
	case "yaml":
		return true, printYAML(w, list, ms...)
	}
	return false, nil
}
