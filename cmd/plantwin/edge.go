package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	edgeopcua "github.com/plantwin/plantwin/edge/opcua"
)

func newEdgeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "edge", Short: "The node's edge connectors; browse OPC UA servers for bindings"}
	cmd.AddCommand(newEdgeStatusCmd(), newEdgeBrowseCmd())
	return cmd
}

func newEdgeStatusCmd() *cobra.Command {
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each connector's state, last error, samples/s and reconnects",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			conn, ctx, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := pb.NewEdgeServiceClient(conn).ListConnectors(ctx, &pb.ListConnectorsRequest{})
			if err != nil {
				return callError("list connectors", o.server, err)
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, o.output, true, resp.Connectors...); done {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CONNECTOR\tPROTOCOL\tSTATE\tSINCE\tSAMPLES/S\tRECONNECTS\tERRORS\tOUTBOX\tLOST\tRESTARTS")
			for _, c := range resp.Connectors {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t%d\t%d\n", c.Name, c.Protocol, c.State, age(now, c.GetStateSince().AsTime()), c.SamplesPerSecond,
					c.Reconnects, c.ReadErrors, c.OutboxBacklog, c.OutboxLost, c.Restarts)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, c := range resp.Connectors {
				if c.LastError != "" {
					fmt.Fprintf(w, "%s: last error %s ago: %s\n", c.Name, age(now, c.GetLastErrorTime().AsTime()), c.LastError)
				}
			}
			_, err = fmt.Fprintf(w, "%d connectors\n", len(resp.Connectors))
			return err
		},
	}
	o.register(cmd, true)
	return cmd
}

// browseOptions are the flags of `edge browse`: where to start, how far
// to go, how to connect (as a connector's opcua section) and the output.
type browseOptions struct {
	root     string
	depth    int
	maxNodes int
	sec      edge.OPCUAConnector
	output   string
	timeout  time.Duration
}

