package cluster

import (
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultLocalConfig()
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"local defaults", func(*Config) {}, ""},
		{"lan profile", func(c *Config) { c.Profile = "lan" }, ""},
		{"bad bind", func(c *Config) { c.BindAddr = "nohostport" }, "bind address"},
		{"bad port", func(c *Config) { c.BindAddr = "127.0.0.1:99999" }, "bind address"},
		{"bad join", func(c *Config) { c.Join = []string{"127.0.0.1:7946", "x"} }, `join address "x"`},
		{"bad profile", func(c *Config) { c.Profile = "wan" }, "profile"},
		{"bad key", func(c *Config) { c.SecretKey = []byte("short") }, "gossip key is 5 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestIdentityFromPID(t *testing.T) {
	tests := []struct {
		name     string
		pid      string
		kind, id string
		ok       bool
	}{
		{"plain", childPrefix + activationName(cluster.NewClusterIdentity("pump-01", "twin")), "twin", "pump-01", true},
		{"id with slashes", childPrefix + activationName(cluster.NewClusterIdentity("site/a/pump:1", "twin")), "twin", "site/a/pump:1", true},
		{"not an activation", "someone-else/twin/x", "", "", false},
		{"no identity", childPrefix + "twin/", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ci, ok := identityOf(actor.NewPID("127.0.0.1:1", tc.pid))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (ci.Kind != tc.kind || ci.Identity != tc.id) {
				t.Fatalf("identity = %s/%s, want %s/%s", ci.Kind, ci.Identity, tc.kind, tc.id)
			}
		})
	}
}
