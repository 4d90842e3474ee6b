package emulator

import (
	"crypto/subtle"
	"fmt"
	"net/http"
)

// authStyle is how a standard provider authenticates clients at its token
// and revocation endpoints. Burner, Buffer v1 and PhoneBurner read their
// documented body parameters in their own handlers instead.
type authStyle int

const (
	authCustom      authStyle = iota // the handler authenticates by itself
	authBasic                        // sms77/seven: HTTP Basic only (public clients: client_id alone)
	authPostOrNone                   // buffer_v2: client_secret_post, or none for public clients
	authBasicOrPost                  // oauth2: client_secret_basic or client_secret_post, never both
)

// clientForm reads a form-encoded request to the token, revocation or
// device authorization endpoint and authenticates its client.
func (s *Server) clientForm(r *http.Request, body []byte) (*form, Client, *failure) {
	f, fail := tokenForm(r, body, false)
	if fail != nil {
		return nil, Client{}, fail
	}
	c, fail := s.authenticate(parseBasic(r), f)
	return f, c, fail
}

// authenticate identifies and authenticates the client of a token or
// revocation request (RFC 6749 §2.3) the way the provider requires.
func (s *Server) authenticate(b basicCreds, f *form) (Client, *failure) {
	switch s.spec.auth {
	case authBasic:
		return s.authBasicOnly(b, f)
	case authPostOrNone:
		return s.authPostOrNone(b, f)
	default:
		return s.authBasicOrPost(b, f)
	}
}

// authBasicOnly is sms77's rule: HTTP Basic, and never credentials in the body.
func (s *Server) authBasicOnly(b basicCreds, f *form) (Client, *failure) {
	if f.has("client_secret") {
		return Client{}, invalidClient(b.present, f.get("client_id"), "Client credentials must be sent with HTTP Basic authentication.",
			"client_secret in the request body ("+s.spec.name+" requires HTTP Basic client authentication)")
	}
	if b.present {
		return s.checkBasic(b, f)
	}
	if f.has("client_id") {
		if c, ok := s.client(f.get("client_id")); ok && c.Secret == "" {
			return c, nil // a public client: it proves itself with PKCE
		}
		return Client{}, invalidClient(true, f.get("client_id"), "Client authentication failed: use HTTP Basic.",
			"client_id in the body without HTTP Basic ("+s.spec.name+" requires HTTP Basic for confidential clients)")
	}
	return Client{}, invalidClient(true, "", "Client authentication required (HTTP Basic).",
		"request without client authentication ("+s.spec.name+" requires HTTP Basic)")
}

// authPostOrNone is Buffer's rule: client_secret_post or none; Basic is not
// advertised and is refused.
func (s *Server) authPostOrNone(b basicCreds, f *form) (Client, *failure) {
	if b.present {
		return Client{}, invalidClient(true, b.id, "client_secret_basic is not supported: use client_secret_post or none.",
			"HTTP Basic client authentication refused ("+s.spec.name+" supports client_secret_post and none)")
	}
	return s.checkPost(f)
}

// authBasicOrPost is RFC 6749 §2.3.1: Basic (which servers MUST support) or
// body credentials, but not both at once.
func (s *Server) authBasicOrPost(b basicCreds, f *form) (Client, *failure) {
	if b.present && f.has("client_secret") {
		return Client{}, invalidRequest("client_secret", "More than one client authentication method was used.",
			"client authenticated with both HTTP Basic and client_secret in the body (RFC 6749 §2.3)")
	}
	if b.present {
		return s.checkBasic(b, f)
	}
	if !f.has("client_id") {
		return Client{}, invalidClient(true, "", "Client authentication required.", "request without client authentication")
	}
	return s.checkPost(f)
}

// checkBasic verifies HTTP Basic credentials.
func (s *Server) checkBasic(b basicCreds, f *form) (Client, *failure) {
	if !b.ok {
		return Client{}, invalidClient(true, "", "Malformed HTTP Basic credentials.", "malformed Authorization: Basic header (RFC 6749 §2.3.1)")
	}
	if f.has("client_id") && f.get("client_id") != b.id {
		return Client{}, invalidClient(true, b.id, "client_id differs from the HTTP Basic user.", "body client_id differs from the HTTP Basic user")
	}
	c, ok := s.client(b.id)
	if !ok {
		return Client{}, invalidClient(true, b.id, "Client authentication failed.", fmt.Sprintf("unknown client_id %q", b.id))
	}
	if !secretsEqual(c.Secret, b.secret) {
		return Client{}, invalidClient(true, b.id, "Client authentication failed.", fmt.Sprintf("wrong client secret for %q", b.id))
	}
	return c, nil
}

// checkPost verifies client_id and client_secret in the body; a public
// client must send client_id alone.
func (s *Server) checkPost(f *form) (Client, *failure) {
	id := f.get("client_id")
	if id == "" {
		return Client{}, invalidClient(false, "", "client_id is required.", "request without client_id")
	}
	c, ok := s.client(id)
	if !ok {
		return Client{}, invalidClient(false, id, "Client authentication failed.", fmt.Sprintf("unknown client_id %q", id))
	}
	switch {
	case c.Secret == "" && f.has("client_secret"):
		return Client{}, invalidClient(false, id, "Public clients must not send client_secret.", fmt.Sprintf("public client %q sent a client_secret", id))
	case c.Secret == "":
		return c, nil
	case !f.has("client_secret"):
		return Client{}, invalidClient(false, id, "client_secret is required.", fmt.Sprintf("confidential client %q without client_secret", id))
	case !secretsEqual(c.Secret, f.get("client_secret")):
		return Client{}, invalidClient(false, id, "Client authentication failed.", fmt.Sprintf("wrong client secret for %q", id))
	}
	return c, nil
}

// secretsEqual compares secrets in constant time.
func secretsEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
