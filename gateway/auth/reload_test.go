package auth

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
)

func bearerCtx(token string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
}

func TestSetTokensSwapsTheTokenSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	old, err := CreateToken(path, "old", RoleViewer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	first, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Tokens: first, Policy: map[string]Role{"/x/Get": RoleViewer}})
	if _, err := a.Authorize(bearerCtx(old), "/x/Get"); err != nil {
		t.Fatalf("old token before reload: %v", err)
	}
	// Rotate: a new file holding only the new token.
	path2 := filepath.Join(t.TempDir(), "tokens.yaml")
	fresh, err := CreateToken(path2, "new", RoleViewer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadTokens(path2)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetTokens(second); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authorize(bearerCtx(old), "/x/Get"); err == nil {
		t.Fatal("revoked token still accepted")
	}
	ctx, err := a.Authorize(bearerCtx(fresh), "/x/Get")
	if err != nil {
		t.Fatalf("new token: %v", err)
	}
	if id, _ := FromContext(ctx); id.Name != "token:new" {
		t.Fatalf("identity %q", id.Name)
	}
	if err := a.SetTokens(nil); err == nil {
		t.Fatal("SetTokens(nil) accepted")
	}
	if err := New(Config{ClientCerts: true}).SetTokens(second); err == nil {
		t.Fatal("SetTokens turned token auth on")
	}
}

func TestDenialLogsAreLimited(t *testing.T) {
	var l denialLogLimiter
	now := time.Unix(1000, 0)
	allowed := 0
	for range 100 {
		if ok, _ := l.allow(now); ok {
			allowed++
		}
	}
	if allowed != denialLogBurst {
		t.Fatalf("%d logged in one second, want %d", allowed, denialLogBurst)
	}
	ok, suppressed := l.allow(now.Add(time.Second))
	if !ok || suppressed != 100-denialLogBurst {
		t.Fatalf("next second: ok=%v suppressed=%d, want true %d", ok, suppressed, 100-denialLogBurst)
	}
}
