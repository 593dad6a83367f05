package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// dirNames lists the names in dir, to catch leftover temporary files.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateTokenLoadTokens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.yaml")
	alice, err := CreateToken(path, "alice", RoleAdmin, testNow)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := CreateToken(path, "bob.ops-1", RoleViewer, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^pwt_[A-Za-z0-9_-]{43}$`) // 32 bytes, base64url without padding
	for _, tok := range []string{alice, bob} {
		if !format.MatchString(tok) {
			t.Errorf("token %q does not match %s", tok, format)
		}
	}
	if alice == bob {
		t.Errorf("two tokens are equal: %q", alice)
	}

	// Only hashes on disk, times in UTC, mode 0600, no temporary files left.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{alice, bob} {
		if strings.Contains(string(data), strings.TrimPrefix(tok, tokenPrefix)) {
			t.Errorf("token file contains the token %q:\n%s", tok, data)
		}
	}
	want := fmt.Sprintf(`- name: alice
  role: admin
  sha256: %s
  created: 2026-03-01T09:00:00Z
- name: bob.ops-1
  role: viewer
  sha256: %s
  created: 2026-03-01T10:00:00Z
`, hashOf(alice), hashOf(bob))
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("token file (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	if diff := cmp.Diff([]string{"tokens.yaml"}, dirNames(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}

	tokens, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if tokens.Len() != 2 {
		t.Errorf("Len() = %d, want 2", tokens.Len())
	}
	tests := []struct {
		name   string
		token  string
		want   Identity
		wantOK bool
	}{
		{name: "admin", token: alice, want: Identity{Name: "token:alice", Role: RoleAdmin}, wantOK: true},
		{name: "viewer", token: bob, want: Identity{Name: "token:bob.ops-1", Role: RoleViewer}, wantOK: true},
		{name: "one character changed", token: alice[:len(alice)-1] + string(alice[len(alice)-1]^1)},
		{name: "truncated", token: alice[:len(alice)-1]},
		{name: "hash instead of token", token: hashOf(alice)},
		{name: "prefix only", token: tokenPrefix},
		{name: "empty", token: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tokens.Verify(tt.token)
			if ok != tt.wantOK {
				t.Fatalf("Verify ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
		})
	}

	var none *Tokens
	if _, ok := none.Verify(alice); ok || none.Len() != 0 {
		t.Errorf("nil Tokens: Verify ok = %v, Len = %d; want false, 0", ok, none.Len())
	}
}

// TestCreateTokenKeepsFile checks that an existing file keeps its entries,
// comments and mode.
func TestCreateTokenKeepsFile(t *testing.T) {
	const h1 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct {
		name     string
		existing string
		mode     os.FileMode
		want     string // %[1]s is the new hash
	}{
		{
			name: "entries and comments",
			existing: `# plantwin API tokens

# the first one
- name: a
  role: Admin # boss
  sha256: "` + h1 + `"
  created: 2026-01-01T00:00:00Z
`,
			mode: 0o640,
			want: `# plantwin API tokens

# the first one
- name: a
  role: Admin # boss
  sha256: "` + h1 + `"
  created: 2026-01-01T00:00:00Z
- name: "null"
  role: operator
  sha256: %[1]s
  created: 2026-03-01T09:00:00Z
`,
		},
		{name: "empty file", existing: "", mode: 0o600,
			want: "- name: \"null\"\n  role: operator\n  sha256: %[1]s\n  created: 2026-03-01T09:00:00Z\n"},
		{name: "only a comment", existing: "# tokens", mode: 0o600,
			want: "# tokens\n- name: \"null\"\n  role: operator\n  sha256: %[1]s\n  created: 2026-03-01T09:00:00Z\n"},
		{name: "empty flow list", existing: "[]\n", mode: 0o644,
			want: "- name: \"null\"\n  role: operator\n  sha256: %[1]s\n  created: 2026-03-01T09:00:00Z\n"},
		{name: "null", existing: "~\n", mode: 0o600,
			want: "- name: \"null\"\n  role: operator\n  sha256: %[1]s\n  created: 2026-03-01T09:00:00Z\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.yaml")
			if err := os.WriteFile(path, []byte(tt.existing), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			// "null" must be quoted, or it would read back as no name.
			tok, err := CreateToken(path, "null", RoleOperator, testNow)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fmt.Sprintf(tt.want, hashOf(tok)), string(data)); diff != "" {
				t.Errorf("token file (-want +got):\n%s", diff)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.mode {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.mode)
			}
			tokens, err := LoadTokens(path)
			if err != nil {
				t.Fatal(err)
			}
			if id, ok := tokens.Verify(tok); !ok || id != (Identity{Name: "token:null", Role: RoleOperator}) {
				t.Errorf("Verify(new token) = %v, %v", id, ok)
			}
		})
	}
}

func TestCreateTokenRefuses(t *testing.T) {
	const valid = "- name: alice\n  role: admin\n  sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
	tests := []struct {
		name     string
		existing string // "" for no file
		tokName  string
		role     Role
		want     string // error; {path} is the file's path
	}{
		{name: "duplicate name", existing: valid, tokName: "alice", role: RoleViewer,
			want: `auth: create token "alice": name already exists in {path} (line 1)`},
		{name: "empty name", tokName: "", role: RoleViewer,
			want: `auth: create token "": name must match [A-Za-z0-9._-]{1,64}`},
		{name: "space in name", tokName: "a b", role: RoleViewer,
			want: `auth: create token "a b": name must match [A-Za-z0-9._-]{1,64}`},
		{name: "slash in name", tokName: "../x", role: RoleViewer,
			want: `auth: create token "../x": name must match [A-Za-z0-9._-]{1,64}`},
		{name: "non-ASCII name", tokName: "jürgen", role: RoleViewer,
			want: `auth: create token "jürgen": name must match [A-Za-z0-9._-]{1,64}`},
		{name: "name too long", tokName: strings.Repeat("x", 65), role: RoleViewer,
			want: `auth: create token "` + strings.Repeat("x", 65) + `": name must match [A-Za-z0-9._-]{1,64}`},
		{name: "no role", tokName: "bob", role: RoleNone,
			want: `auth: create token "bob": invalid role none (want viewer, operator or admin)`},
		{name: "role out of range", tokName: "bob", role: Role(9),
			want: `auth: create token "bob": invalid role Role(9) (want viewer, operator or admin)`},
		{name: "invalid existing file", existing: valid + "- name: bob\n  role: root\n", tokName: "carol", role: RoleViewer,
			want: `auth: create token "carol": existing token file is invalid: {path}:4:3: sha256: missing` + "\n" +
				`{path}:5:9: role: unknown role "root" (want viewer, operator or admin)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "tokens.yaml")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			tok, err := CreateToken(path, tt.tokName, tt.role, testNow)
			if err == nil {
				t.Fatalf("CreateToken = %q, want error", tok)
			}
			if diff := cmp.Diff(strings.ReplaceAll(tt.want, "{path}", path), err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			// Nothing changed.
			data, err := os.ReadFile(path)
			switch {
			case tt.existing == "" && !os.IsNotExist(err):
				t.Errorf("file created: %v", err)
			case tt.existing != "" && string(data) != tt.existing:
				t.Errorf("file changed:\n%s", data)
			}
			if n := len(dirNames(t, dir)); n > 1 {
				t.Errorf("temporary files left: %v", dirNames(t, dir))
			}
		})
	}

	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "no-such-dir", "tokens.yaml")
		_, err := CreateToken(path, "alice", RoleAdmin, testNow)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("CreateToken in a missing directory: err = %v, want an error naming %s", err, path)
		}
	})
}

