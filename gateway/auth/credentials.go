package auth

import (
	"context"

	"google.golang.org/grpc/credentials"
)

// PerRPCToken returns client credentials that send token as
// "authorization: Bearer TOKEN" on every call. They require transport
// security unless insecure is true, which is meant for loopback
// development only: without TLS the token travels in clear text.
func PerRPCToken(token string, insecure bool) credentials.PerRPCCredentials {
	return bearerToken{header: "Bearer " + token, insecure: insecure}
}

type bearerToken struct {
	header   string
	insecure bool
}

// GetRequestMetadata returns the authorization header.
func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

// RequireTransportSecurity reports whether the token may only travel over TLS.
func (b bearerToken) RequireTransportSecurity() bool { return !b.insecure }
