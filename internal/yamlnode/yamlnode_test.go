package yamlnode

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestHelpers(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: &x {b: 1}\nc: *x\nd: null\ne: [1]\nf: hi\n"), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	val := func(k string) *yaml.Node {
		for i := 0; i < len(m.Content); i += 2 {
			if m.Content[i].Value == k {
				return m.Content[i+1]
			}
		}
		return nil
	}
	if got := Kind(Deref(val("c"))); got != "a mapping" {
		t.Errorf("alias → %q", got)
	}
	for k, want := range map[string]string{"d": "null", "e": "a list", "f": `"hi"`} {
		if got := Kind(val(k)); got != want {
			t.Errorf("Kind(%s) = %q, want %q", k, got, want)
		}
	}
	if Kind(nil) != "nothing" || !IsNull(nil) || !IsNull(val("d")) || IsNull(val("f")) {
		t.Error("nil/null handling")
	}
	if Join("", "a") != "a" || Join("models[0]", "name") != "models[0].name" || Index("twins", 3) != "twins[3]" {
		t.Error("path helpers")
	}
}

func TestHashIgnoresPosition(t *testing.T) {
	parse := func(s string) *yaml.Node {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil {
			t.Fatal(err)
		}
		return &n
	}
	a := parse("a: 1\nb: [x, y]\n")
	b := parse("\n\n# moved\na: 1\nb:\n  - x\n  - y\n")
	c := parse("a: 1\nb: [x, z]\n")
	if Hash(a) != Hash(b) {
		t.Error("the same content at other positions hashes differently")
	}
	if Hash(a) == Hash(c) {
		t.Error("different content hashes the same")
	}
}
