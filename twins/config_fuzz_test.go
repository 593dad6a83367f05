package twins

import (
	"errors"
	"os"
	"testing"
)

// FuzzParseConfig checks that ParseConfig never panics, that a parsed
// configuration is consistent and that every error is located.
func FuzzParseConfig(f *testing.F) {
	if data, err := os.ReadFile("testdata/plant.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(stateTestConfig))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A small twin limit keeps every input fast; TestParseConfigErrors
		// covers the real limit.
		c, err := parseConfig("fuzz.yaml", data, 10_000)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			checkLocated(t, err)
			return
		}
		for _, m := range c.Models {
			if got, ok := c.Model(m.Name); !ok || got != m {
				t.Fatalf("Model(%q) = %v, %v", m.Name, got, ok)
			}
			for i := range m.Properties {
				p, ok := m.Property(m.Properties[i].Name)
				if !ok || p.Index != i || p != &m.Properties[i] {
					t.Fatalf("model %s: Property(%q) = %v, %v at %d", m.Name, m.Properties[i].Name, p, ok, i)
				}
			}
		}
		for _, s := range c.Twins {
			if s.Model == nil {
				t.Fatalf("twin %q has no model", s.ID)
			}
			if m, ok := c.Model(s.ModelName); !ok || m != s.Model {
				t.Fatalf("twin %q: model %q not declared", s.ID, s.ModelName)
			}
			if got, ok := c.Twin(s.ID); !ok || got != s {
				t.Fatalf("Twin(%q) = %v, %v", s.ID, got, ok)
			}
			if s.Parent != "" {
				if _, ok := c.Twin(s.Parent); !ok {
					t.Fatalf("twin %q: parent %q not declared", s.ID, s.Parent)
				}
			}
		}
	})
}

func checkLocated(t *testing.T, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("error %v (%T) is not a *ConfigError", e, e)
		}
		if ce.File != "fuzz.yaml" || ce.Line < 1 {
			t.Fatalf("error %q is not located", ce)
		}
	}
}
