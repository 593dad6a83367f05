package edge

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// FuzzParseConfig checks that ParseConfig never panics, that every error
// is located and that a parsed configuration is consistent with the plant
// of testdata/edge.yaml.
func FuzzParseConfig(f *testing.F) {
	plant := loadPlant(f)
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tt := range errorCases {
		f.Add([]byte(tt.yaml))
	}
	located := regexp.MustCompile(`^fuzz\.yaml:[1-9][0-9]*(:[1-9][0-9]*)?: `)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz.yaml", data, plant)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *ConfigError", err, err)
			}
			if len(ce.Problems) == 0 || len(ce.Problems) > maxErrors+1 {
				t.Fatalf("%d problems", len(ce.Problems))
			}
			for i, p := range ce.Problems {
				if !located.MatchString(p) && (i != maxErrors || p != "fuzz.yaml: too many errors (showing the first 50)") {
					t.Fatalf("problem %q is not located", p)
				}
			}
			return
		}
		for _, cc := range c.Connectors {
			if got, ok := c.Connector(cc.Name); !ok || got != cc || !validName(cc.Name) {
				t.Fatalf("Connector(%q) = %v, %v", cc.Name, got, ok)
			}
			if (cc.Modbus != nil) != (cc.Protocol == ProtocolModbus) || (cc.OPCUA != nil) != (cc.Protocol == ProtocolOPCUA) || (cc.MQTT != nil) != (cc.Protocol == ProtocolMQTT) {
				t.Fatalf("connector %s (%s) has the wrong sections", cc.Name, cc.Protocol)
			}
			if msg := checkEndpoint(cc.Protocol, cc.Endpoint); msg != "" {
				t.Fatalf("connector %s: %s", cc.Name, msg)
			}
		}
		reads := make(map[[2]string]bool)
		n := 0
		for _, b := range c.Bindings {
			cc, ok := c.Connector(b.Connector)
			if !ok {
				t.Fatalf("binding of %s: no connector %q", b.TwinID, b.Connector)
			}
			if !slices.Contains(c.BindingsOf(b.Connector), b) {
				t.Fatalf("BindingsOf(%q) misses %s", b.Connector, b.TwinID)
			}
			spec, ok := plant.Twin(b.TwinID)
			if !ok {
				t.Fatalf("binding of undeclared twin %q", b.TwinID)
			}
			for _, pb := range slices.Concat(b.Points, b.Writes) {
				prop, ok := spec.Model.Property(pb.Property)
				if !ok {
					t.Fatalf("twin %s: no property %q", b.TwinID, pb.Property)
				}
				if slices.ContainsFunc(b.Writes, func(w PointBinding) bool { return w.Property == pb.Property }) && !prop.Writable {
					t.Fatalf("twin %s: write to non-writable %q", b.TwinID, pb.Property)
				}
				checkPoint(t, cc, pb)
			}
			for _, pb := range b.Points {
				k := [2]string{b.TwinID, pb.Property}
				if reads[k] {
					t.Fatalf("twin %s: property %s read twice", b.TwinID, pb.Property)
				}
				reads[k] = true
			}
			for _, cb := range b.Commands {
				if _, ok := spec.Model.Command(cb.Command); !ok {
					t.Fatalf("twin %s: no command %q", b.TwinID, cb.Command)
				}
				if cc.Protocol == ProtocolModbus && (cb.Address < 0 || cb.Address > 65535) {
					t.Fatalf("twin %s command %s: address %d", b.TwinID, cb.Command, cb.Address)
				}
			}
			n++
		}
		total := 0
		for _, cc := range c.Connectors {
			total += len(c.BindingsOf(cc.Name))
		}
		if total != n {
			t.Fatalf("BindingsOf lists %d bindings, Bindings %d", total, n)
		}
	})
}

// checkPoint checks the protocol fields of a parsed point.
func checkPoint(t *testing.T, cc *ConnectorConfig, pb PointBinding) {
	t.Helper()
	switch cc.Protocol {
	case ProtocolOPCUA:
		if msg := checkNodeID(pb.NodeID); msg != "" {
			t.Fatalf("%s: %s", pb.Property, msg)
		}
	case ProtocolModbus:
		if pb.Address < 0 || pb.Address > 65535 || pb.Table == "" || pb.Type == "" {
			t.Fatalf("%s: %+v", pb.Property, pb)
		}
		if isBits(pb.Table) && pb.Type != "bool" {
			t.Fatalf("%s: %s on %s", pb.Property, pb.Type, pb.Table)
		}
	case ProtocolMQTT:
		if !validJSONPath(pb.Field) {
			t.Fatalf("%s: field %q", pb.Property, pb.Field)
		}
	}
}
