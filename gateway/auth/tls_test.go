package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/plantwin/plantwin/gateway/auth/authtest"
)

func TestRoleFromCertificate(t *testing.T) {
	tests := []struct {
		name    string
		subject pkix.Name
		want    Identity
		wantErr string
	}{
		{name: "operator", subject: pkix.Name{CommonName: "scada", OrganizationalUnit: []string{"operator"}},
			want: Identity{Name: "cert:CN=scada,OU=operator", Role: RoleOperator}},
		{name: "role name in any case", subject: pkix.Name{CommonName: "ops", Organization: []string{"Acme"}, OrganizationalUnit: []string{"Admin"}},
			want: Identity{Name: "cert:CN=ops,OU=Admin,O=Acme", Role: RoleAdmin}},
		{name: "first role OU wins", subject: pkix.Name{CommonName: "hmi", OrganizationalUnit: []string{"plant-1", "viewer", "admin"}},
			want: Identity{Name: "cert:CN=hmi,OU=plant-1+OU=viewer+OU=admin", Role: RoleViewer}},
		{name: "no OU", subject: pkix.Name{CommonName: "printer"},
			wantErr: `auth: client certificate "CN=printer" has no role OU (want viewer, operator or admin)`},
		{name: "no role OU", subject: pkix.Name{CommonName: "printer", OrganizationalUnit: []string{"facilities"}},
			wantErr: `auth: client certificate "CN=printer,OU=facilities" has no role OU (want viewer, operator or admin)`},
		{name: "role in CN does not count", subject: pkix.Name{CommonName: "admin"},
			wantErr: `auth: client certificate "CN=admin" has no role OU (want viewer, operator or admin)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RoleFromCertificate(&x509.Certificate{Subject: tt.subject})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("RoleFromCertificate = %v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := RoleFromCertificate(nil); err == nil {
		t.Error("RoleFromCertificate(nil): no error")
	}
}

func TestServerClientTLS(t *testing.T) {
	dir := t.TempDir()
	pki, err := authtest.NewPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey, err := pki.ClientCert("scada", "operator")
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := ServerTLS(pki.ServerCert, pki.ServerKey, pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.VerifyClientCertIfGiven || cfg.ClientCAs == nil || len(cfg.Certificates) != 1 {
		t.Errorf("ServerTLS with client CA: MinVersion %x, ClientAuth %v, ClientCAs %v, %d certificates",
			cfg.MinVersion, cfg.ClientAuth, cfg.ClientCAs != nil, len(cfg.Certificates))
	}
	if cfg, err = ServerTLS(pki.ServerCert, pki.ServerKey, ""); err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.NoClientCert || cfg.ClientCAs != nil {
		t.Errorf("ServerTLS without client CA: ClientAuth %v, ClientCAs %v", cfg.ClientAuth, cfg.ClientCAs != nil)
	}
	if cfg, err = ClientTLS("", "", ""); err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.RootCAs != nil || len(cfg.Certificates) != 0 {
		t.Errorf("ClientTLS with system roots: MinVersion %x, RootCAs %v, %d certificates", cfg.MinVersion, cfg.RootCAs != nil, len(cfg.Certificates))
	}
	if cfg, err = ClientTLS(pki.CAFile, clientCert, clientKey); err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs == nil || len(cfg.Certificates) != 1 {
		t.Errorf("ClientTLS with CA and certificate: RootCAs %v, %d certificates", cfg.RootCAs != nil, len(cfg.Certificates))
	}

	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func() (*tls.Config, error)
		want string // error; {missing} and {not} stand for the files
	}{
		{name: "server: missing certificate", fn: func() (*tls.Config, error) { return ServerTLS(missing, pki.ServerKey, "") },
			want: "auth: server TLS: certificate: open {missing}: no such file or directory"},
		{name: "server: missing key", fn: func() (*tls.Config, error) { return ServerTLS(pki.ServerCert, missing, "") },
			want: "auth: server TLS: key: open {missing}: no such file or directory"},
		{name: "server: missing client CA", fn: func() (*tls.Config, error) { return ServerTLS(pki.ServerCert, pki.ServerKey, missing) },
			want: "auth: server TLS: client CA: open {missing}: no such file or directory"},
		{name: "server: client CA not PEM", fn: func() (*tls.Config, error) { return ServerTLS(pki.ServerCert, pki.ServerKey, notPEM) },
			want: "auth: server TLS: client CA: {not}: no PEM certificates"},
		{name: "server: key of another certificate", fn: func() (*tls.Config, error) { return ServerTLS(pki.ServerCert, clientKey, "") },
			want: "auth: server TLS: certificate " + pki.ServerCert + " with key " + clientKey + ": tls: private key does not match public key"},
		{name: "server: certificate not PEM", fn: func() (*tls.Config, error) { return ServerTLS(notPEM, pki.ServerKey, "") },
			want: "auth: server TLS: certificate {not} with key " + pki.ServerKey + ": tls: failed to find any PEM data in certificate input"},
		{name: "client: missing CA", fn: func() (*tls.Config, error) { return ClientTLS(missing, "", "") },
			want: "auth: client TLS: CA: open {missing}: no such file or directory"},
		{name: "client: certificate without key", fn: func() (*tls.Config, error) { return ClientTLS("", clientCert, "") },
			want: `auth: client TLS: want both a certificate and a key file or neither, got certificate "` + clientCert + `" and key ""`},
		{name: "client: key without certificate", fn: func() (*tls.Config, error) { return ClientTLS("", "", clientKey) },
			want: `auth: client TLS: want both a certificate and a key file or neither, got certificate "" and key "` + clientKey + `"`},
		{name: "client: missing certificate", fn: func() (*tls.Config, error) { return ClientTLS(pki.CAFile, missing, clientKey) },
			want: "auth: client TLS: certificate: open {missing}: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.fn()
			if err == nil {
				t.Fatalf("got a config (%d certificates), want an error", len(cfg.Certificates))
			}
			want := strings.NewReplacer("{missing}", missing, "{not}", notPEM).Replace(tt.want)
			if diff := cmp.Diff(want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
