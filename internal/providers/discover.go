package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Metadata is the part of an RFC 8414 authorization server metadata
// document oauthform uses.
type Metadata struct {
	Issuer                                 string   `json:"issuer"`
	AuthorizationEndpoint                  string   `json:"authorization_endpoint"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	UserinfoEndpoint                       string   `json:"userinfo_endpoint"`
	DeviceAuthorizationEndpoint            string   `json:"device_authorization_endpoint"`
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

// OpenIDConfigurationURL is OpenID Connect Discovery 1.0 §4's address for
// issuer: the well-known segment is appended to the issuer's path.
func OpenIDConfigurationURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("issuer %q is not an absolute URL", issuer)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/.well-known/openid-configuration"
	u.RawPath = ""
	return u.String(), nil
}

// Endpoints are what discovery found for an issuer, with the time they
// were fetched. A state keeps them with each connection's record so that a
// refresh or a revocation does not fetch the metadata every time.
type Endpoints struct {
	Issuer       string
	AuthorizeURL string
	TokenURL     string
	RevokeURL    string
	CheckURL     string
	// DeviceAuthURL is the RFC 8628 device_authorization_endpoint, empty
	// when the metadata has none.
	DeviceAuthURL string
	// IssRequired: the server promises `iss` in authorization responses
	// (RFC 9207).
	IssRequired bool
	Fetched     time.Time
}

// DiscoveryMaxAge is how long endpoints found by discovery are used
// without fetching the metadata again.
const DiscoveryMaxAge = 24 * time.Hour

// Discover fills the endpoints the profile leaves empty from the issuer's
// metadata: RFC 8414's document, then OpenID Connect's
// openid-configuration. It does nothing when there is no issuer or the
// authorize and token endpoints are already declared. The document's issuer
// must equal the configured one (RFC 8414 §3.3, OIDC Discovery §4.3), and
// every endpoint must be https (or http to loopback). c.Profile is
// replaced by a filled copy, and [Client.Discovered] returns what was
// found. When no document answers, the error lists every address tried and
// what came back.
func (c *Client) Discover(ctx context.Context) error {
	return c.DiscoverCached(ctx, nil)
}

// DiscoverCached is Discover using cached, endpoints an earlier discovery
// of the same issuer found, instead of fetching while they are younger
// than DiscoveryMaxAge. Older ones are fetched again; when that fails they
// are used, with a warning in the log, rather than leave a connection
// unrefreshable while its provider's metadata is down.
func (c *Client) DiscoverCached(ctx context.Context, cached *Endpoints) error {
	p := c.Profile
	if p.Issuer == "" || (p.AuthorizeURL != "" && p.TokenURL != "") {
		return nil
	}
	if cached != nil && !SameIssuer(cached.Issuer, p.Issuer) {
		cached = nil
	}
	now := c.now()
	if cached != nil && !cached.Fetched.After(now) && now.Sub(cached.Fetched) < DiscoveryMaxAge {
		return c.useEndpoints(*cached, "the endpoints kept in the state")
	}
	e, where, err := c.fetchEndpoints(ctx)
	if err != nil {
		if cached == nil {
			return err
		}
		c.logger().Warn("discovery failed; using the endpoints found earlier", "provider", p.Name,
			"fetched", cached.Fetched.UTC().Format(time.RFC3339), "error", err)
		return c.useEndpoints(*cached, "the endpoints kept in the state")
	}
	return c.useEndpoints(e, where)
}

// Discovered returns the endpoints Discover found (fetched or cached), or
// nil when the profile was not filled by discovery.
func (c *Client) Discovered() *Endpoints {
	if c.discovered == nil {
		return nil
	}
	e := *c.discovered
	return &e
}

// SameIssuer compares two issuer identifiers, ignoring a trailing slash.
func SameIssuer(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// fetchEndpoints fetches the issuer's metadata and checks its issuer.
func (c *Client) fetchEndpoints(ctx context.Context) (Endpoints, string, error) {
	p := c.Profile
	m, where, err := c.fetchMetadata(ctx)
	if err != nil {
		return Endpoints{}, "", err
	}
	if !SameIssuer(m.Issuer, p.Issuer) {
		return Endpoints{}, "", &Error{Op: "discover", Provider: p.Name, Kind: KindMalformed,
			Message: fmt.Sprintf("the metadata names issuer %q, not %q (RFC 8414 §3.3)", m.Issuer, p.Issuer)}
	}
	return Endpoints{
		Issuer: p.Issuer, AuthorizeURL: m.AuthorizationEndpoint, TokenURL: m.TokenEndpoint,
		RevokeURL: m.RevocationEndpoint, CheckURL: m.UserinfoEndpoint, DeviceAuthURL: m.DeviceAuthorizationEndpoint,
		IssRequired: m.AuthorizationResponseIssParamSupported, Fetched: c.now(),
	}, where, nil
}

// useEndpoints fills the profile's empty endpoints from e, found at where.
func (c *Client) useEndpoints(e Endpoints, where string) error {
	p := c.Profile
	filled := p.Clone()
	for _, f := range []struct {
		name      string
		dst       *string
		v         string
		mandatory bool
	}{
		{"authorization_endpoint", &filled.AuthorizeURL, e.AuthorizeURL, true},
		{"token_endpoint", &filled.TokenURL, e.TokenURL, true},
		{"revocation_endpoint", &filled.RevokeURL, e.RevokeURL, false},
		{"userinfo_endpoint", &filled.CheckURL, e.CheckURL, false},
		{"device_authorization_endpoint", &filled.DeviceAuthURL, e.DeviceAuthURL, false},
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
	c.issRequired = e.IssRequired
	c.discovered = &e
	return nil
}

// fetchMetadata reads the first metadata document that answers, RFC 8414's
// then OpenID Connect's, and returns it with its address.
func (c *Client) fetchMetadata(ctx context.Context) (*Metadata, string, error) {
	p := c.Profile
	var tried []string
	var last error
	for _, addr := range []func(string) (string, error){MetadataURL, OpenIDConfigurationURL} {
		where, err := addr(p.Issuer)
		if err != nil {
			return nil, "", fmt.Errorf("discovering %s: %w", p.Name, err)
		}
		body, err := c.send(ctx, "discover", where, true, false, c.sent(), func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
			if err == nil {
				req.Header.Set("Accept", "application/json")
			}
			return req, err
		})
		if err == nil {
			var m Metadata
			if err = json.Unmarshal(body, &m); err == nil {
				return &m, where, nil
			}
			err = fmt.Errorf("not a JSON metadata document: %w", err)
		}
		last = err
		tried = append(tried, fmt.Sprintf("%s: %v", where, err))
	}
	kind := KindMalformed
	var pe *Error
	if errors.As(last, &pe) {
		kind = pe.Kind
	}
	return nil, "", &Error{Op: "discover", Provider: p.Name, Kind: kind, Err: last,
		Message: "no metadata document answered; tried " + strings.Join(tried, "; ")}
}
