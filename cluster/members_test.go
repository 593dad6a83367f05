package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// startProviders starts n providers gossiping on loopback, the later ones
// joining the first, without protoactor (the topology is not published).
func startProviders(t *testing.T, n int) []*Provider {
	t.Helper()
	var ps []*Provider
	for i := range n {
		cfg := DefaultLocalConfig()
		cfg.JoinRetry = 50 * time.Millisecond
		cfg.NodeName, cfg.Role, cfg.Zone = fmt.Sprintf("n%d", i+1), "worker", "z1"
		cfg.APIAddr = fmt.Sprintf("127.0.0.1:%d", 7070+i)
		if i > 0 {
			cfg.Join = []string{ps[0].GossipAddr()}
		}
		p, err := NewProvider(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.start(nil, fmt.Sprintf("id-%d", i+1), p.selfMeta("127.0.0.1", 9000+i, []string{"twin"})); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Shutdown(false) })
		ps = append(ps, p)
	}
	return ps
}

func waitMembers(t *testing.T, p *Provider, want int) []Member {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ms := p.Members()
		if len(ms) == want {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s sees %d members, want %d: %+v", p.cfg.NodeName, len(ms), want, ms)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// TestMembers: three providers join one gossip cluster; each sees all
// three with their names, addresses, role and zone; a state announced
// with SetState reaches the others; a node that leaves is dropped.
func TestMembers(t *testing.T) {
	ps := startProviders(t, 3)
	for _, p := range ps {
		ms := waitMembers(t, p, 3)
		for i, m := range ms {
			if m.Name != fmt.Sprintf("n%d", i+1) || m.ID != fmt.Sprintf("id-%d", i+1) || m.Role != "worker" || m.Zone != "z1" ||
				m.ActorAddr != fmt.Sprintf("127.0.0.1:%d", 9000+i) || m.APIAddr != fmt.Sprintf("127.0.0.1:%d", 7070+i) ||
				m.State != "alive" || m.Start.IsZero() || m.Self != (m.Name == p.cfg.NodeName) || !strings.HasPrefix(m.GossipAddr, "127.0.0.1:") {
				t.Errorf("%s sees member %d as %+v", p.cfg.NodeName, i, m)
			}
		}
	}
	if err := ps[1].SetState("draining"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms := ps[0].Members()
		if len(ms) == 3 && ms[1].State == "draining" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 sees %+v, want n2 draining", ms)
		}
		<-time.After(20 * time.Millisecond)
	}
	if err := ps[2].Shutdown(true); err != nil {
		t.Fatal(err)
	}
	if ms := waitMembers(t, ps[0], 2); ms[0].Name != "n1" || ms[1].Name != "n2" {
		t.Errorf("after n3 left: %+v", ms)
	}
}

// TestMetaSize: the largest metadata a node gossips fits memberlist's
// limit, and a name too long for it is refused with a clear error.
func TestMetaSize(t *testing.T) {
	p, _ := NewProvider(DefaultLocalConfig())
	p.cfg.NodeName, p.cfg.Role, p.cfg.Zone = strings.Repeat("n", 64), strings.Repeat("r", 32), strings.Repeat("z", 32)
	p.cfg.APIAddr = "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
	m := p.selfMeta("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 65535, []string{"twin"})
	m.State = "draining"
	if b, err := encodeMeta(m); err != nil || len(b) > memberlist.MetaMaxSize {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	m.Name = strings.Repeat("n", 600)
	if _, err := encodeMeta(m); err == nil || !strings.Contains(err.Error(), "memberlist allows 512") {
		t.Fatalf("a 600-byte name: %v", err)
	}
}
