package auth

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// A token file is a YAML list of entries:
//
//	- name: scada
//	  role: operator
//	  sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	  created: 2026-03-01T10:00:00Z
//
// Only the SHA-256 of each token is stored, so the file reveals no token.

const (
	tokenPrefix = "pwt_"
	tokenBytes  = 32
)

var tokenName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// tokenFields are the keys of a token entry, in the order CreateToken
// writes them. All but created are required.
var tokenFields = []string{"name", "role", "sha256", "created"}

const requiredFields = 3

// CreateToken generates a new random token (32 bytes from crypto/rand,
// encoded "pwt_" + base64url without padding), appends its entry to the
// token file at path and returns the token; the file keeps only its hash.
// A missing file is created with mode 0600; an existing file keeps its
// entries, comments and mode, and must be valid. CreateToken refuses a
// name that is already in the file. The file is replaced atomically
// (temporary file, fsync, rename), so a reader sees the old or the new
// file, never a partial one; concurrent CreateToken calls on one file may
// lose an entry. name must match [A-Za-z0-9._-]{1,64}; created is set to
// now in UTC.
func CreateToken(path, name string, role Role, now time.Time) (token string, err error) {
	if !tokenName.MatchString(name) {
		return "", fmt.Errorf("auth: create token %q: name must match [A-Za-z0-9._-]{1,64}", name)
	}
	if !role.valid() {
		return "", fmt.Errorf("auth: create token %q: invalid role %s (%s)", name, role, roleWant)
	}
	data, mode := []byte(nil), fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if data, err = os.ReadFile(path); err != nil {
			return "", fmt.Errorf("auth: create token %q: %w", name, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("auth: create token %q: %w", name, err)
	}
	f, err := parseTokenFile(path, data)
	if err != nil {
		return "", fmt.Errorf("auth: create token %q: existing token file is invalid: %w", name, err)
	}
	if i := slices.IndexFunc(f.entries, func(e tokenEntry) bool { return e.name == name }); i >= 0 {
		return "", fmt.Errorf("auth: create token %q: name already exists in %s (line %d)", name, path, f.entries[i].line)
	}

	raw := make([]byte, tokenBytes)
	rand.Read(raw) // never fails; crashes the program if the system's source does
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	out, err := f.appendEntry(data, []string{name, role.String(), hex.EncodeToString(sum[:]), now.UTC().Format(time.RFC3339)})
	if err != nil {
		return "", fmt.Errorf("auth: create token %q: encode %s: %w", name, path, err)
	}
	// Check the result before it replaces the file.
	if g, err := parseTokenFile(path, out); err != nil {
		return "", fmt.Errorf("auth: create token %q: new token file does not parse: %w", name, err)
	} else if len(g.entries) != len(f.entries)+1 {
		return "", fmt.Errorf("auth: create token %q: new token file has %d entries, want %d", name, len(g.entries), len(f.entries)+1)
	}
	if err := writeFileAtomic(path, out, mode); err != nil {
		return "", fmt.Errorf("auth: create token %q: %w", name, err)
	}
	return token, nil
}

// writeFileAtomic replaces path with data via a synced temporary file in
// the same directory.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename durable. Best effort: the new file is in place, and
	// failing now would lose the token that its entry belongs to.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Tokens is a set of bearer tokens read from a token file. It is immutable
// and safe for concurrent use.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	name string
	role Role
	hash [sha256.Size]byte
	line int // of the entry in the file
}

// LoadTokens reads the token file at path. Problems in the file are
// reported with file, line, column and field, such as
//
//	tokens.yaml:4:9: role: unknown role "root" (want viewer, operator or admin)
//
// all of them, joined with errors.Join. Entries need name, role and
// sha256; created is optional. Unknown fields, missing fields,
// names not matching [A-Za-z0-9._-]{1,64}, duplicate names, hashes that are
// not 64 hex digits, duplicate hashes and timestamps that are not RFC 3339
// are errors, and so is a file without entries: token authentication with
// no tokens would turn every caller away.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: load tokens: %w", err)
	}
	return parseTokens(path, data)
}