func newEdgeBrowseCmd() *cobra.Command {
	o := browseOptions{sec: edge.DefaultOPCUAConnector()}
	cmd := &cobra.Command{
		Use:   "browse opc.tcp://HOST:PORT[/PATH]",
		Short: "List an OPC UA server's nodes as a tree, to find the node ids for bindings",
		Long: `Browse connects to an OPC UA server directly (no plantwin node is involved)
and walks its address space from --root along hierarchical references
(Organizes, HasComponent, HasProperty, ...), each node once. The table
shows one line per node, indented by depth: browse name (without its
namespace index, which -o json and -o yaml keep as in 2:Name), node id (as
bindings take it), node class and, for variables, data type ([] for arrays,
which bindings cannot take) and access (r, w, rw from the AccessLevel).
A STATUS column names the OPC UA status of a node whose attributes the
server would not give.

The security flags mean what the opcua section of a connector means. With
security, the server certificate must be pinned with --server-cert-sha256;
without a pin the error prints the server certificate's SHA-256 to check
and copy.`,
		Example: `  plantwin edge browse opc.tcp://10.0.0.5:4840
  plantwin edge browse opc.tcp://10.0.0.5:4840 --root "ns=2;s=Line1" --depth 3 -o json
  PLC_PASSWORD=... plantwin edge browse opc.tcp://plc:4840 --security-policy Basic256Sha256 \
      --auth username --username operator --password-env PLC_PASSWORD \
      --cert client.pem --key client.key --server-cert-sha256 ab:cd:...`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := o.validate(args[0], cmd.Flags().Changed("security-policy"))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			c, err := edgeopcua.Dial(ctx, args[0], o.sec, edgeopcua.DialOptions{Timeout: o.timeout})
			if errors.Is(err, edgeopcua.ErrPinMismatch) {
				return fmt.Errorf("%w (on the command line: --server-cert-sha256)", err)
			}
			if err != nil {
				return err
			}
			defer func() {
				cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer ccancel()
				_ = c.Close(cctx)
			}()
			var nodes []edgeopcua.BrowseNode
			err = edgeopcua.Browse(ctx, c, root, edgeopcua.BrowseOptions{MaxDepth: o.depth, MaxNodes: o.maxNodes}, func(n edgeopcua.BrowseNode) error {
				nodes = append(nodes, n)
				return nil
			})
			if err != nil && !errors.Is(err, edgeopcua.ErrTruncated) {
				return err
			}
			// Truncated: print what was found, then fail.
			if perr := printBrowse(cmd.OutOrStdout(), o.output, nodes); perr != nil {
				return perr
			}
			if err != nil {
				return fmt.Errorf("%w (--max-nodes %d)", err, o.maxNodes)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "i=85", "node to start from, as bindings write node ids (i=85 is the standard Objects folder, also ns=0;i=85)")
	f.IntVar(&o.depth, "depth", 10, "levels to descend below --root")
	f.IntVar(&o.maxNodes, "max-nodes", 100000, "stop after this many nodes (exit code 1, after printing them)")
	f.StringVar(&o.sec.SecurityPolicy, "security-policy", o.sec.SecurityPolicy, "None or Basic256Sha256")
	f.StringVar(&o.sec.SecurityMode, "security-mode", "", "None, Sign or SignAndEncrypt (default None without security, SignAndEncrypt with)")
	f.StringVar(&o.sec.Auth, "auth", o.sec.Auth, "identity: anonymous, username or certificate (--cert and --key)")
	f.StringVar(&o.sec.Username, "username", "", "user name for --auth username")
	f.StringVar(&o.sec.PasswordEnv, "password-env", "", "environment variable holding the password for --auth username")
	f.StringVar(&o.sec.CertFile, "cert", "", "client certificate (PEM or DER), needed with security and with --auth certificate")
	f.StringVar(&o.sec.KeyFile, "key", "", "RSA private key of --cert (PEM or DER)")
	f.StringVar(&o.sec.ServerCertSHA256, "server-cert-sha256", "", "pinned SHA-256 of the server certificate (64 hex digits, colons allowed); needed with security")
	f.DurationVar(&o.timeout, "timeout", time.Minute, "deadline of the whole command: connecting and browsing")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("security-policy", cobra.FixedCompletions([]string{"None", "Basic256Sha256"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("security-mode", cobra.FixedCompletions([]string{"None", "Sign", "SignAndEncrypt"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("auth", cobra.FixedCompletions([]string{"anonymous", "username", "certificate"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// validate checks the endpoint and the flags, completes the security
// settings and returns the root node id. Every error is a usage error.
func (o *browseOptions) validate(endpoint string, policySet bool) (*ua.NodeID, error) {
	if msg := checkOPCUAEndpoint(endpoint); msg != "" {
		return nil, usage(errors.New(msg))
	}
	root, err := ua.ParseNodeID(o.root)
	if strings.TrimSpace(o.root) == "" || err != nil {
		return nil, usage(fmt.Errorf("--root %q is not a node id (want i=85, ns=2;s=Line1, ns=3;i=1001, ...)", o.root))
	}
	switch {
	case o.depth < 1:
		return nil, usage(fmt.Errorf("--depth %d: want 1 or more", o.depth))
	case o.maxNodes < 1:
		return nil, usage(fmt.Errorf("--max-nodes %d: want 1 or more", o.maxNodes))
	case o.timeout <= 0:
		return nil, usage(fmt.Errorf("--timeout %v: want more than 0", o.timeout))
	}
	switch o.output {
	case "table", "json", "yaml":
	default:
		return nil, usage(fmt.Errorf("--output %q: want table, json or yaml", o.output))
	}
	s := &o.sec
	if !slices.Contains([]string{"None", "Basic256Sha256"}, s.SecurityPolicy) {
		return nil, usage(fmt.Errorf("--security-policy %q: want None or Basic256Sha256", s.SecurityPolicy))
	}
	if s.SecurityMode != "" && !slices.Contains([]string{"None", "Sign", "SignAndEncrypt"}, s.SecurityMode) {
		return nil, usage(fmt.Errorf("--security-mode %q: want None, Sign or SignAndEncrypt", s.SecurityMode))
	}
	switch {
	case s.SecurityMode == "" && s.SecurityPolicy == "None":
		s.SecurityMode = "None"
	case s.SecurityMode == "":
		s.SecurityMode = "SignAndEncrypt"
	case s.SecurityMode != "None" && s.SecurityPolicy == "None" && !policySet:
		s.SecurityPolicy = "Basic256Sha256"
	case s.SecurityMode != "None" && s.SecurityPolicy == "None":
		return nil, usage(fmt.Errorf("--security-mode %s needs --security-policy Basic256Sha256", s.SecurityMode))
	case s.SecurityMode == "None" && s.SecurityPolicy != "None":
		return nil, usage(fmt.Errorf("--security-policy %s needs --security-mode Sign or SignAndEncrypt", s.SecurityPolicy))
	}
	if !slices.Contains([]string{"anonymous", "username", "certificate"}, s.Auth) {
		return nil, usage(fmt.Errorf("--auth %q: want anonymous, username or certificate", s.Auth))
	}
	if s.Auth == "username" {
		if s.Username == "" || s.PasswordEnv == "" {
			return nil, usage(errors.New("--auth username needs --username and --password-env"))
		}
		if _, ok := os.LookupEnv(s.PasswordEnv); !ok {
			return nil, usage(fmt.Errorf("--password-env %s: the environment variable is not set", s.PasswordEnv))
		}
	} else if s.Username != "" || s.PasswordEnv != "" {
		return nil, usage(fmt.Errorf("--username and --password-env need --auth username (auth is %s)", s.Auth))
	}
	switch {
	case (s.CertFile == "") != (s.KeyFile == ""):
		return nil, usage(errors.New("--cert and --key go together"))
	case s.CertFile == "" && s.Auth == "certificate":
		return nil, usage(errors.New("--auth certificate needs --cert and --key"))
	case s.CertFile == "" && s.SecurityPolicy != "None":
		return nil, usage(fmt.Errorf("--security-policy %s needs a client certificate: --cert and --key", s.SecurityPolicy))
	}
	if s.ServerCertSHA256 != "" {
		if pin := edgeopcua.NormalizePin(s.ServerCertSHA256); len(pin) != 64 || strings.Trim(pin, "0123456789abcdef") != "" {
			return nil, usage(fmt.Errorf("--server-cert-sha256 %q: want 64 hex digits (colons allowed)", s.ServerCertSHA256))
		}
	}
	return root, nil
}

// checkOPCUAEndpoint says what is wrong with an OPC UA endpoint URL, or
// returns "".
func checkOPCUAEndpoint(s string) string {
	const form = "opc.tcp://HOST:PORT[/PATH]"
	u, err := url.Parse(s)
	if err != nil || !strings.Contains(s, "://") || u.Scheme != "opc.tcp" || u.Opaque != "" || u.Host == "" {
		return fmt.Sprintf("endpoint %q: want %s", s, form)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("endpoint %q: want %s, without credentials, query or fragment", s, form)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return fmt.Sprintf("endpoint %q needs a host and a port: %s", s, form)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return fmt.Sprintf("endpoint %q: invalid port %q (want 1..65535)", s, port)
	}
	return ""
}

// printBrowse prints the nodes of a browse as a tree table, or as a JSON
// or YAML list.
func printBrowse(w io.Writer, output string, nodes []edgeopcua.BrowseNode) error {
	switch output {
	case "json":
		var b bytes.Buffer
		b.WriteString("[")
		for i, n := range nodes {
			js, err := json.Marshal(n)
			if err != nil {
				return err
			}
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n  ")
			b.Write(js)
		}
		if len(nodes) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("]\n")
		_, err := w.Write(b.Bytes())
		return err
	case "yaml":
		if nodes == nil {
			nodes = []edgeopcua.BrowseNode{}
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(nodes); err != nil {
			return err
		}
		return enc.Close()
	}
	var tb bytes.Buffer
	tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNODE ID\tCLASS\tDATA TYPE\tACCESS\tSTATUS")
	vars := 0
	for _, n := range nodes {
		dt := n.DataType
		if n.Array {
			dt += "[]"
		}
		if n.NodeClass == "Variable" {
			vars++
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", strings.Repeat("  ", n.Depth), treeName(n), n.NodeID, n.NodeClass, dt, n.Access, n.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// tabwriter pads the empty trailing cells: trim them.
	var out strings.Builder
	for line := range strings.Lines(tb.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteString("\n")
	}
	fmt.Fprintf(&out, "%d nodes, %d variables\n", len(nodes), vars)
	_, err := io.WriteString(w, out.String())
	return err
}

// treeName is a node's label in the tree: its browse name without the
// namespace index (the node id shows it), else its display name.
func treeName(n edgeopcua.BrowseNode) string {
	name := n.BrowseName
	if i := strings.IndexByte(name, ':'); i > 0 && strings.Trim(name[:i], "0123456789") == "" {
		name = name[i+1:]
	}
	switch {
	case name != "":
		return name
	case n.DisplayName != "":
		return n.DisplayName
	}
	return "?"
}
