package scenario

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
)

// Limits of a scenario, after template expansion.
const (
	MaxDevices = 100_000
	MaxPoints  = 1_000_000 // over all devices
	MaxTicks   = 100_000_000
	// MaxFileSize is the largest file a scenario may name (plant, CSV).
	MaxFileSize = 64 << 20
	// DefaultTick is the tick of a scenario that does not set one.
	DefaultTick = time.Second
)

// maxErrors is how many problems Parse reports before it stops.
const maxErrors = 50

// Load reads and parses the scenario file at path; the files it names are
// read relative to its directory.
func Load(path string) (*Scenario, error) { return LoadWith(path, nil) }

// Parse parses and validates a scenario; filename names it in error
// messages, and the files it names (plant, CSV) are read from the
// operating system relative to filename's directory. On failure it
// returns every problem found (up to 50) as *Error values joined with
// errors.Join.
func Parse(filename string, data []byte) (*Scenario, error) { return parseOS(filename, data, nil) }

// parseOS is Parse with values for the scenario's parameters.
func parseOS(filename string, data []byte, params map[string]string) (*Scenario, error) {
	dir := filepath.Dir(filename)
	read := func(rel string) (string, []byte, error) {
		name := filepath.FromSlash(rel)
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		f, err := os.Open(name)
		if err != nil {
			return name, nil, err
		}
		defer f.Close()
		b, err := readLimited(f)
		return name, b, err
	}
	return parse(filename, data, read, defaultLimits, params)
}

// ParseFS is Parse reading the files a scenario names from fsys, relative
// to path.Dir(name); tests use it with testdata or an fstest.MapFS.
func ParseFS(fsys fs.FS, name string, data []byte) (*Scenario, error) {
	return parse(name, data, fsReader(fsys, name), defaultLimits, nil)
}

func fsReader(fsys fs.FS, name string) func(string) (string, []byte, error) {
	dir := path.Dir(name)
	return func(rel string) (string, []byte, error) {
		p := path.Join(dir, rel)
		if !fs.ValidPath(p) || path.IsAbs(rel) {
			return rel, nil, fmt.Errorf("%q is outside the scenario's file system", rel)
		}
		f, err := fsys.Open(p)
		if err != nil {
			return p, nil, err
		}
		defer f.Close()
		b, err := readLimited(f)
		return p, b, err
	}
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err == nil && len(b) > MaxFileSize {
		err = fmt.Errorf("larger than %d MiB", MaxFileSize>>20)
	}
	return b, err
}

// limits bound a parse; the fuzz test lowers them to keep inputs fast.
type limits struct {
	devices, points int
}

var defaultLimits = limits{devices: MaxDevices, points: MaxPoints}

// parse parses a scenario with the values given for its parameters
// (params.go).
func parse(filename string, data []byte, read func(string) (string, []byte, error), lim limits, params map[string]string) (*Scenario, error) {
	// Aliases can make the node tree exponentially larger than the text;
	// the walk is budgeted in proportion to the text.
	p := &parser{file: filename, data: data, read: read, lim: lim, budget: yamlnode.NewBudget(len(data)), csvs: map[csvKey]*csvTable{}, broken: map[string]bool{}}
	text, root, ok := p.expandScenario(data, params)
	if !ok {
		return nil, p.result()
	}
	if root == nil {
		p.data, p.budget = text, yamlnode.NewBudget(len(text))
		root = new(yaml.Node)
		if err := yaml.Unmarshal(text, root); err != nil {
			p.syntaxError(filename, 0, err)
			return nil, p.result()
		}
	}
	sc := p.scenario(root)
	if len(p.errs) > 0 {
		return nil, p.result()
	}
	sc.Params = p.vals
	return sc, nil
}