// parseTokens parses a token file's contents; filename is for messages.
func parseTokens(filename string, data []byte) (*Tokens, error) {
	f, err := parseTokenFile(filename, data)
	if err != nil {
		return nil, err
	}
	if len(f.entries) == 0 {
		return nil, &fileError{file: filename, msg: "no tokens: token authentication would turn every caller away"}
	}
	return &Tokens{entries: f.entries}, nil
}

// Len returns the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// Verify checks a presented token against the stored hashes and returns
// its identity ("token:NAME" with the entry's role). The SHA-256 of token
// is compared with every entry in constant time.
func (t *Tokens) Verify(token string) (Identity, bool) {
	if t == nil || token == "" {
		return Identity{}, false
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(sum[:], t.entries[i].hash[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return Identity{}, false
	}
	e := t.entries[match]
	return Identity{Name: "token:" + e.name, Role: e.role}, true
}

// fileError is one problem in a token file.
type fileError struct {
	file      string
	line, col int    // 1-based; 0 if unknown
	field     string // "" if none
	msg       string
}

// Error returns "file:line:col: field: msg".
func (e *fileError) Error() string {
	var b strings.Builder
	b.WriteString(e.file)
	if e.line > 0 {
		b.WriteString(":" + strconv.Itoa(e.line) + ":" + strconv.Itoa(e.col))
	}
	b.WriteString(": ")
	if e.field != "" {
		b.WriteString(e.field + ": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

// tokenFile is a parsed token file, kept as a node tree so that
// CreateToken can add an entry without losing comments.
type tokenFile struct {
	root    yaml.Node
	list    *yaml.Node // the list of entries; nil if the file has none
	entries []tokenEntry
}

type tokenParser struct {
	file string
	errs []*fileError
}

func (p *tokenParser) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &fileError{file: p.file, line: 1, col: 1, field: field, msg: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		e.line, e.col = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func syntaxError(filename string, err error) error {
	msg, line := err.Error(), 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &fileError{file: filename, line: line, col: 1, msg: "invalid YAML: " + msg}
}

// parseTokenFile parses and checks a token file, which may have no entries.
func parseTokenFile(filename string, data []byte) (*tokenFile, error) {
	f := &tokenFile{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f.root); errors.Is(err, io.EOF) {
		return f, nil // empty, or only comments
	} else if err != nil {
		return nil, syntaxError(filename, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		// CreateToken would drop all but the first.
		return nil, &fileError{file: filename, line: next.Line, col: next.Column, msg: "more than one YAML document"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(filename, err)
	}
	if f.root.Kind != yaml.DocumentNode || len(f.root.Content) == 0 {
		return f, nil
	}
	p := &tokenParser{file: filename}
	list := deref(f.root.Content[0])
	switch {
	case isNull(list):
		return f, nil
	case list.Kind != yaml.SequenceNode:
		p.errorf(list, "", "want a list of token entries, got %s", kindName(list))
		return nil, p.errs[0]
	}
	f.list = list
	names := make(map[string]int)
	hashes := make(map[[sha256.Size]byte]string)
	for _, item := range list.Content {
		e, ok := p.entry(item)
		if !ok {
			continue
		}
		if first, dup := names[e.name]; dup {
			p.errorf(mapValue(deref(item), "name"), "name", "duplicate name %q (first at line %d)", e.name, first)
			continue
		}
		names[e.name] = e.line
		if first, dup := hashes[e.hash]; dup {
			p.errorf(mapValue(deref(item), "sha256"), "sha256", "same hash as token %q: the two entries would share one token", first)
			continue
		}
		hashes[e.hash] = e.name
		f.entries = append(f.entries, e)
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *fileError) int {
			return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.col, b.col))
		})
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// entry checks one list item.
func (p *tokenParser) entry(item *yaml.Node) (tokenEntry, bool) {
	n := deref(item)
	if n == nil || n.Kind != yaml.MappingNode {
		p.errorf(item, "", "want a token entry (a mapping with %s), got %s", strings.Join(tokenFields, ", "), kindName(n))
		return tokenEntry{}, false
	}
	before := len(p.errs)
	vals := make(map[string]*yaml.Node, len(tokenFields))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			p.errorf(n.Content[i], "", "keys must be strings")
			continue
		}
		switch _, dup := vals[k.Value]; {
		case !slices.Contains(tokenFields, k.Value):
			p.errorf(k, k.Value, "unknown field (want %s)", strings.Join(tokenFields, ", "))
		case dup:
			p.errorf(k, k.Value, "duplicate field")
		case isNull(v):
			p.errorf(k, k.Value, "missing value")
		case v.Kind != yaml.ScalarNode:
			p.errorf(v, k.Value, "want a string, got %s", kindName(v))
		default:
			vals[k.Value] = v
		}
	}
	for _, field := range tokenFields[:requiredFields] {
		if _, ok := vals[field]; !ok && !slices.ContainsFunc(p.errs[before:], func(e *fileError) bool {
			return e.field == field
		}) {
			p.errorf(n, field, "missing")
		}
	}
	e := tokenEntry{line: n.Line}
	if v := vals["name"]; v != nil {
		if e.name = v.Value; !tokenName.MatchString(e.name) {
			p.errorf(v, "name", "invalid name %q: must match [A-Za-z0-9._-]{1,64}", e.name)
		}
	}
	if v := vals["role"]; v != nil {
		var ok bool
		if e.role, ok = parseRole(v.Value); !ok {
			p.errorf(v, "role", "%s", unknownRole(v.Value))
		}
	}
	if v := vals["sha256"]; v != nil {
		b, err := hex.DecodeString(v.Value)
		if err != nil || len(b) != sha256.Size {
			p.errorf(v, "sha256", "want 64 hex digits (the SHA-256 of the token), got %q", v.Value)
		}
		copy(e.hash[:], b)
	}
	if v := vals["created"]; v != nil {
		if _, err := time.Parse(time.RFC3339, v.Value); err != nil {
			p.errorf(v, "created", "want an RFC 3339 time such as 2026-03-01T10:00:00Z, got %q", v.Value)
		}
	}
	return e, len(p.errs) == before
}

// appendEntry returns the file's contents (data, as read) with one more
// entry made of values for tokenFields.
func (f *tokenFile) appendEntry(data []byte, values []string) ([]byte, error) {
	entry := &yaml.Node{Kind: yaml.MappingNode}
	for i, field := range tokenFields {
		tag := "!!str" // quoted if it would read as something else, such as name "null"
		if field == "created" {
			tag = "!!timestamp" // not quoted
		}
		entry.Content = append(entry.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: field},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: values[i]})
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{entry}}
	var prefix []byte
	doc := &f.root
	switch {
	case f.root.Kind != yaml.DocumentNode || len(f.root.Content) == 0:
		// Empty or only comments: keep the text (unless it is in another
		// encoding, such as UTF-16), append a new list.
		if utf8.Valid(data) {
			prefix = data
		}
		if len(prefix) > 0 && prefix[len(prefix)-1] != '\n' {
			prefix = append(slices.Clip(prefix), '\n')
		}
		doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{list}}
	case f.list == nil: // null
		f.root.Content[0] = list
	default:
		f.list.Style &^= yaml.FlowStyle // "[]" becomes a block list
		f.list.Content = append(f.list.Content, entry)
	}
	var buf bytes.Buffer
	buf.Write(prefix)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// deref follows an alias.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// mapValue returns the value of key in mapping n, or n if there is none.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := deref(n.Content[i]); k != nil && k.Value == key {
			return deref(n.Content[i+1])
		}
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "null"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}
