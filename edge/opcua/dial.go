package opcua

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/plantwin/plantwin/edge"
)

// ErrPinMismatch is wrapped when the server's certificate is not the one
// the connector pins: the connector refuses to talk to it.
var ErrPinMismatch = errors.New("opcua: server certificate does not match the pinned SHA-256")

// ErrNoEndpoint is wrapped when the server offers no endpoint with the
// configured security policy, mode and identity.
var ErrNoEndpoint = errors.New("opcua: no matching endpoint")

// Security is how to connect: the opcua section of a connector, as
// configured (edge.OPCUAConnector).
type Security = edge.OPCUAConnector

// DialOptions tune a connection.
type DialOptions struct {
	Timeout        time.Duration // dial and each request; default 10s
	SessionTimeout time.Duration // default 1 minute
	// StateChanged, when set, receives the client's connection states
	// (gopcua drops states the channel has no room for).
	StateChanged chan<- opcua.ConnState
}

// Fingerprint is the SHA-256 of a DER certificate as 64 lowercase hex
// digits, the form of server_cert_sha256.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// colons renders a fingerprint as ab:cd:..., easier to compare by eye.
func colons(fp string) string {
	var b strings.Builder
	for i := 0; i+1 < len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(fp[i : i+2])
	}
	return b.String()
}

// NormalizePin returns a pin as 64 lowercase hex digits: colons, spaces
// and case are ignored.
func NormalizePin(pin string) string {
	r := strings.NewReplacer(":", "", " ", "", "-", "")
	return strings.ToLower(r.Replace(pin))
}

func policyURI(policy string) string {
	if policy == "" || policy == "None" {
		return ua.SecurityPolicyURINone
	}
	return ua.SecurityPolicyURIPrefix + policy
}

func securityMode(mode string) ua.MessageSecurityMode {
	switch mode {
	case "Sign":
		return ua.MessageSecurityModeSign
	case "SignAndEncrypt":
		return ua.MessageSecurityModeSignAndEncrypt
	}
	return ua.MessageSecurityModeNone
}

func tokenType(auth string) ua.UserTokenType {
	switch auth {
	case "username":
		return ua.UserTokenTypeUserName
	case "certificate":
		return ua.UserTokenTypeCertificate
	}
	return ua.UserTokenTypeAnonymous
}

// SelectEndpoint picks the endpoint with the security policy and mode of
// sec that accepts its identity, and checks the server certificate
// against the pin. Its errors say what the server offers instead.
func SelectEndpoint(eps []*ua.EndpointDescription, sec Security) (*ua.EndpointDescription, error) {
	uri, mode, tt := policyURI(sec.SecurityPolicy), securityMode(sec.SecurityMode), tokenType(sec.Auth)
	var offered []string
	var match *ua.EndpointDescription
	for _, ep := range eps {
		var toks []string
		accepts := false
		for _, t := range ep.UserIdentityTokens {
			toks = append(toks, authName(t.TokenType))
			accepts = accepts || t.TokenType == tt
		}
		offered = append(offered, fmt.Sprintf("%s/%s (%s)", strings.TrimPrefix(ep.SecurityPolicyURI, ua.SecurityPolicyURIPrefix), modeName(ep.SecurityMode), strings.Join(toks, ", ")))
		if ep.SecurityPolicyURI == uri && ep.SecurityMode == mode && accepts && (match == nil || ep.SecurityLevel > match.SecurityLevel) {
			match = ep
		}
	}
	if match == nil {
		return nil, fmt.Errorf("%w: the server offers no endpoint with security %s/%s and %s identity; it offers %s",
			ErrNoEndpoint, sec.SecurityPolicy, sec.SecurityMode, authName(tt), strings.Join(offered, "; "))
	}
	if pin := NormalizePin(sec.ServerCertSHA256); pin != "" {
		if len(match.ServerCertificate) == 0 {
			return nil, fmt.Errorf("%w: the server sent no certificate, pinned %s", ErrPinMismatch, colons(pin))
		}
		if got := Fingerprint(match.ServerCertificate); got != pin {
			return nil, fmt.Errorf("%w: the server's certificate has SHA-256 %s, the pin is %s; if the server's certificate was replaced on purpose, put the new fingerprint in server_cert_sha256",
				ErrPinMismatch, colons(got), colons(pin))
		}
	} else if mode != ua.MessageSecurityModeNone {
		return nil, fmt.Errorf("%w: security %s/%s needs server_cert_sha256 (gopcua has no trust list); the server's certificate has SHA-256 %s",
			ErrPinMismatch, sec.SecurityPolicy, sec.SecurityMode, colons(Fingerprint(match.ServerCertificate)))
	}
	return match, nil
}

func authName(t ua.UserTokenType) string {
	switch t {
	case ua.UserTokenTypeAnonymous:
		return "anonymous"
	case ua.UserTokenTypeUserName:
		return "username"
	case ua.UserTokenTypeCertificate:
		return "certificate"
	case ua.UserTokenTypeIssuedToken:
		return "issued token"
	}
	return fmt.Sprintf("token type %d", t)
}

