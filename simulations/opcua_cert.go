package simulations

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// OPCUACertificate is a self-signed application instance certificate as
// OPC UA wants it: RSA 2048, the application URI in the subject
// alternative names, usable for signing and encryption by clients and
// servers alike.
type OPCUACertificate struct {
	DER []byte
	Key *rsa.PrivateKey
}

// NewOPCUACertificate makes a certificate for the application appURI
// (for example "urn:plantwin:client") on the given host names and IP
// addresses, valid for a year.
func NewOPCUACertificate(appURI string, hosts ...string) (*OPCUACertificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("simulations: opc ua certificate: %w", err)
	}
	u, err := url.Parse(appURI)
	if err != nil {
		return nil, fmt.Errorf("simulations: opc ua certificate: application uri %q: %w", appURI, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("simulations: opc ua certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: appURI, Organization: []string{"plantwin"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("simulations: opc ua certificate: %w", err)
	}
	return &OPCUACertificate{DER: der, Key: key}, nil
}

// SHA256 is the certificate's SHA-256 fingerprint as 64 lowercase hex
// digits, the form of a connector's server_cert_sha256.
func (c *OPCUACertificate) SHA256() string {
	sum := sha256.Sum256(c.DER)
	return hex.EncodeToString(sum[:])
}

// WriteFiles writes the certificate and its key as PEM files NAME.pem and
// NAME.key in dir and returns their paths.
func (c *OPCUACertificate) WriteFiles(dir, name string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(c.Key)})
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("simulations: %w", err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("simulations: %w", err)
	}
	return certFile, keyFile, nil
}
