package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// grpcurlVersion is the grpcurl the documentation examples are run with
// (the Makefile installs the same into .bin).
const grpcurlVersion = "v1.9.4"

// findGrpcurl returns a grpcurl executable: from PATH, from the
// repository's .bin, or installed there from the Go module proxy.
func findGrpcurl(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p
	}
	bin, err := filepath.Abs("../../.bin")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(bin, "grpcurl")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Logf("installing grpcurl %s into %s", grpcurlVersion, bin)
	cmd := exec.Command("go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@"+grpcurlVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install grpcurl (needed to run the docs' grpcurl examples): %v\n%s", err, out)
	}
	return p
}

// shExamples returns the lines of the ```sh blocks of a Markdown file.
func shExamples(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
		case strings.HasPrefix(l, "```"):
			in = false
		case in && strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestAPIDocExamples runs every example of docs/api.md's sh blocks, as
// written, against a demo node like `make run` starts.
func TestAPIDocExamples(t *testing.T) {
	examples := shExamples(t, "../../docs/api.md")
	if len(examples) < 10 {
		t.Fatalf("only %d examples found in docs/api.md", len(examples))
	}
	grpcurl := findGrpcurl(t)
	n := startNode(t, "--demo", "--data", t.TempDir(), "--demo-period", "200ms")
	// A few history points, so the history examples print values.
	waitFor(t, 30*time.Second, "demo twins reporting", func() bool {
		out, err := runCLI(t, "twins", "history", "pump-L1-01", "flow", "--since", "1m", "-o", "json", "--server", n.addr)
		return err == nil && strings.Count(out, "sourceTime") >= 5
	})
	path := filepath.Dir(binary) + string(os.PathListSeparator) + filepath.Dir(grpcurl) + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			line := strings.ReplaceAll(ex, "127.0.0.1:7070", n.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", line)
			cmd.Env = append(os.Environ(), "PATH="+path, "PLANTWIN_SERVER="+n.addr, "PLANTWIN_TOKEN=")
			out, err := cmd.CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) == 0 {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
			if strings.HasPrefix(ex, "plantwin twins list") && !strings.Contains(string(out), " twins\n") {
				t.Fatalf("%s: no twin count\n%s", line, out)
			}
		})
	}

	// The errors docs/api.md quotes are what the node answers.
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, body string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, grpcurl, "-plaintext", "-d", body, n.addr, method).CombinedOutput()
		return string(out)
	}
	const twinSvc = "plantwin.v1.TwinService/"
	// The key of the doc's stop example (a repeat returns that command).
	call(twinSvc+"InvokeCommand", `{"twin_id":"pump-L1-01","command":"stop","args":{"reason":{"string_value":"seal leak"}},"idempotency_key":"doc-stop-1"}`)
	for _, tc := range []struct{ name, method, body, want string }{
		{"unknown command", "InvokeCommand", `{"twin_id":"pump-L1-01","command":"halt"}`,
			`command: twins: no such command: "halt" on twin pump-L1-01 (model pump has: start, stop)`},
		{"bad argument", "InvokeCommand", `{"twin_id":"pump-L1-01","command":"stop","args":{"why":{"string_value":"x"}}}`,
			`args: twins: invalid command arguments: command stop has no parameter "why" (it has: reason)`},
		{"reused idempotency key", "InvokeCommand", `{"twin_id":"pump-L1-01","command":"start","idempotency_key":"doc-stop-1"}`,
			`idempotency_key: twins: invalid command arguments: idempotency key "doc-stop-1" was used for command c2 (stop), not start`},
		{"unknown twin", "InvokeCommand", `{"twin_id":"pump-L9-01","command":"stop"}`, `actors: unknown twin: "pump-L9-01"`},
		{"unknown alarm", "AcknowledgeAlarm", `{"alarm_id":"pump-L1-01/overheat"}`,
			`twins: no such alarm: "overheat" on twin pump-L1-01 (its alarms: none)`},
		{"version conflict", "UpdateDesired", `{"twin_id":"pump-L1-01","values":{"setpoint":{"double_value":40}},"expected_version":1}`,
			`expected_version: twins: version conflict: set desired setpoint on twin pump-L1-01: expected version 1, actual `},
	} {
		out := call(twinSvc+tc.method, tc.body)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: the node answered\n%s\nwant %q", tc.name, out, tc.want)
		}
		if !strings.Contains(string(doc), tc.want) {
			t.Errorf("%s: docs/api.md does not quote %q", tc.name, tc.want)
		}
	}
	out, err := runCLI(t, "reload", "--server", n.addr)
	const noConfig = "this node runs without a --config file (--demo): nothing to reload"
	if err == nil || !strings.Contains(out, "FailedPrecondition: "+noConfig) {
		t.Errorf("reload of a demo node: %v\n%s", err, out)
	}
	if !strings.Contains(string(doc), noConfig) {
		t.Errorf("docs/api.md does not quote %q", noConfig)
	}
	n.stop()
}

// TestClusterDocExample runs docs/cluster.md's example as written (ports
// and data directories swapped for free ones): three nodes started in the
// background, then the member list, a read through the third node and a
// drain of it.
func TestClusterDocExample(t *testing.T) {
	lines := shExamples(t, "../../docs/cluster.md")
	base := freePorts(t, 6)
	data := t.TempDir()
	swap := strings.NewReplacer(
		"127.0.0.1:7071", fmt.Sprintf("127.0.0.1:%d", base), "127.0.0.1:7072", fmt.Sprintf("127.0.0.1:%d", base+1),
		"127.0.0.1:7073", fmt.Sprintf("127.0.0.1:%d", base+2), "127.0.0.1:7946", fmt.Sprintf("127.0.0.1:%d", base+3),
		"127.0.0.1:7947", fmt.Sprintf("127.0.0.1:%d", base+4), "127.0.0.1:7948", fmt.Sprintf("127.0.0.1:%d", base+5),
		"./data/", data+"/")
	first := fmt.Sprintf("127.0.0.1:%d", base)
	var commands []string
	for _, l := range lines {
		l = swap.Replace(l)
		if !strings.HasSuffix(l, "&") {
			commands = append(commands, l)
			continue
		}
		args := strings.Fields(strings.TrimSuffix(l, "&"))
		if len(args) < 2 || args[0] != "plantwin" || args[1] != "serve" {
			t.Fatalf("background line is not a plantwin serve: %s", l)
		}
		cmd := exec.Command(binary, args[1:]...)
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("%s:\n%s", l, logs.String())
			}
		})
		if len(commands) == 0 && strings.Contains(l, "--node-name n1") {
			// The founder first: the others join through it.
			waitFor(t, 60*time.Second, "n1 serving", func() bool {
				_, err := runCLI(t, "cluster", "members", "--server", first)
				return err == nil
			})
		}
	}
	if len(commands) < 3 {
		t.Fatalf("only %d foreground commands in docs/cluster.md's example", len(commands))
	}
	waitFor(t, 90*time.Second, "three members serving twins", func() bool {
		n := 0
		for _, m := range members(t, first) {
			if m.State == "alive" && m.Twins > 0 {
				n++
			}
		}
		return n == 3
	})
	path := filepath.Dir(binary) + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, c := range commands {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, "sh", "-c", c)
		cmd.Env = append(os.Environ(), "PATH="+path, "PLANTWIN_TOKEN=")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || len(strings.TrimSpace(string(out))) == 0 {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
		if strings.Contains(c, "cluster drain") && !strings.Contains(string(out), "drained n3") {
			t.Fatalf("%s:\n%s", c, out)
		}
		t.Logf("%s\n%s", c, out)
	}
}
