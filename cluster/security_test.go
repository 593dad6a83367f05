package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGossipKeyLoad(t *testing.T) {
	key := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	}
	enc := func(n int) string { return base64.StdEncoding.EncodeToString(key(n)) }
	tests := []struct {
		name    string
		content string
		want    []byte
		wantErr string
	}{
		{"16 bytes", enc(16), key(16), ""},
		{"24 bytes", enc(24), key(24), ""},
		{"32 bytes", enc(32), key(32), ""},
		{"whitespace", " \n\t" + enc(32) + "\r\n\n", key(32), ""},
		{"bad base64", "not*base64!", nil, "not base64"},
		{"url encoding", strings.ReplaceAll(strings.ReplaceAll(enc(32), "+", "-"), "/", "_") + "-_", nil, "not base64"},
		{"20 bytes", enc(20), nil, "key is 20 bytes, want 16, 24 or 32"},
		{"64 bytes", enc(64), nil, "key is 64 bytes"},
		{"empty", " \n", nil, "is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "gossip.key", tc.content)
			got, err := LoadGossipKey(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("LoadGossipKey = %v, want an error naming %s and containing %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadGossipKey: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("key (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.key")
		_, err := LoadGossipKey(path)
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Fatalf("LoadGossipKey = %v, want a not-exist error naming %s", err, path)
		}
	})
}

func TestGossipKeyNew(t *testing.T) {
	a, err := NewGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two new keys are equal: %s", a)
	}
	// As `plantwin cluster keygen > gossip.key` writes it.
	got, err := LoadGossipKey(writeFile(t, "gossip.key", a+"\n"))
	if err != nil {
		t.Fatalf("LoadGossipKey(NewGossipKey()): %v", err)
	}
	want, _ := base64.StdEncoding.DecodeString(a)
	if len(got) != 32 {
		t.Fatalf("new key is %d bytes, want 32", len(got))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("key (-want +got):\n%s", diff)
	}
	cfg := DefaultLocalConfig()
	cfg.SecretKey = got
	if err := cfg.Validate(); err != nil {
		t.Errorf("Config with the new key: %v", err)
	}
}

// testCA is a throwaway certificate authority writing PEM files.
type testCA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // CA certificate
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := certTemplate(t, name)
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{dir: t.TempDir(), cert: cert, key: key}
	ca.file = ca.write(t, name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

func certTemplate(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

func (ca *testCA) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(ca.dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue writes a node certificate for dnsNames (server and client
// authentication) and its PKCS #8 key.
func (ca *testCA) issue(t *testing.T, name string, dnsNames ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := certTemplate(t, name)
	tmpl.DNSNames = dnsNames
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return ca.write(t, name+".pem", "CERTIFICATE", der), ca.write(t, name+"-key.pem", "PRIVATE KEY", pk)
}

func TestRemoteTLSValidate(t *testing.T) {
	tests := []struct {
		name    string
		tls     RemoteTLS
		enabled bool
		missing []string // flags the error names; nil: no error
	}{
		{"off", RemoteTLS{}, false, nil},
		{"complete", RemoteTLS{CertFile: "c", KeyFile: "k", CAFile: "ca"}, true, nil},
		{"cert only", RemoteTLS{CertFile: "c"}, true, []string{"--cluster-tls-key", "--cluster-ca"}},
		{"key only", RemoteTLS{KeyFile: "k"}, true, []string{"--cluster-tls-cert", "--cluster-ca"}},
		{"no CA", RemoteTLS{CertFile: "c", KeyFile: "k"}, true, []string{"--cluster-ca"}},
		{"no key", RemoteTLS{CertFile: "c", CAFile: "ca"}, true, []string{"--cluster-tls-key"}},
		{"CA only", RemoteTLS{CAFile: "ca"}, true, []string{"--cluster-tls-cert", "--cluster-tls-key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tls.Enabled(); got != tc.enabled {
				t.Errorf("Enabled() = %v, want %v", got, tc.enabled)
			}
			err := tc.tls.Validate()
			if tc.missing == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %v", tc.missing)
			}
			_, after, _ := strings.Cut(err.Error(), "missing ")
			if diff := cmp.Diff(tc.missing, strings.Split(after, ", ")); diff != "" {
				t.Errorf("Validate() = %v; missing flags (-want +got):\n%s", err, diff)
			}
		})
	}
}

func TestRemoteTLSLoadErrors(t *testing.T) {
	ca := newTestCA(t, "cluster")
	other := newTestCA(t, "other")
	cert, key := ca.issue(t, "node1", TLSServerName)
	_, otherKey := ca.issue(t, "node2", TLSServerName)
	otherCert, otherCertKey := other.issue(t, "stranger", TLSServerName)
	noSAN, noSANKey := ca.issue(t, "nosan", "node1.example")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := writeFile(t, "ca.pem", "no certificates here\n")
	keyAsCert := key // a PEM file without CERTIFICATE blocks

	tests := []struct {
		name string
		tls  RemoteTLS
		want []string // substrings of the error
	}{
		{"not configured", RemoteTLS{}, []string{"not configured"}},
		{"incomplete", RemoteTLS{CertFile: cert}, []string{"missing --cluster-tls-key, --cluster-ca"}},
		{"missing CA", RemoteTLS{cert, key, missing}, []string{"--cluster-ca", missing, "no such file"}},
		{"CA not PEM", RemoteTLS{cert, key, notPEM}, []string{"--cluster-ca", notPEM, "no PEM certificates in CA file"}},
		{"missing cert", RemoteTLS{missing, key, ca.file}, []string{"--cluster-tls-cert", missing, "no such file"}},
		{"cert not a certificate", RemoteTLS{keyAsCert, key, ca.file}, []string{"--cluster-tls-cert", keyAsCert, "no PEM certificates"}},
		{"missing key", RemoteTLS{cert, missing, ca.file}, []string{"--cluster-tls-key", missing, "no such file"}},
		{"key of another cert", RemoteTLS{cert, otherKey, ca.file}, []string{"--cluster-tls-key", otherKey, cert, "does not match"}},
		{"no SAN", RemoteTLS{noSAN, noSANKey, ca.file}, []string{"--cluster-tls-cert", noSAN, `DNS name "plantwin-cluster"`}},
		{"cert from another CA", RemoteTLS{otherCert, otherCertKey, ca.file}, []string{"--cluster-tls-cert", otherCert, "not valid with --cluster-ca", "unknown authority"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.tls.Options()
			if err == nil {
				t.Fatalf("Options() = %d options, want an error", len(opts))
			}
			t.Logf("Options: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Options() = %v, want it to contain %q", err, w)
				}
			}
			if _, err2 := tc.tls.serverOptions(); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("serverOptions() = %v, want %v", err2, err)
			}
			if _, err2 := tc.tls.dialOptions(); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("dialOptions() = %v, want %v", err2, err)
			}
		})
	}
}

