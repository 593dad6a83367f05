package cluster

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLSServerName is the name every node's remote certificate must carry as
// a DNS subject alternative name: nodes dial each other by IP address and
// check the peer's certificate against this name, not against the address.
const TLSServerName = "plantwin-cluster"

// maxRemoteMessageSize bounds a protoactor remote message in both
// directions (16 MiB; gRPC's default receive limit is 4 MiB).
const maxRemoteMessageSize = 16 << 20

// ErrUnprotectedAddr is returned by [CheckClusterAddrs] for a cluster
// address reachable from other machines without gossip encryption and
// remote TLS.
var ErrUnprotectedAddr = errors.New("cluster: unprotected cluster traffic on a non-loopback address")

// LoadGossipKey reads a memberlist encryption key (Config.SecretKey) from
// a file holding it in standard base64, surrounding whitespace allowed,
// as printed by [NewGossipKey]. The key must decode to 16, 24 or 32 bytes
// (AES-128, -192 or -256). Only the content is checked, not the file's
// permissions.
func LoadGossipKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip key: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, fmt.Errorf("cluster: gossip key file %s is empty", path)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip key file %s: not base64: %w", path, err)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("cluster: gossip key file %s: key is %d bytes, want 16, 24 or 32", path, len(key))
}

// NewGossipKey returns a new random 32-byte gossip key (AES-256) in
// standard base64, the content of a file for [LoadGossipKey].
func NewGossipKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("cluster: generate gossip key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// RemoteTLS configures mutual TLS for protoactor remote, the gRPC
// connections between nodes. Each node has one certificate, which it
// presents both as a server and as a client, signed by a CA dedicated to
// the cluster: a node accepts any peer with a certificate from that CA.
// The certificate must carry the DNS name [TLSServerName]
// ("plantwin-cluster") as a subject alternative name and, if it lists
// extended key usages, both server and client authentication. Files are
// PEM; the key may be PKCS #1, PKCS #8 or SEC 1.
//
// The zero value is TLS off ([RemoteTLS.Enabled] is false).
type RemoteTLS struct {
	// CertFile is the node's certificate (--cluster-tls-cert), optionally
	// followed by intermediate CA certificates.
	CertFile string
	// KeyFile is the private key of CertFile (--cluster-tls-key).
	KeyFile string
	// CAFile holds the cluster CA certificates peers must chain to
	// (--cluster-ca).
	CAFile string
}

// Enabled reports whether any of the files is set.
func (t RemoteTLS) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != ""
}

// Validate checks, without I/O, that the files are set all together or
// not at all, naming the missing flags.
func (t RemoteTLS) Validate() error {
	if !t.Enabled() {
		return nil
	}
	var missing []string
	if t.CertFile == "" {
		missing = append(missing, "--cluster-tls-cert")
	}
	if t.KeyFile == "" {
		missing = append(missing, "--cluster-tls-key")
	}
	if t.CAFile == "" {
		missing = append(missing, "--cluster-ca")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("cluster: remote TLS needs --cluster-tls-cert, --cluster-tls-key and --cluster-ca together; missing %s", strings.Join(missing, ", "))
}

// Options loads the files and returns protoactor remote options for mutual
// TLS: the server requires a client certificate from the CA, the client
// checks the server's certificate against the CA and [TLSServerName], and
// messages up to 16 MiB pass both ways. The dial options replace
// protoactor's default (plaintext) ones. Errors name the file and the
// problem; the node's certificate is checked against the CA and the name
// here, so that a misconfigured node fails at start rather than at its
// first connection.
func (t RemoteTLS) Options() ([]remote.ConfigOption, error) {
	c, err := t.load()
	if err != nil {
		return nil, err
	}
	return []remote.ConfigOption{
		remote.WithServerOptions(c.serverOptions()...),
		remote.WithDialOptions(c.dialOptions()...),
	}, nil
}

// PlainRemoteOptions returns protoactor remote options without TLS that
// let messages up to 16 MiB pass both ways, like [RemoteTLS.Options].
func PlainRemoteOptions() []remote.ConfigOption {
	return []remote.ConfigOption{
		remote.WithServerOptions(plainServerOptions()...),
		remote.WithDialOptions(plainDialOptions()...),
	}
}

func plainServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(maxRemoteMessageSize)}
}

func plainDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRemoteMessageSize)),
	}
}

// serverOptions loads the files and returns the gRPC server options of
// [RemoteTLS.Options].
func (t RemoteTLS) serverOptions() ([]grpc.ServerOption, error) {
	c, err := t.load()
	if err != nil {
		return nil, err
	}
	return c.serverOptions(), nil
}

// dialOptions loads the files and returns the gRPC dial options of
// [RemoteTLS.Options].
func (t RemoteTLS) dialOptions() ([]grpc.DialOption, error) {
	c, err := t.load()
	if err != nil {
		return nil, err
	}
	return c.dialOptions(), nil
}