func modeName(m ua.MessageSecurityMode) string {
	switch m {
	case ua.MessageSecurityModeNone:
		return "None"
	case ua.MessageSecurityModeSign:
		return "Sign"
	case ua.MessageSecurityModeSignAndEncrypt:
		return "SignAndEncrypt"
	}
	return fmt.Sprintf("mode %d", m)
}

// Dial connects to endpoint with sec: it asks the server for its
// endpoints, selects and checks one (SelectEndpoint), and opens a session
// with the configured identity. Automatic reconnection is off: the
// caller owns reconnecting and re-subscribing (see PITFALLS: a gopcua
// auto-reconnect can resume no subscription and stall silently).
func Dial(ctx context.Context, endpoint string, sec Security, o DialOptions) (*opcua.Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = time.Minute
	}
	opts, err := clientOptions(ctx, endpoint, sec, o)
	if err != nil {
		return nil, err
	}
	c, err := opcua.NewClient(endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("opcua: %s: %w", endpoint, err)
	}
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := c.Connect(cctx); err != nil {
		_ = c.Close(context.Background())
		return nil, fmt.Errorf("opcua: connect %s: %w", endpoint, explain(err))
	}
	return c, nil
}

// explain adds what a bare status code means for the user.
func explain(err error) error {
	var sc ua.StatusCode
	if errors.As(err, &sc) {
		switch sc {
		case ua.StatusBadUserAccessDenied, ua.StatusBadIdentityTokenRejected, ua.StatusBadIdentityTokenInvalid:
			return fmt.Errorf("the server refused the identity: %w", err)
		case ua.StatusBadCertificateUntrusted, ua.StatusBadSecurityChecksFailed, ua.StatusBadCertificateInvalid:
			return fmt.Errorf("the server does not trust the client certificate (add it to the server's trust list): %w", err)
		}
	}
	return err
}

func clientOptions(ctx context.Context, endpoint string, sec Security, o DialOptions) ([]opcua.Option, error) {
	gctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	eps, err := opcua.GetEndpoints(gctx, endpoint, opcua.DialTimeout(o.Timeout), opcua.RequestTimeout(o.Timeout))
	if err != nil {
		return nil, fmt.Errorf("opcua: get endpoints of %s: %w", endpoint, err)
	}
	ep, err := SelectEndpoint(eps, sec)
	if err != nil {
		return nil, fmt.Errorf("opcua: %s: %w", endpoint, err)
	}
	opts := []opcua.Option{
		opcua.SecurityPolicy(ep.SecurityPolicyURI),
		opcua.SecurityMode(ep.SecurityMode),
		opcua.AutoReconnect(false),
		opcua.DialTimeout(o.Timeout),
		opcua.RequestTimeout(o.Timeout),
		opcua.SessionTimeout(o.SessionTimeout),
		opcua.ApplicationName("plantwin"),
	}
	if o.StateChanged != nil {
		opts = append(opts, opcua.StateChangedCh(o.StateChanged))
	}
	var cert []byte
	var key *rsa.PrivateKey
	if sec.CertFile != "" {
		if cert, err = loadCertificate(sec.CertFile); err != nil {
			return nil, err
		}
		if key, err = loadKey(sec.KeyFile); err != nil {
			return nil, err
		}
		opts = append(opts, opcua.Certificate(cert), opcua.PrivateKey(key))
	}
	tt := tokenType(sec.Auth)
	switch tt {
	case ua.UserTokenTypeUserName:
		pass := sec.Password
		if sec.PasswordEnv != "" {
			v, ok := os.LookupEnv(sec.PasswordEnv)
			if !ok {
				return nil, fmt.Errorf("opcua: %s: password_env %s is not set in the environment", endpoint, sec.PasswordEnv)
			}
			pass = v
		}
		opts = append(opts, opcua.AuthUsername(sec.Username, pass))
	case ua.UserTokenTypeCertificate:
		if cert == nil {
			return nil, fmt.Errorf("opcua: %s: auth certificate needs cert_file and key_file", endpoint)
		}
		opts = append(opts, opcua.AuthCertificate(cert), opcua.AuthPrivateKey(key))
	default:
		opts = append(opts, opcua.AuthAnonymous())
	}
	// After the Auth option: it fills in the token's policy id.
	opts = append(opts, opcua.SecurityFromEndpoint(ep, tt))
	return opts, nil
}

// loadCertificate reads a certificate in PEM or DER.
func loadCertificate(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("opcua: cert_file: %w", err)
	}
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("opcua: cert_file %s: a PEM %q block, want CERTIFICATE", file, blk.Type)
		}
		b = blk.Bytes
	}
	if _, err := x509.ParseCertificate(b); err != nil {
		return nil, fmt.Errorf("opcua: cert_file %s: %w", file, err)
	}
	return b, nil
}

// loadKey reads an RSA private key in PEM (PKCS #1 or #8) or DER.
func loadKey(file string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("opcua: key_file: %w", err)
	}
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	if k, err := x509.ParsePKCS1PrivateKey(b); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("opcua: key_file %s: not an RSA private key in PEM or DER", file)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("opcua: key_file %s: a %T key, OPC UA needs RSA", file, k)
	}
	return rk, nil
}