// checkNoGoroutineLeak makes the test fail if, once its other cleanups
// have run, more goroutines are left than when it was called (polling,
// not sleeping for a guess).
func checkNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			select {
			case <-tick.C:
			case <-deadline:
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutines: %d before, %d after\n%s", before, n, buf)
			}
		}
	})
}

const echoMethod = "/plantwin.test.Echo/Echo"

// echo answers any unknown method with the HealthCheckRequest it got.
func echo(_ any, stream grpc.ServerStream) error {
	var m healthpb.HealthCheckRequest
	if err := stream.RecvMsg(&m); err != nil {
		return err
	}
	return stream.SendMsg(&m)
}

// startGRPC serves the health service and echo on a loopback port with
// opts until the test ends, and returns the address.
func startGRPC(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(append(opts, grpc.UnknownServiceHandler(echo))...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// checkHealth calls Health.Check over conn.
func checkHealth(t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err == nil && res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health status %v, want SERVING", res.GetStatus())
	}
	return err
}

// checkEcho sends a 5 MiB message to echo and back, over gRPC's 4 MiB
// default receive limit.
func checkEcho(t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	in := &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 5<<20)}
	var out healthpb.HealthCheckRequest
	if err := conn.Invoke(ctx, echoMethod, in, &out); err != nil {
		return err
	}
	if len(out.GetService()) != len(in.GetService()) {
		t.Fatalf("echo returned %d bytes, sent %d", len(out.GetService()), len(in.GetService()))
	}
	return nil
}

// remoteConfig applies opts as protoactor remote does.
// wantServer is the number of server options expected.
func remoteConfig(t *testing.T, opts []remote.ConfigOption, wantServer int) *remote.Config {
	t.Helper()
	cfg := remote.Configure("127.0.0.1", 0, opts...)
	// protoactor's default dial option (plaintext) must be replaced by
	// the credentials and the call option.
	if len(cfg.DialOptions) != 2 || len(cfg.ServerOptions) != wantServer {
		t.Fatalf("remote config has %d dial and %d server options, want 2 and %d", len(cfg.DialOptions), len(cfg.ServerOptions), wantServer)
	}
	return cfg
}

