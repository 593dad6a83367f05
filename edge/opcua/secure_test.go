package opcua

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

// pki is a server certificate and a client certificate on disk.
type pki struct {
	server                *simulations.OPCUACertificate
	clientCert, clientKey string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	srv, err := simulations.NewOPCUACertificate("urn:plantwin:test:server", "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := simulations.NewOPCUACertificate("urn:plantwin:test:client", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := cl.WriteFiles(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	return &pki{server: srv, clientCert: certFile, clientKey: keyFile}
}

// colonPin renders a fingerprint as operators copy it from tools.
func colonPin(fp string) string { return colons(strings.ToUpper(fp)) }

func TestSecureSignAndEncryptWithPinnedCertificate(t *testing.T) {
	p := newPKI(t)
	t.Setenv("PLANTWIN_TEST_OPCUA_PASSWORD", "s3cret")
	srv := newServer(t, simulations.OPCUASecurity(p.server.DER, p.server.Key, false))
	r := startRig(t, srv, fmt.Sprintf(`      security_policy: Basic256Sha256
      security_mode: SignAndEncrypt
      auth: username
      username: operator
      password_env: PLANTWIN_TEST_OPCUA_PASSWORD
      cert_file: %s
      key_file: %s
      server_cert_sha256: "%s"`, p.clientCert, p.clientKey, colonPin(p.server.SHA256())))
	edgetest.WaitFor(t, "values over the encrypted channel", func() bool {
		tw := r.node.Twin("turbine-2")
		return tw.Connectivity == pb.Connectivity_CONNECTIVITY_ONLINE && reported(tw, "starts").GetValue().GetIntValue() == 2
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.conn.Write(ctx, "turbine-2", "setpoint", twins.Double(5)); err != nil {
		t.Fatal(err)
	}
	if v, _ := srv.Get("T2.Setpoint"); v != float32(10) {
		t.Errorf("T2.Setpoint = %v, want 10", v)
	}
	if st := r.conn.Status(); !strings.Contains(r.conn.String(), "Basic256Sha256/SignAndEncrypt") || st.State != edge.StateConnected {
		t.Errorf("%v: %+v", r.conn, st)
	}
}

func TestSecureCertificateIdentityWithSign(t *testing.T) {
	p := newPKI(t)
	srv := newServer(t, simulations.OPCUASecurity(p.server.DER, p.server.Key, false))
	r := startRig(t, srv, fmt.Sprintf(`      security_policy: Basic256Sha256
      security_mode: Sign
      auth: certificate
      cert_file: %s
      key_file: %s
      server_cert_sha256: %s`, p.clientCert, p.clientKey, p.server.SHA256()))
	edgetest.WaitFor(t, "values over the signed channel", func() bool {
		return reported(r.node.Twin("turbine-1"), "starts").GetValue().GetIntValue() == 1
	})
}

func TestWrongPinIsRefused(t *testing.T) {
	p := newPKI(t)
	other, err := simulations.NewOPCUACertificate("urn:plantwin:test:impostor", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, simulations.OPCUASecurity(p.server.DER, p.server.Key, false))
	r := startRig(t, srv, fmt.Sprintf(`      security_policy: Basic256Sha256
      security_mode: SignAndEncrypt
      cert_file: %s
      key_file: %s
      server_cert_sha256: %s`, p.clientCert, p.clientKey, other.SHA256()))

	// The connector keeps refusing, says why, and no value gets through.
	edgetest.WaitFor(t, "the pin refusal in the status", func() bool {
		return strings.Contains(r.conn.Status().LastError, "does not match the pinned SHA-256")
	})
	st := r.conn.Status()
	for _, want := range []string{colons(p.server.SHA256()), colons(other.SHA256()), "server_cert_sha256"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("last error %q does not mention %s", st.LastError, want)
		}
	}
	if st.State == edge.StateConnected || st.Sink.Samples != 0 {
		t.Errorf("status %+v after a pin mismatch", st)
	}
	if tw := r.node.Twin("turbine-1"); len(tw.GetReported()) != 0 {
		t.Errorf("values from a server with the wrong certificate: %v", tw.GetReported())
	}

	// Dial says the same, and so does a secure connection without a pin.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sec := edge.DefaultOPCUAConnector()
	sec.SecurityPolicy, sec.SecurityMode, sec.CertFile, sec.KeyFile = "Basic256Sha256", "SignAndEncrypt", p.clientCert, p.clientKey
	sec.ServerCertSHA256 = other.SHA256()
	if _, err := Dial(ctx, srv.Endpoint(), sec, DialOptions{}); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("Dial with the wrong pin: %v", err)
	}
	sec.ServerCertSHA256 = ""
	if _, err := Dial(ctx, srv.Endpoint(), sec, DialOptions{}); !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), colons(p.server.SHA256())) {
		t.Errorf("Dial with security and no pin: %v", err)
	}
	// Asking for security None from a server that offers only
	// Basic256Sha256 names what it offers.
	if _, err := Dial(ctx, srv.Endpoint(), edge.DefaultOPCUAConnector(), DialOptions{}); !errors.Is(err, ErrNoEndpoint) || !strings.Contains(err.Error(), "Basic256Sha256/SignAndEncrypt") {
		t.Errorf("Dial with security None: %v", err)
	}
}