// result returns the collected errors, sorted by file and position.
func (p *parser) result() error {
	slices.SortStableFunc(p.errs, func(a, b *Error) int {
		// The scenario's own errors first, then those of the files it
		// names, each by position.
		ao, bo := a.File != p.file, b.File != p.file
		if ao != bo {
			if ao {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	if p.truncated {
		p.errs = append(p.errs, &Error{File: p.file, Msg: fmt.Sprintf("too many errors (showing the first %d)", maxErrors)})
	}
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError reports a YAML syntax error of file (its lines shifted by
// offset).
func (p *parser) syntaxError(file string, offset int, err error) {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.add(&Error{File: file, Line: line + offset, Msg: "invalid YAML: " + msg})
}

// parser walks the YAML node tree and collects errors.
type parser struct {
	file      string
	data      []byte
	read      func(rel string) (name string, data []byte, err error)
	lim       limits
	budget    yamlnode.Budget // nodes the walk may still visit
	errs      []*Error
	truncated bool

	csvs   map[csvKey]*csvTable // loaded CSV columns
	points int                  // points declared so far, templates expanded
	// broken holds the devices (and "twin:ID", their twins) of entries
	// with errors, which later sections may name without more errors.
	broken   map[string]bool
	hasPlant bool              // the scenario names a plant (which may have failed)
	vals     map[string]string // the parameters' values (nil: none declared)
}

func (p *parser) add(e *Error) {
	if len(p.errs) >= maxErrors {
		p.truncated = true
		return
	}
	p.errs = append(p.errs, e)
}

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &Error{File: p.file, Line: 1, Column: 1, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	p.add(e)
}

// visit charges one node to the walk budget; it reports false (once with
// an error) when the budget is exhausted.
func (p *parser) visit(n *yaml.Node) bool { return p.budget.Visit(n, p.errorf) }

// entry is a key of a mapping with its value.
type entry struct {
	key, val *yaml.Node
}

// fields checks that n is a mapping whose keys are all in known and
// unique, and returns the entries by key. Null values are left out.
func (p *parser) fields(n *yaml.Node, path string, known []string) (map[string]entry, bool) {
	n = yamlnode.Deref(n)
	if !p.visit(n) {
		return nil, false
	}
	if n == nil || n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping, got %s", yamlnode.Kind(n))
		return nil, false
	}
	fs := make(map[string]entry, len(n.Content)/2)
	for _, kv := range p.pairs(n, path) {
		name := kv.key.Value
		if !slices.Contains(known, name) {
			p.errorf(kv.key, yamlnode.Join(path, name), "unknown field %q%s", name, suggest.Closest(name, known))
			continue
		}
		if !yamlnode.IsNull(kv.val) {
			fs[name] = kv
		}
	}
	return fs, true
}

// pairs returns the entries of mapping n in order, reporting keys that are
// not strings, duplicates and merge keys (which are left out).
func (p *parser) pairs(n *yaml.Node, path string) []entry {
	out := make([]entry, 0, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlnode.Deref(n.Content[i]), yamlnode.Deref(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			p.errorf(n.Content[i], path, "keys must be strings")
			continue
		}
		name := k.Value
		if first, dup := seen[name]; dup {
			p.errorf(k, yamlnode.Join(path, name), "duplicate key %q (first at line %d)", name, first.Line)
			continue
		}
		seen[name] = k
		if name == "<<" {
			p.errorf(k, yamlnode.Join(path, name), "merge keys (<<) are not supported")
			continue
		}
		out = append(out, entry{key: k, val: v})
	}
	return out
}

// mapping returns the entries of a mapping in order (nil for null).
func (p *parser) mapping(n *yaml.Node, path string) []entry {
	n = yamlnode.Deref(n)
	if yamlnode.IsNull(n) || !p.visit(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping, got %s", yamlnode.Kind(n))
		return nil
	}
	return p.pairs(n, path)
}

// seq returns the items of a sequence (nil for null).
func (p *parser) seq(n *yaml.Node, path string) []*yaml.Node { return yamlnode.Seq(p, n, path) }

// str returns a scalar's text.
func (p *parser) str(n *yaml.Node, path string) (string, bool) { return yamlnode.Str(p, n, path) }

// Visit and Errorf make the parser a yamlnode.Walker.
func (p *parser) Visit(n *yaml.Node) bool { return p.visit(n) }

// Errorf records a problem (yamlnode.Walker).
func (p *parser) Errorf(n *yaml.Node, field, format string, args ...any) {
	p.errorf(n, field, format, args...)
}

// number returns a finite number.
func (p *parser) number(n *yaml.Node, path string) (float64, bool) {
	n = yamlnode.Deref(n)
	if !p.visit(n) {
		return 0, false
	}
	if n == nil || n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		p.errorf(n, path, "want a number, got %s", yamlnode.Kind(n))
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(n, path, "want a finite number, got %s", yamlnode.Kind(n))
		return 0, false
	}
	return f, true
}

// durKind is what a duration may be.
type durKind uint8

const (
	durAny      durKind = iota // any sign (a phase)
	durNonNeg                  // >= 0 (a time in the scenario)
	durPositive                // > 0 (a period, a time constant)
)

// duration reads a Go duration such as 500ms or 2m (0 may be written
// bare).
func (p *parser) duration(n *yaml.Node, path string, k durKind) (time.Duration, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	n = yamlnode.Deref(n)
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.errorf(n, path, "invalid duration %q (want a Go duration such as 30s, 5m or 1h30m)", s)
		return 0, false
	case k == durNonNeg && d < 0:
		p.errorf(n, path, "must not be negative, got %s", s)
		return 0, false
	case k == durPositive && d <= 0:
		p.errorf(n, path, "must be positive, got %s", s)
		return 0, false
	}
	return d, true
}

// fmtDur formats d as people write it: 12m rather than 12m0s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// interval reads [FROM, TO], two times within the scenario.
func (p *parser) interval(n *yaml.Node, path string, horizon time.Duration) *Interval {
	n = yamlnode.Deref(n)
	if !p.visit(n) {
		return nil
	}
	if n == nil || n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
		p.errorf(n, path, "want [FROM, TO], two times such as [2m, 2m30s], got %s", yamlnode.Kind(n))
		return nil
	}
	from, ok1 := p.duration(n.Content[0], yamlnode.Index(path, 0), durNonNeg)
	to, ok2 := p.duration(n.Content[1], yamlnode.Index(path, 1), durNonNeg)
	if !ok1 || !ok2 {
		return nil
	}
	switch {
	case from > to:
		p.errorf(n, path, "from %s is after to %s", fmtDur(from), fmtDur(to))
		return nil
	case horizon > 0 && from > horizon:
		p.errorf(yamlnode.Deref(n.Content[0]), yamlnode.Index(path, 0), "%s is beyond the scenario's duration %s", fmtDur(from), fmtDur(horizon))
		return nil
	}
	return &Interval{From: from, To: to}
}

// requiredString reads a required string field.
func (p *parser) requiredString(fs map[string]entry, item *yaml.Node, path, key string) (string, *yaml.Node) {
	e, ok := fs[key]
	if !ok {
		p.errorf(item, yamlnode.Join(path, key), "missing required field %q", key)
		return "", nil
	}
	s, ok := p.str(e.val, yamlnode.Join(path, key))
	if !ok {
		return "", nil
	}
	return s, yamlnode.Deref(e.val)
}

// validName reports whether s matches ^[a-z][a-z0-9_]*$, the form of
// property, command and point names.
func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if ch := s[i]; (ch < 'a' || ch > 'z') && (ch < '0' || ch > '9') && ch != '_' {
			return false
		}
	}
	return true
}

