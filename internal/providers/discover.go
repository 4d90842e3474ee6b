package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Metadata is the part of an RFC 8414 authorization server metadata
// document oauthform uses.
type Metadata struct {
	Issuer                                 string   `json:"issuer"`
	AuthorizationEndpoint                  string   `json:"authorization_endpoint"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	UserinfoEndpoint                       string   `json:"userinfo_endpoint"`
	ScopesSupported                        []string `json:"scopes_supported"`
	CodeChallengeMethodsSupported          []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	AuthorizationResponseIssParamSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// MetadataURL is RFC 8414 §3's well-known address for issuer: the
// well-known segment goes between the host and the issuer's path.
func MetadataURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("issuer %q is not an absolute URL", issuer)
	}
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// Discover fills the endpoints the profile leaves empty from the issuer's
// RFC 8414 metadata. It does nothing when there is no issuer or the
// authorize and token endpoints are already declared. The document's issuer
// must equal the configured one (RFC 8414 §3.3), and every endpoint must be
// https (or http to loopback). c.Profile is replaced by a filled copy.
func (c *Client) Discover(ctx context.Context) error {
	p := c.Profile
	if p.Issuer == "" || (p.AuthorizeURL != "" && p.TokenURL != "") {
		return nil
	}
	where, err := MetadataURL(p.Issuer)
	if err != nil {
		return fmt.Errorf("discovering %s: %w", p.Name, err)
	}
	body, err := c.send(ctx, "discover", where, true, false, c.sent(), func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
		if err == nil {
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return &Error{Op: "discover", Provider: p.Name, Kind: KindMalformed, Err: err,
			Message: fmt.Sprintf("%s is not an RFC 8414 metadata document: %v", where, err)}
	}
	if strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(p.Issuer, "/") {
		return &Error{Op: "discover", Provider: p.Name, Kind: KindMalformed,
			Message: fmt.Sprintf("the metadata names issuer %q, not %q (RFC 8414 §3.3)", m.Issuer, p.Issuer)}
	}
	filled := p.Clone()
	for _, f := range []struct {
		name      string
		dst       *string
		v         string
		mandatory bool
	}{
		{"authorization_endpoint", &filled.AuthorizeURL, m.AuthorizationEndpoint, true},
		{"token_endpoint", &filled.TokenURL, m.TokenEndpoint, true},
		{"revocation_endpoint", &filled.RevokeURL, m.RevocationEndpoint, false},
		{"userinfo_endpoint", &filled.CheckURL, m.UserinfoEndpoint, false},
	} {
		if *f.dst != "" {
			continue
		}
		if f.v == "" {
			if f.mandatory {
				return &Error{Op: "discover", Provider: p.Name, Kind: KindMalformed,
					Message: fmt.Sprintf("the metadata at %s has no %s", where, f.name)}
			}
			continue
		}
		if msg := CheckEndpointURL(f.v); msg != "" {
			return &Error{Op: "discover", Provider: p.Name, Kind: KindMalformed,
				Message: fmt.Sprintf("the metadata's %s %s", f.name, msg)}
		}
		*f.dst = f.v
	}
	c.Profile = filled
	c.issRequired = m.AuthorizationResponseIssParamSupported
	return nil
}
