// Package authtest provides a throwaway certificate authority for tests of
// TLS and mutual TLS with package auth.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

var (
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
)

// PKI is a throwaway certificate authority for tests. Its files are PEM:
// certificates, and keys as PKCS #8. Its methods are safe for concurrent
// use.
type PKI struct {
	// Dir holds the files.
	Dir string
	// CAFile is the CA certificate.
	CAFile string
	// ServerCert and ServerKey are a server certificate for 127.0.0.1,
	// ::1 and localhost, signed by the CA.
	ServerCert, ServerKey string

	caCert *x509.Certificate
	caKey  crypto.Signer

	mu      sync.Mutex
	clients int // client certificates issued, for file names
}

// NewPKI creates a CA and a server certificate for 127.0.0.1 / localhost,
// written as PEM files under dir. Keys are ECDSA P-256; certificates are
// valid from an hour ago to a day from now.
func NewPKI(dir string) (*PKI, error) {
	p := &PKI{
		Dir:        dir,
		CAFile:     filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("authtest: generate CA key: %w", err)
	}
	tmpl, err := template(pkix.Name{CommonName: "plantwin test CA"})
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("authtest: create CA certificate: %w", err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("authtest: parse CA certificate: %w", err)
	}
	p.caKey = key
	if err := writePEM(p.CAFile, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}

	tmpl, err = template(pkix.Name{CommonName: "localhost"})
	if err != nil {
		return nil, err
	}
	tmpl.DNSNames = []string{"localhost"}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if err := p.issue(tmpl, p.ServerCert, p.ServerKey); err != nil {
		return nil, err
	}
	return p, nil
}

// ClientCert issues a client certificate with the given common name and
// organizational units and returns the paths of the certificate and key
// files. Each OU is a relative distinguished name of its own, in the
// order given, followed by the CN (as openssl's -subj /OU=a/OU=b/CN=x
// makes them): values within one multi-valued RDN would be reordered by
// DER's sorting of SET OF.
func (p *PKI) ClientCert(cn string, ous ...string) (certFile, keyFile string, err error) {
	var subject pkix.Name
	for _, ou := range ous {
		subject.ExtraNames = append(subject.ExtraNames, pkix.AttributeTypeAndValue{Type: oidOU, Value: ou})
	}
	subject.ExtraNames = append(subject.ExtraNames, pkix.AttributeTypeAndValue{Type: oidCN, Value: cn})
	tmpl, err := template(subject)
	if err != nil {
		return "", "", err
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	p.mu.Lock()
	p.clients++
	n := p.clients
	p.mu.Unlock()
	base := filepath.Join(p.Dir, fmt.Sprintf("client-%d-%s", n, fileSafe(cn)))
	certFile, keyFile = base+".pem", base+"-key.pem"
	if err := p.issue(tmpl, certFile, keyFile); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// issue creates a key, signs tmpl with the CA and writes both.
func (p *PKI) issue(tmpl *x509.Certificate, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("authtest: generate key: %w", err)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return fmt.Errorf("authtest: create certificate for %s: %w", tmpl.Subject, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("authtest: marshal key: %w", err)
	}
	if err := writePEM(certFile, "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writePEM(keyFile, "PRIVATE KEY", keyDER, 0o600)
}

// template returns a certificate template with a random serial number,
// valid from an hour ago to a day from now.
func template(subject pkix.Name) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("authtest: serial number: %w", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}, nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("authtest: %w", err)
	}
	return nil
}

// fileSafe turns a common name into a file-name fragment.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	if len(s) > 32 {
		s = s[:32]
	}
	return s
}