// TestRemoteTLSOverGRPC serves gRPC with the options RemoteTLS gives
// protoactor remote and dials it with the node's options and with
// strangers'.
func TestRemoteTLSOverGRPC(t *testing.T) {
	checkNoGoroutineLeak(t)
	ca := newTestCA(t, "cluster")
	other := newTestCA(t, "other")
	node := RemoteTLS{CAFile: ca.file}
	node.CertFile, node.KeyFile = ca.issue(t, "node1", TLSServerName)
	peer := RemoteTLS{CAFile: ca.file}
	peer.CertFile, peer.KeyFile = ca.issue(t, "node2", TLSServerName)
	stranger := RemoteTLS{CAFile: other.file}
	stranger.CertFile, stranger.KeyFile = other.issue(t, "stranger", TLSServerName)

	opts, err := node.Options()
	if err != nil {
		t.Fatal(err)
	}
	addr := startGRPC(t, remoteConfig(t, opts, 2).ServerOptions...)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	strangerCert, err := tls.LoadX509KeyPair(stranger.CertFile, stranger.KeyFile)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("peer", func(t *testing.T) {
		popts, err := peer.Options()
		if err != nil {
			t.Fatal(err)
		}
		conn := dial(t, addr, remoteConfig(t, popts, 2).DialOptions...)
		if err := checkHealth(t, conn); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if err := checkEcho(t, conn); err != nil {
			t.Fatalf("5 MiB echo: %v", err)
		}
	})
	t.Run("peer via dialOptions", func(t *testing.T) {
		dopts, err := peer.dialOptions()
		if err != nil {
			t.Fatal(err)
		}
		if err := checkHealth(t, dial(t, addr, dopts...)); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})

	// Refused clients. Over TLS 1.3 the server checks the client's
	// certificate after the client's side of the handshake is done, so
	// the client sees the alert or a broken pipe, whichever comes first;
	// over TLS 1.2 (which the server also accepts) it always sees the
	// alert, whose text is checked.
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		refused := []struct {
			name string
			cfg  *tls.Config
			want string // in the error over TLS 1.2
		}{
			// Trusts the cluster CA and presents a certificate from
			// another (always: by default crypto/tls sends none that
			// the server's list of acceptable CAs does not cover).
			{"client cert from another CA", &tls.Config{
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &strangerCert, nil },
				RootCAs:              pool, ServerName: TLSServerName, MaxVersion: version,
			}, "tls: unknown certificate authority"},
			{"no client cert", &tls.Config{RootCAs: pool, ServerName: TLSServerName, MaxVersion: version}, "tls: handshake failure"},
		}
		for _, tc := range refused {
			t.Run(fmt.Sprintf("%s over %s", tc.name, tls.VersionName(version)), func(t *testing.T) {
				err := checkHealth(t, dial(t, addr, grpc.WithTransportCredentials(credentials.NewTLS(tc.cfg))))
				if status.Code(err) != codes.Unavailable {
					t.Fatalf("Check = %v, want Unavailable", err)
				}
				if version == tls.VersionTLS12 && !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Check = %v, want %q", err, tc.want)
				}
			})
		}
	}
	for name, opts := range map[string][]grpc.DialOption{
		"plaintext":            {grpc.WithTransportCredentials(insecure.NewCredentials())},
		"plain remote options": plainDialOptions(),
	} {
		t.Run(name, func(t *testing.T) {
			err := checkHealth(t, dial(t, addr, opts...))
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("Check = %v, want Unavailable", err)
			}
		})
	}

	t.Run("server from another CA", func(t *testing.T) {
		sopts, err := stranger.serverOptions()
		if err != nil {
			t.Fatal(err)
		}
		saddr := startGRPC(t, sopts...)
		dopts, err := peer.dialOptions()
		if err != nil {
			t.Fatal(err)
		}
		err = checkHealth(t, dial(t, saddr, dopts...))
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Check = %v, want Unavailable for the server's certificate", err)
		}
	})
}

// TestRemoteTLSPlainOptions: without TLS, the options still let 5 MiB
// messages through, which gRPC's defaults refuse.
func TestRemoteTLSPlainOptions(t *testing.T) {
	checkNoGoroutineLeak(t)
	cfg := remoteConfig(t, PlainRemoteOptions(), 1)
	conn := dial(t, startGRPC(t, cfg.ServerOptions...), cfg.DialOptions...)
	if err := checkHealth(t, conn); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := checkEcho(t, conn); err != nil {
		t.Fatalf("5 MiB echo: %v", err)
	}

	t.Run("grpc defaults refuse 5 MiB", func(t *testing.T) {
		conn := dial(t, startGRPC(t), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err := checkEcho(t, conn); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("5 MiB echo = %v, want ResourceExhausted", err)
		}
	})
}