// remoteCreds is a loaded RemoteTLS.
type remoteCreds struct {
	cert tls.Certificate
	pool *x509.CertPool
}

func (c remoteCreds) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{c.cert},
			ClientCAs:    c.pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		})),
		grpc.MaxRecvMsgSize(maxRemoteMessageSize),
	}
}

func (c remoteCreds) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{c.cert},
			RootCAs:      c.pool,
			ServerName:   TLSServerName,
			MinVersion:   tls.VersionTLS12,
		})),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRemoteMessageSize)),
	}
}

// load reads and checks the three files.
func (t RemoteTLS) load() (remoteCreds, error) {
	if !t.Enabled() {
		return remoteCreds{}, errors.New("cluster: remote TLS is not configured (--cluster-tls-cert, --cluster-tls-key, --cluster-ca)")
	}
	if err := t.Validate(); err != nil {
		return remoteCreds{}, err
	}
	caPEM, err := os.ReadFile(t.CAFile)
	if err != nil {
		return remoteCreds{}, fmt.Errorf("cluster: --cluster-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return remoteCreds{}, fmt.Errorf("cluster: --cluster-ca %s: no PEM certificates in CA file", t.CAFile)
	}
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return remoteCreds{}, fmt.Errorf("cluster: --cluster-tls-cert: %w", err)
	}
	chain, err := parseCertificates(certPEM)
	if err != nil {
		return remoteCreds{}, fmt.Errorf("cluster: --cluster-tls-cert %s: %w", t.CertFile, err)
	}
	keyPEM, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return remoteCreds{}, fmt.Errorf("cluster: --cluster-tls-key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificate parsed above, so the key is at fault:
		// unreadable, or not the certificate's ("private key does not
		// match public key").
		return remoteCreds{}, fmt.Errorf("cluster: --cluster-tls-key %s (for --cluster-tls-cert %s): %w", t.KeyFile, t.CertFile, err)
	}
	if err := checkNodeCert(chain, pool); err != nil {
		return remoteCreds{}, fmt.Errorf("cluster: --cluster-tls-cert %s: %w", t.CertFile, err)
	}
	return remoteCreds{cert: cert, pool: pool}, nil
}

// parseCertificates parses the CERTIFICATE blocks of a PEM file, leaf
// first.
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificates")
	}
	return certs, nil
}

// checkNodeCert checks that the leaf of chain is what peers will accept:
// valid now, for TLSServerName, chaining to the CA pool for both server
// and client authentication.
func checkNodeCert(chain []*x509.Certificate, pool *x509.CertPool) error {
	leaf := chain[0]
	if err := leaf.VerifyHostname(TLSServerName); err != nil {
		return fmt.Errorf("node certificates need the DNS name %q: %w", TLSServerName, err)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         pool,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{usage},
		})
		if err != nil {
			return fmt.Errorf("not valid with --cluster-ca for %s: %w", usageName(usage), err)
		}
	}
	return nil
}

func usageName(u x509.ExtKeyUsage) string {
	if u == x509.ExtKeyUsageServerAuth {
		return "server authentication"
	}
	return "client authentication"
}

// CheckClusterAddrs refuses to expose unprotected cluster traffic. addrs
// maps a flag name ("gossip", "remote", "advertise"; with or without the
// leading dashes) to its host:port; empty addresses are skipped. An
// address whose host is not loopback (127.0.0.0/8, ::1 or "localhost"; an
// empty host, 0.0.0.0 and :: listen everywhere, so they are not) needs
// both gossip encryption (haveKey) and remote TLS (haveTLS), unless
// insecure is set; the error wraps [ErrUnprotectedAddr] and names the flag,
// the address and the missing flags. A malformed address is an error
// whatever the other arguments. Flags are checked in name order.
func CheckClusterAddrs(addrs map[string]string, haveKey, haveTLS, insecure bool) error {
	flags := make([]string, 0, len(addrs))
	for f := range addrs {
		flags = append(flags, f)
	}
	slices.Sort(flags)
	for _, f := range flags {
		addr := addrs[f]
		if addr == "" {
			continue
		}
		flag := "--" + strings.TrimLeft(f, "-")
		host, _, err := splitHostPort(addr)
		if err != nil {
			return fmt.Errorf("cluster: %s %q: %w", flag, addr, err)
		}
		if insecure || isLoopbackHost(host) || (haveKey && haveTLS) {
			continue
		}
		var missing []string
		if !haveKey {
			missing = append(missing, "--gossip-key-file (gossip encryption)")
		}
		if !haveTLS {
			missing = append(missing, "--cluster-tls-cert/--cluster-tls-key/--cluster-ca (remote TLS)")
		}
		return fmt.Errorf("%w: %s %s is not a loopback address and needs %s; pass --insecure to run without them",
			ErrUnprotectedAddr, flag, addr, strings.Join(missing, " and "))
	}
	return nil
}

// isLoopbackHost reports whether host (from host:port) names a loopback
// address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
