package authtest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestPKI(t *testing.T) {
	p, err := NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, p.CAFile))
	if _, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey); err != nil {
		t.Fatalf("server key pair: %v", err)
	}
	server := readCert(t, p.ServerCert)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := server.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}

	tests := []struct {
		name    string
		cn      string
		ous     []string
		subject string
	}{
		{name: "one OU", cn: "scada", ous: []string{"operator"}, subject: "CN=scada,OU=operator"},
		{name: "OU order kept", cn: "hmi", ous: []string{"plant-1", "viewer", "admin"}, subject: "CN=hmi,OU=plant-1+OU=viewer+OU=admin"},
		{name: "no OU", cn: "printer", subject: "CN=printer"},
		{name: "same CN again", cn: "scada", ous: []string{"viewer"}, subject: "CN=scada,OU=viewer"},
		{name: "CN with slash", cn: "a/b c", subject: "CN=a/b c"},
	}
	files := make(map[string]bool)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile, err := p.ClientCert(tt.cn, tt.ous...)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{certFile, keyFile} {
				if files[f] {
					t.Errorf("file %s issued twice", f)
				}
				files[f] = true
			}
			if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
				t.Fatalf("client key pair: %v", err)
			}
			if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode: %v, %v; want 0600", fi.Mode().Perm(), err)
			}
			cert := readCert(t, certFile)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client certificate: %v", err)
			}
			if got := cert.Subject.String(); got != tt.subject {
				t.Errorf("subject = %q, want %q", got, tt.subject)
			}
			if diff := cmp.Diff(tt.ous, cert.Subject.OrganizationalUnit); diff != "" {
				t.Errorf("OUs (-want +got):\n%s", diff)
			}
		})
	}
}
