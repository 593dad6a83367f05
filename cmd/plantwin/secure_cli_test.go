package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plantwin/plantwin/gateway/auth/authtest"
)

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// lastLine returns the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestSecureNodeAndCLI runs a demo node with TLS, mutual TLS and tokens,
// and drives it with the CLI: token create, list, get, set, history, watch.
func TestSecureNodeAndCLI(t *testing.T) {
	dir := t.TempDir()
	pki, err := authtest.NewPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.yaml")
	out, err := runCLI(t, "token", "create", "--role", "viewer", "--name", "dash", "--file", tokens)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	viewer := lastLine(out)
	out, err = runCLI(t, "token", "create", "--role", "operator", "--name", "hmi-1", "--file", tokens)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	operator := lastLine(out)
	if !strings.HasPrefix(viewer, "pwt_") || !strings.HasPrefix(operator, "pwt_") || viewer == operator {
		t.Fatalf("tokens %q %q", viewer, operator)
	}
	data, err := os.ReadFile(tokens)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), viewer) || strings.Contains(string(data), operator) {
		t.Fatal("token file holds a token in clear")
	}
	if out, err := runCLI(t, "token", "create", "--role", "root", "--file", tokens); exitCode(err) != 2 {
		t.Fatalf("bad role: exit %d\n%s", exitCode(err), out)
	}

	n := startNode(t, "--demo", "--data", filepath.Join(dir, "data"), "--demo-period", "200ms",
		"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--client-ca", pki.CAFile, "--tokens", tokens)
	tlsArgs := []string{"--server", n.addr, "--ca", pki.CAFile}
	cli := func(token string, args ...string) (string, error) {
		args = append(args, tlsArgs...)
		if token != "" {
			args = append(args, "--token", token)
		}
		return runCLI(t, args...)
	}

	// No token: Unauthenticated, exit 1.
	out, err = cli("", "twins", "list")
	if exitCode(err) != 1 || !strings.Contains(out, "Unauthenticated") {
		t.Fatalf("list without token: exit %d\n%s", exitCode(err), out)
	}
	waitFor(t, 30*time.Second, "pump-L1-01 reported", func() bool {
		out, err := cli(viewer, "twins", "get", "pump-L1-01", "-o", "json")
		return err == nil && strings.Contains(out, `"flow"`)
	})
	out, err = cli(viewer, "twins", "list", "--filter", `model == "line"`)
	if err != nil || !strings.Contains(out, "4 twins") {
		t.Fatalf("list --filter: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if len(line) > 80 {
			t.Errorf("table line longer than 80 columns: %q", line)
		}
	}
	out, err = cli(viewer, "twins", "list", "--limit", "5", "-o", "yaml")
	if err != nil || strings.Count(out, "\n- ")+strings.Count(out[:2], "- ") != 5 {
		t.Fatalf("list --limit 5 -o yaml: %v\n%s", err, out)
	}

	// A viewer may not set desired values; an operator may, and is recorded.
	out, err = cli(viewer, "twins", "set", "pump-L1-01", "setpoint=42.5")
	if exitCode(err) != 1 || !strings.Contains(out, "PermissionDenied") {
		t.Fatalf("set as viewer: exit %d\n%s", exitCode(err), out)
	}
	out, err = cli(operator, "twins", "set", "pump-L1-01", "setpoint=42.5")
	if err != nil {
		t.Fatalf("set as operator: %v\n%s", err, out)
	}
	out, err = cli(viewer, "twins", "get", "pump-L1-01", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var tw struct {
		Desired map[string]struct {
			Value     map[string]any `json:"value"`
			UpdatedBy string         `json:"updatedBy"`
		} `json:"desired"`
	}
	if err := json.Unmarshal([]byte(out), &tw); err != nil {
		t.Fatal(err)
	}
	if d := tw.Desired["setpoint"]; d.UpdatedBy != "token:hmi-1" || d.Value["doubleValue"] != 42.5 {
		t.Fatalf("desired setpoint = %+v", d)
	}
	// Bad usage: a value of the wrong type never reaches the node.
	if out, err := cli(operator, "twins", "set", "pump-L1-01", "setpoint=fast"); exitCode(err) != 2 {
		t.Fatalf("set setpoint=fast: exit %d\n%s", exitCode(err), out)
	}

	// A client certificate with OU=operator maps to the operator role.
	cert, key, err := pki.ClientCert("hmi-2", "operator")
	if err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "twins", "set", "pump-L1-02", "setpoint=10", "--server", n.addr, "--ca", pki.CAFile, "--cert", cert, "--key", key)
	if err != nil {
		t.Fatalf("set with a client certificate: %v\n%s", err, out)
	}

	out, err = cli(viewer, "twins", "history", "pump-L1-01", "flow", "--since", "1m")
	if err != nil || !strings.Contains(out, "SOURCE TIME") || strings.Contains(out, "\n0 values") {
		t.Fatalf("history: %v\n%s", err, out)
	}
	out, err = cli(viewer, "twins", "history", "pump-L1-01", "flow", "--since", "1m", "--step", "10s", "-o", "json")
	if err != nil {
		t.Fatalf("history --step: %v\n%s", err, out)
	}
	var buckets []map[string]any
	if err := json.Unmarshal([]byte(out), &buckets); err != nil || len(buckets) == 0 || buckets[0]["count"] == nil {
		t.Fatalf("history buckets: %v\n%s", err, out)
	}

	// watch: states, SYNCED, then changes, as JSON lines; --for ends it with 0.
	out, err = cli(viewer, "twins", "watch", "pump-L1-01", "pump-L1-02", "-o", "json", "--for", "2s")
	if err != nil {
		t.Fatalf("watch: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("watch line is not JSON: %q", line)
		}
		for k := range ev {
			kinds[k]++
		}
	}
	if kinds["state"] != 2 || kinds["synced"] != 1 || kinds["change"] < 2 {
		t.Fatalf("watch events %v\n%s", kinds, out)
	}

	// A token created while the node runs works after SIGHUP.
	out, err = runCLI(t, "token", "create", "--role", "viewer", "--name", "late", "--file", tokens)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	late := lastLine(out)
	if out, err := cli(late, "twins", "get", "line-1"); exitCode(err) != 1 || !strings.Contains(out, "Unauthenticated") {
		t.Fatalf("new token before reload: exit %d\n%s", exitCode(err), out)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new token accepted after SIGHUP", func() bool {
		_, err := cli(late, "twins", "get", "line-1")
		return err == nil
	})
	if out, err := cli(viewer, "twins", "get", "line-1"); err != nil {
		t.Fatalf("old token after reload: %v\n%s", err, out)
	}
	n.stop()
}

func TestServeRefusesExposedAPIWithoutSecurity(t *testing.T) {
	out, err := runCLI(t, "serve", "--demo", "--data", t.TempDir(), "--listen", "0.0.0.0:0")
	if exitCode(err) != 1 || !strings.Contains(out, "TLS (--tls-cert, --tls-key) and authentication (--tokens or --client-ca)") || !strings.Contains(out, "--insecure") {
		t.Fatalf("serve on 0.0.0.0 without TLS: exit %d\n%s", exitCode(err), out)
	}
}
