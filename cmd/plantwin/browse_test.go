package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/simulations"
)

// runBrowse runs `plantwin edge browse ARGS` and returns its stdout,
// its stderr and its exit code.
func runBrowse(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, append([]string{"edge", "browse"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), exitCode(err)
}

// startPress starts a simulated press with variables of four types.
func startPress(t *testing.T, opts ...simulations.OPCUAOption) *simulations.OPCUAServer {
	t.Helper()
	srv := simulations.NewOPCUAServer(opts...)
	for _, v := range []struct {
		name string
		val  any
	}{
		{"Press01.Temperature", 21.5},
		{"Press01.Strokes", int32(12)},
		{"Press01.Running", true},
		{"Press01.Recipe", "B-7"},
	} {
		if err := srv.AddVariable(v.name, v.val); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func TestEdgeBrowse(t *testing.T) {
	srv := startPress(t)

	out, errOut, code := runBrowse(t, srv.Endpoint())
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{
		`^NODE +NODE ID +CLASS +DATA TYPE +ACCESS +STATUS$`,
		`^Objects +i=85 +Object$`,
		`^  Server +i=2253 +Object$`,
		`^  Simulation +ns=2;i=85 +Object$`,
		`^    Press01\.Temperature +ns=2;s=Press01\.Temperature +Variable +Double +rw$`,
		`^    Press01\.Strokes +ns=2;s=Press01\.Strokes +Variable +Int32 +rw$`,
		`^    Press01\.Running +ns=2;s=Press01\.Running +Variable +Boolean +rw$`,
		`^    Press01\.Recipe +ns=2;s=Press01\.Recipe +Variable +String +rw$`,
		`^\d+ nodes, \d+ variables$`,
	} {
		if !regexp.MustCompile("(?m)" + re).MatchString(out) {
			t.Errorf("no line matches %s", re)
		}
	}
	// The node ids form one column, where the header says.
	lines := strings.Split(out, "\n")
	col := strings.Index(lines[0], "NODE ID")
	for _, l := range lines[1:] {
		if i := strings.Index(l, " i=85 "); strings.HasPrefix(l, "Objects") && i+1 != col {
			t.Errorf("node id of %q at column %d, want %d", l, i+1, col)
		}
		if i := strings.Index(l, "ns=2;"); i >= 0 && i != col {
			t.Errorf("node id of %q at column %d, want %d", l, i, col)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}

	// JSON: the nodes with lowercase keys, and --depth.
	out, errOut, code = runBrowse(t, srv.Endpoint(), "-o", "json", "--depth", "2")
	var nodes []map[string]any
	if err := json.Unmarshal([]byte(out), &nodes); code != 0 || err != nil {
		t.Fatalf("-o json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	want := map[string]any{"depth": 2.0, "node_id": "ns=2;s=Press01.Temperature", "browse_name": "2:Press01.Temperature", "display_name": "Press01.Temperature",
		"node_class": "Variable", "data_type": "Double", "array": false, "access": "rw", "status": ""}
	found := false
	for _, n := range nodes {
		if d := n["depth"].(float64); d > 2 {
			t.Errorf("node at depth %v with --depth 2: %v", d, n)
		}
		if n["node_id"] == want["node_id"] {
			found = fmt.Sprint(n) == fmt.Sprint(want)
			if !found {
				t.Errorf("JSON node %v, want %v", n, want)
			}
		}
	}
	if !found || nodes[0]["node_id"] != "i=85" {
		t.Errorf("-o json lacks the root or %s:\n%s", want["node_id"], out)
	}

	// YAML from another root.
	out, errOut, code = runBrowse(t, srv.Endpoint(), "-o", "yaml", "--root", "ns=2;s=Press01.Strokes")
	var ynodes []map[string]any
	if err := yaml.Unmarshal([]byte(out), &ynodes); code != 0 || err != nil || len(ynodes) != 1 || ynodes[0]["data_type"] != "Int32" || ynodes[0]["depth"] != 0 {
		t.Fatalf("-o yaml: exit %d, %v\n%s%s", code, err, out, errOut)
	}

	// A root the server does not know fails.
	out, errOut, code = runBrowse(t, srv.Endpoint(), "--root", "ns=0;i=999999")
	if code != 1 || !strings.Contains(errOut, "browse i=999999: the server does not know the node") || out != "" {
		t.Errorf("unknown root: exit %d\n%s%s", code, out, errOut)
	}

	// The node limit prints what it found and fails.
	out, errOut, code = runBrowse(t, srv.Endpoint(), "--max-nodes", "3")
	if code != 1 || !strings.Contains(errOut, "node limit") || !strings.Contains(errOut, "--max-nodes 3") || !strings.Contains(out, "3 nodes, ") {
		t.Errorf("--max-nodes 3: exit %d\n%s%s", code, out, errOut)
	}
}

func TestEdgeBrowseUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no scheme", []string{"127.0.0.1:4840"}, `endpoint "127.0.0.1:4840": want opc.tcp://HOST:PORT[/PATH]`},
		{"wrong scheme", []string{"tcp://127.0.0.1:4840"}, `want opc.tcp://HOST:PORT[/PATH]`},
		{"no port", []string{"opc.tcp://127.0.0.1"}, `needs a host and a port`},
		{"no endpoint", nil, `accepts 1 arg(s), received 0`},
		{"bad root", []string{"opc.tcp://127.0.0.1:4840", "--root", "ns=x;i=1"}, `--root "ns=x;i=1" is not a node id`},
		{"empty root", []string{"opc.tcp://127.0.0.1:4840", "--root", ""}, `--root "" is not a node id`},
		{"bad depth", []string{"opc.tcp://127.0.0.1:4840", "--depth", "0"}, `--depth 0: want 1 or more`},
		{"bad output", []string{"opc.tcp://127.0.0.1:4840", "-o", "xml"}, `--output "xml"`},
		{"security without certificate", []string{"opc.tcp://127.0.0.1:4840", "--security-policy", "Basic256Sha256"}, `needs a client certificate`},
		{"policy and mode None", []string{"opc.tcp://127.0.0.1:4840", "--security-policy", "Basic256Sha256", "--security-mode", "None"}, `needs --security-mode Sign or SignAndEncrypt`},
		{"username without password", []string{"opc.tcp://127.0.0.1:4840", "--auth", "username", "--username", "op"}, `needs --username and --password-env`},
		{"bad pin", []string{"opc.tcp://127.0.0.1:4840", "--server-cert-sha256", "abc"}, `--server-cert-sha256 "abc": want 64 hex digits`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runBrowse(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
				t.Errorf("exit %d, want 2 and %q\nstdout: %s\nstderr: %s", code, tc.want, out, errOut)
			}
		})
	}
}

func TestEdgeBrowseConnectionErrors(t *testing.T) {
	// Nothing listens on a port just freed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "opc.tcp://" + l.Addr().String()
	l.Close()
	out, errOut, code := runBrowse(t, closed, "--timeout", "10s")
	if code != 1 || !strings.Contains(errOut, "get endpoints of "+closed) {
		t.Errorf("closed port: exit %d, want 1\n%s%s", code, out, errOut)
	}

	// A secure server, pinned wrongly, rightly, and not at all.
	dir := t.TempDir()
	srvCert, err := simulations.NewOPCUACertificate("urn:plantwin:test:press", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := simulations.NewOPCUACertificate("urn:plantwin:test:impostor", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := simulations.NewOPCUACertificate("urn:plantwin:test:cli", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := client.WriteFiles(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	srv := startPress(t, simulations.OPCUASecurity(srvCert.DER, srvCert.Key, false))
	secure := []string{srv.Endpoint(), "--security-policy", "Basic256Sha256", "--cert", certFile, "--key", keyFile}

	out, errOut, code = runBrowse(t, append(secure, "--server-cert-sha256", other.SHA256())...)
	if code != 1 || !strings.Contains(errOut, "does not match") || out != "" {
		t.Errorf("wrong pin: exit %d, want 1 and \"does not match\"\n%s%s", code, out, errOut)
	}
	out, errOut, code = runBrowse(t, append(secure, "--server-cert-sha256", strings.ToUpper(colonsOf(srvCert.SHA256())), "--depth", "2")...)
	if code != 0 || !regexp.MustCompile(`(?m)^    Press01\.Strokes +ns=2;s=Press01\.Strokes +Variable +Int32 +rw$`).MatchString(out) {
		t.Errorf("right pin: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runBrowse(t, secure...)
	if code != 1 || !strings.Contains(errOut, "needs server_cert_sha256") || !strings.Contains(errOut, colonsOf(srvCert.SHA256())) {
		t.Errorf("no pin: exit %d, want 1 and the server's fingerprint\n%s%s", code, out, errOut)
	}
	// Security None from a server that offers only Basic256Sha256.
	out, errOut, code = runBrowse(t, srv.Endpoint())
	if code != 1 || !strings.Contains(errOut, "no matching endpoint") {
		t.Errorf("security None: exit %d, want 1\n%s%s", code, out, errOut)
	}
}

// colonsOf writes a fingerprint as ab:cd:..., as tools show it.
func colonsOf(fp string) string {
	var parts []string
	for i := 0; i+1 < len(fp); i += 2 {
		parts = append(parts, fp[i:i+2])
	}
	return strings.Join(parts, ":")
}
