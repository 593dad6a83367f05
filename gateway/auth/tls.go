package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// RoleFromCertificate maps a verified client certificate to an identity.
// The role is the first Subject OrganizationalUnit that is a role name
// (viewer, operator or admin, ignoring case); the name is "cert:" followed
// by Subject.String(), such as "cert:CN=scada,OU=operator,O=Acme". A
// certificate without a role OU is an error. "First" is in certificate
// order; several OUs in one multi-valued RDN are sorted by DER encoding,
// so a certificate with more than one OU should give each its own RDN.
// The certificate must already be verified: RoleFromCertificate only
// reads it.
func RoleFromCertificate(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, errors.New("auth: no client certificate")
	}
	name := "cert:" + cert.Subject.String()
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r, ok := parseRole(ou); ok {
			return Identity{Name: name, Role: r}, nil
		}
	}
	return Identity{}, fmt.Errorf("auth: client certificate %q has no role OU (%s)", cert.Subject.String(), roleWant)
}

// ServerTLS builds a server TLS configuration (TLS 1.2 minimum) from the
// PEM files certFile (certificate chain, leaf first) and keyFile. With
// clientCAFile non-empty, client certificates are verified against the CA
// certificates in that file when presented (tls.VerifyClientCertIfGiven):
// a client may still authenticate with a token instead, and the
// Authorizer rejects callers with neither. Errors name the file.
func ServerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("auth: server TLS: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if clientCAFile != "" {
		pool, err := loadCertPool(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("auth: server TLS: client CA: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// ClientTLS builds a client TLS configuration (TLS 1.2 minimum) that
// verifies the server against the CA certificates in caFile, or against
// the system roots if caFile is "". certFile and keyFile, both or neither,
// are the client certificate for mutual TLS. Errors name the file.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCertPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("auth: client TLS: CA: %w", err)
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile == "" && keyFile == "":
	case certFile == "" || keyFile == "":
		return nil, fmt.Errorf("auth: client TLS: want both a certificate and a key file or neither, got certificate %q and key %q", certFile, keyFile)
	default:
		cert, err := loadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("auth: client TLS: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// loadKeyPair reads a certificate and its key, naming the file at fault.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// loadCertPool reads PEM CA certificates from file.
func loadCertPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificates", file)
	}
	return pool, nil
}