func TestCheckClusterAddrs(t *testing.T) {
	const (
		keyFlags = "--gossip-key-file"
		tlsFlags = "--cluster-tls-cert/--cluster-tls-key/--cluster-ca"
	)
	tests := []struct {
		name                      string
		addrs                     map[string]string
		haveKey, haveTLS, insecur bool
		want                      []string // substrings of the error; nil: no error
		unprotected               bool     // the error wraps ErrUnprotectedAddr
	}{
		{"loopback v4", map[string]string{"gossip": "127.0.0.1:7946", "remote": "127.0.0.1:0"}, false, false, false, nil, false},
		{"loopback 127/8", map[string]string{"remote": "127.8.9.10:8090"}, false, false, false, nil, false},
		{"loopback v6", map[string]string{"remote": "[::1]:8090"}, false, false, false, nil, false},
		{"localhost", map[string]string{"gossip": "localhost:7946"}, false, false, false, nil, false},
		{"empty entries skipped", map[string]string{"advertise": "", "gossip": "127.0.0.1:7946"}, false, false, false, nil, false},
		{"nothing", nil, false, false, false, nil, false},
		{"any v4 without either", map[string]string{"gossip": "0.0.0.0:7946"}, false, false, false,
			[]string{"--gossip 0.0.0.0:7946", keyFlags, tlsFlags, "--insecure"}, true},
		{"any v6", map[string]string{"remote": "[::]:8090"}, true, false, false,
			[]string{"--remote [::]:8090", tlsFlags, "--insecure"}, true},
		{"empty host", map[string]string{"remote": ":8090"}, false, true, false,
			[]string{"--remote :8090", keyFlags, "--insecure"}, true},
		{"LAN address without key", map[string]string{"remote": "10.1.2.3:8090"}, false, true, false,
			[]string{"--remote 10.1.2.3:8090", keyFlags, "--insecure"}, true},
		{"LAN address without TLS", map[string]string{"advertise": "10.1.2.3:7946"}, true, false, false,
			[]string{"--advertise 10.1.2.3:7946", tlsFlags, "--insecure"}, true},
		{"LAN address with both", map[string]string{"gossip": "10.1.2.3:7946", "remote": "0.0.0.0:8090"}, true, true, false, nil, false},
		{"LAN address insecure", map[string]string{"gossip": "10.1.2.3:7946", "remote": "0.0.0.0:8090"}, false, false, true, nil, false},
		{"host name", map[string]string{"gossip": "node1.plant:7946"}, false, false, false,
			[]string{"--gossip node1.plant:7946"}, true},
		{"first flag by name", map[string]string{"remote": "10.0.0.1:1", "gossip": "10.0.0.2:2"}, false, false, false,
			[]string{"--gossip 10.0.0.2:2"}, true},
		{"dashes in the name", map[string]string{"--gossip": "10.0.0.2:2"}, false, false, false,
			[]string{"--gossip 10.0.0.2:2"}, true},
		{"malformed", map[string]string{"gossip": "127.0.0.1"}, false, false, false,
			[]string{"--gossip", `"127.0.0.1"`}, false},
		{"malformed even insecure", map[string]string{"remote": "10.1.2.3:http"}, true, true, true,
			[]string{"--remote", "10.1.2.3:http", "bad port"}, false},
		{"port out of range", map[string]string{"advertise": "127.0.0.1:70000"}, false, false, false,
			[]string{"--advertise", "bad port"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckClusterAddrs(tc.addrs, tc.haveKey, tc.haveTLS, tc.insecur)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckClusterAddrs = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckClusterAddrs = nil, want an error containing %q", tc.want)
			}
			t.Logf("CheckClusterAddrs: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckClusterAddrs = %v, want it to contain %q", err, w)
				}
			}
			if got := errors.Is(err, ErrUnprotectedAddr); got != tc.unprotected {
				t.Errorf("errors.Is(%v, ErrUnprotectedAddr) = %v, want %v", err, got, tc.unprotected)
			}
			if !tc.haveKey && tc.unprotected != strings.Contains(err.Error(), keyFlags) {
				t.Errorf("CheckClusterAddrs = %v: names %s iff the key is missing", err, keyFlags)
			}
			if tc.haveKey && strings.Contains(err.Error(), keyFlags) {
				t.Errorf("CheckClusterAddrs = %v names %s, which was given", err, keyFlags)
			}
			if tc.haveTLS && strings.Contains(err.Error(), tlsFlags) {
				t.Errorf("CheckClusterAddrs = %v names %s, which was given", err, tlsFlags)
			}
		})
	}
}