const nameRule = "want lowercase letters, digits and _, starting with a letter"

// topKeys are the top-level fields of a scenario.
var topKeys = []string{"name", "description", "params", "seed", "duration", "tick", "plant", "devices", "faults", "expect"}

// scenario parses the whole document.
func (p *parser) scenario(root *yaml.Node) *Scenario {
	doc := root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			doc = nil
		} else {
			doc = yamlnode.Deref(doc.Content[0])
		}
	}
	if doc == nil || doc.Kind == 0 || yamlnode.IsNull(doc) {
		p.errorf(nil, "", "empty scenario: want a mapping with name, duration and devices")
		return nil
	}
	fs, ok := p.fields(doc, "", topKeys)
	if !ok {
		return nil
	}
	sc := &Scenario{Tick: DefaultTick}
	sc.Name, _ = p.requiredString(fs, doc, "", "name")
	if e, ok := fs["description"]; ok {
		sc.Description, _ = p.str(e.val, "description")
	}
	if e, ok := fs["seed"]; ok {
		if s, ok := p.str(e.val, "seed"); ok {
			seed, err := strconv.ParseUint(s, 0, 64)
			if err != nil {
				p.errorf(yamlnode.Deref(e.val), "seed", "want an integer from 0 to %d, got %q", uint64(math.MaxUint64), s)
			}
			sc.Seed = seed
		}
	}
	if e, ok := fs["duration"]; !ok {
		p.errorf(doc, "duration", "missing required field \"duration\" (the simulated horizon, e.g. 10m)")
	} else {
		sc.Duration, _ = p.duration(e.val, "duration", durPositive)
	}
	if e, ok := fs["tick"]; ok {
		if d, ok := p.duration(e.val, "tick", durPositive); ok {
			sc.Tick = d
			if sc.Duration > 0 && d > sc.Duration {
				p.errorf(yamlnode.Deref(e.val), "tick", "tick %s is longer than the duration %s", fmtDur(d), fmtDur(sc.Duration))
			}
		}
	}
	if sc.Duration > 0 && sc.Tick > 0 && sc.Duration/sc.Tick >= MaxTicks {
		n := fs["duration"].val
		if e, ok := fs["tick"]; ok {
			n = e.val
		}
		p.errorf(n, "tick", "%s of %s ticks is %d ticks, more than the limit of %d", fmtDur(sc.Duration), fmtDur(sc.Tick), sc.Duration/sc.Tick, MaxTicks)
	}
	if e, ok := fs["plant"]; ok {
		p.hasPlant = true
		p.plant(sc, doc, e)
	}
	if _, ok := fs["devices"]; !ok {
		p.errorf(doc, "devices", "missing required field \"devices\" (a scenario simulates at least one device)")
	}
	p.devices(sc, fs["devices"].val)
	p.faults(sc, fs["faults"].val)
	p.expectations(sc, fs["expect"].val)
	return sc
}
