package auth

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// FuzzParseTokens checks that the token file parser never panics, that a
// file it accepts has tokens, and that CreateToken's way of adding an
// entry to any accepted file yields a file that parses back with one more.
func FuzzParseTokens(f *testing.F) {
	const h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, seed := range []string{
		"",
		"# comment\n",
		"[]",
		"~",
		"- name: bob\n  role: viewer\n  sha256: " + h + "\n  created: 2026-03-01T10:00:00Z\n",
		"# tokens\n- name: a # first\n  role: Admin\n  sha256: \"" + h + "\"\n",
		"[{name: a, role: operator, sha256: " + h + "}]",
		"- &e {name: a, role: viewer, sha256: " + h + "}\n- *e\n",
		"- name: bob\n  role: root\n  sha256: 00\n  created: yesterday\n  extra: 1\n",
		"- name: bob\n  role: viewer\n  sha256: " + h + "\n---\n- x\n",
		"name: bob\n",
		"- bob\n- [1, 2]\n- {name: [a]}\n",
		"- name: bob\n  role: 'viewer\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := parseTokenFile("tokens.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tokens.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		tokens, err := parseTokens("tokens.yaml", data)
		if (err == nil) != (len(tf.entries) > 0) || (err == nil && tokens.Len() != len(tf.entries)) {
			t.Fatalf("parseTokens = %v, %v with %d entries", tokens, err, len(tf.entries))
		}
		const name = "fuzz-new-entry"
		var hash [32]byte
		for i := range hash {
			hash[i] = 1
		}
		if slices.ContainsFunc(tf.entries, func(e tokenEntry) bool { return e.name == name || e.hash == hash }) {
			return // CreateToken refuses the name; the hash is a chance in 2^256
		}
		out, err := tf.appendEntry(data, []string{name, "admin", hex.EncodeToString(hash[:]), "2026-03-01T10:00:00Z"})
		if err != nil {
			t.Fatalf("appendEntry: %v", err)
		}
		again, err := parseTokenFile("tokens.yaml", out)
		if err != nil {
			t.Fatalf("appended file does not parse: %v\n%s", err, out)
		}
		if len(again.entries) != len(tf.entries)+1 {
			t.Fatalf("appended file has %d entries, want %d:\n%s", len(again.entries), len(tf.entries)+1, out)
		}
	})
}