func TestLoadTokensErrors(t *testing.T) {
	const (
		h1 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
		h2 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
	)
	tests := []struct {
		name string
		data string
		want string
	}{
		{
			name: "unknown role",
			data: "- name: bob\n  sha256: " + h1 + "\n  created: 2026-03-01T10:00:00Z\n  role: root\n",
			want: `tokens.yaml:4:9: role: unknown role "root" (want viewer, operator or admin)`,
		},
		{
			name: "hash too short",
			data: "- name: bob\n  role: viewer\n  sha256: " + h1[:63] + "\n",
			want: `tokens.yaml:3:11: sha256: want 64 hex digits (the SHA-256 of the token), got "` + h1[:63] + `"`,
		},
		{
			name: "hash not hex",
			data: "- name: bob\n  role: viewer\n  sha256: " + strings.Repeat("z", 64) + "\n",
			want: `tokens.yaml:3:11: sha256: want 64 hex digits (the SHA-256 of the token), got "` + strings.Repeat("z", 64) + `"`,
		},
		{
			name: "token instead of hash",
			data: "- name: bob\n  role: viewer\n  sha256: pwt_abc\n",
			want: `tokens.yaml:3:11: sha256: want 64 hex digits (the SHA-256 of the token), got "pwt_abc"`,
		},
		{
			name: "duplicate name",
			data: "- name: bob\n  role: viewer\n  sha256: " + h1 + "\n- name: bob\n  role: admin\n  sha256: " + h2 + "\n",
			want: `tokens.yaml:4:9: name: duplicate name "bob" (first at line 1)`,
		},
		{
			name: "duplicate hash",
			data: "- name: bob\n  role: viewer\n  sha256: " + h1 + "\n- name: eve\n  role: admin\n  sha256: " + strings.ToUpper(h1) + "\n",
			want: `tokens.yaml:6:11: sha256: same hash as token "bob": the two entries would share one token`,
		},
		{name: "empty file", data: "", want: "tokens.yaml: no tokens: token authentication would turn every caller away"},
		{name: "only comments", data: "# no tokens yet\n", want: "tokens.yaml: no tokens: token authentication would turn every caller away"},
		{name: "empty list", data: "[]\n", want: "tokens.yaml: no tokens: token authentication would turn every caller away"},
		{name: "null", data: "~\n", want: "tokens.yaml: no tokens: token authentication would turn every caller away"},
		{
			name: "missing fields",
			data: "- name: bob\n",
			want: "tokens.yaml:1:3: role: missing\ntokens.yaml:1:3: sha256: missing",
		},
		{
			name: "null value",
			data: "- name: bob\n  role:\n  sha256: " + h1 + "\n",
			want: "tokens.yaml:2:3: role: missing value",
		},
		{
			name: "list value",
			data: "- name: bob\n  role: [admin]\n  sha256: " + h1 + "\n",
			want: "tokens.yaml:2:9: role: want a string, got a list",
		},
		{
			name: "unknown field",
			data: "- name: bob\n  role: admin\n  hash: " + h1 + "\n",
			want: "tokens.yaml:1:3: sha256: missing\ntokens.yaml:3:3: hash: unknown field (want name, role, sha256, created)",
		},
		{
			name: "duplicate field",
			data: "- name: bob\n  role: viewer\n  role: admin\n  sha256: " + h1 + "\n",
			want: "tokens.yaml:3:3: role: duplicate field",
		},
		{
			name: "invalid name",
			data: "- name: bob smith\n  role: viewer\n  sha256: " + h1 + "\n",
			want: `tokens.yaml:1:9: name: invalid name "bob smith": must match [A-Za-z0-9._-]{1,64}`,
		},
		{
			name: "invalid created",
			data: "- name: bob\n  role: viewer\n  sha256: " + h1 + "\n  created: yesterday\n",
			want: `tokens.yaml:4:12: created: want an RFC 3339 time such as 2026-03-01T10:00:00Z, got "yesterday"`,
		},
		{name: "not a list", data: "name: bob\n", want: "tokens.yaml:1:1: want a list of token entries, got a mapping"},
		{
			name: "entry not a mapping",
			data: "- bob\n",
			want: `tokens.yaml:1:3: want a token entry (a mapping with name, role, sha256, created), got "bob"`,
		},
		{name: "invalid YAML", data: "- name: bob\n  role: 'viewer\n", want: "tokens.yaml:2:1: invalid YAML: found unexpected end of stream"},
		{name: "colon in value", data: "- name: bob\n  role: a: b\n", want: "tokens.yaml:2:1: invalid YAML: mapping values are not allowed in this context"},
		{
			name: "two documents",
			data: "- name: bob\n  role: viewer\n  sha256: " + h1 + "\n---\n- name: eve\n",
			want: "tokens.yaml:4:1: more than one YAML document",
		},
		{
			name: "every problem, in file order",
			data: "- name: a\n  role: root\n  sha256: " + h1 + "\n- name: b\n  role: admin\n  sha256: 00\n",
			want: `tokens.yaml:2:9: role: unknown role "root" (want viewer, operator or admin)` + "\n" +
				`tokens.yaml:6:11: sha256: want 64 hex digits (the SHA-256 of the token), got "00"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens, err := parseTokens("tokens.yaml", []byte(tt.data))
			if err == nil {
				t.Fatalf("parseTokens = %d tokens, want error %q", tokens.Len(), tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadTokensFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.yaml")
	if _, err := LoadTokens(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadTokens(missing) = %v, want an error naming %s", err, path)
	}
	if err := os.WriteFile(path, []byte("- name: bob\n  role: root\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadTokens(path)
	want := path + ":1:3: sha256: missing\n" + path + `:2:9: role: unknown role "root" (want viewer, operator or admin)`
	if err == nil || err.Error() != want {
		t.Errorf("LoadTokens error = %v, want %q", err, want)
	}
	// Hand-written entries: uppercase hex, role in any case, no created.
	data := "- name: bob\n  role: Operator\n  sha256: " + strings.ToUpper(hashOf("s3cret")) + "\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := tokens.Verify("s3cret"); !ok || id != (Identity{Name: "token:bob", Role: RoleOperator}) {
		t.Errorf("Verify = %v, %v; want token:bob operator", id, ok)
	}
}
