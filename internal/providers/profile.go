package providers

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// ClientAuth says how the client authenticates at the token endpoint.
type ClientAuth string

// Client authentication methods.
const (
	// AuthBasic sends client_id and client_secret as HTTP Basic credentials
	// (RFC 6749 §2.3.1).
	AuthBasic ClientAuth = "basic"
	// AuthBody sends client_id and client_secret in the form body.
	AuthBody ClientAuth = "body"
	// AuthJSON sends the whole token request as a JSON object.
	AuthJSON ClientAuth = "json"
	// AuthNone is a public client: client_id only, no secret (use PKCE).
	AuthNone ClientAuth = "none"
)

// ClientAuths lists the valid ClientAuth values, for validation messages.
var ClientAuths = []ClientAuth{AuthBasic, AuthBody, AuthJSON, AuthNone}

// ExpirySource says where a token response's expiry comes from.
type ExpirySource string

// Expiry sources.
const (
	// ExpiresIn is RFC 6749's relative expires_in (seconds).
	ExpiresIn ExpirySource = "expires_in"
	// ExpiresAbsolute is an absolute Unix time in `expires` (PhoneBurner),
	// falling back to expires_in when absent.
	ExpiresAbsolute ExpirySource = "expires"
	// ExpiresNever means tokens carry no expiry (Buffer v1).
	ExpiresNever ExpirySource = "none"
)

// ExpirySources lists the valid ExpirySource values.
var ExpirySources = []ExpirySource{ExpiresIn, ExpiresAbsolute, ExpiresNever}

// ErrorFormat names the shape of a provider's error bodies.
type ErrorFormat string

// Error formats.
const (
	// ErrorsRFC6749 is {"error": code, "error_description": text}.
	ErrorsRFC6749 ErrorFormat = "rfc6749"
	// ErrorsPhoneBurner also accepts error_message, a sentence in error and
	// codes with spaces ("invalid client_id").
	ErrorsPhoneBurner ErrorFormat = "phoneburner"
)

// DefaultTokenType is the token type every profile expects unless it
// declares another (RFC 6750).
const DefaultTokenType = "Bearer"

// ErrorFormats lists the valid ErrorFormat values.
var ErrorFormats = []ErrorFormat{ErrorsRFC6749, ErrorsPhoneBurner}

// RevokeMethod says how a token is revoked at RevokeURL.
type RevokeMethod string

// Revoke methods.
const (
	// RevokeRFC7009 POSTs the token (refresh token when there is one) as the
	// form parameter `token` with a `token_type_hint`, authenticating the
	// client as at the token endpoint.
	RevokeRFC7009 RevokeMethod = "rfc7009"
	// RevokeBearer POSTs to RevokeURL authenticated by the access token
	// itself (Buffer v1's /1/user/deauthorize.json).
	RevokeBearer RevokeMethod = "bearer"
)

// RevokeMethods lists the valid RevokeMethod values.
var RevokeMethods = []RevokeMethod{RevokeRFC7009, RevokeBearer}

// Grant is an OAuth 2.0 grant type a connection is obtained by, as
// written in a connection's `grant` attribute.
type Grant string

// Grant types.
const (
	// GrantAuthorizationCode: a person approves in a browser, which
	// brings a code back to the loopback listener (RFC 6749 §4.1).
	GrantAuthorizationCode Grant = "authorization_code"
	// GrantDeviceCode: a person approves on another device, entering a
	// user code at a verification address, while oauthform polls the
	// token endpoint (RFC 8628).
	GrantDeviceCode Grant = "device_code"
	// GrantClientCredentials: the app's own token, no person involved
	// (RFC 6749 §4.4).
	GrantClientCredentials Grant = "client_credentials"
)

// GrantTypes lists the valid Grant values, the default first.
var GrantTypes = []Grant{GrantAuthorizationCode, GrantDeviceCode, GrantClientCredentials}

// Param describes one extra authorize parameter a connection may set in its
// `params` map.
type Param struct {
	// Description is shown by `oauthform providers`.
	Description string
	// Values, when non-empty, is the closed set of accepted values.
	Values []string
	// RequiresScope, when set, is a scope the connection must request for
	// this parameter to be meaningful (Burner's burner_id needs
	// messages:connect).
	RequiresScope string
}

// Profile is everything oauthform knows about one provider. Built-in
// profiles are values returned by Builtins; a `provider` HCL block either
// overrides fields of a built-in or declares a new profile from scratch.
//
// Invariant: a Profile returned by the configuration loader has passed
// Validate. So has every built-in except "oauth2", which has no endpoints
// until a provider block gives them.
type Profile struct {
	// Name is the provider's name as written in `app { provider = "…" }`.
	Name string
	// Description is a one-line human summary.
	Description string
	// Builtin is true for profiles that ship with oauthform.
	Builtin bool

	AuthorizeURL string
	TokenURL     string
	// RefreshURL, when set, receives refresh requests instead of TokenURL
	// (PhoneBurner's /oauth/refreshtoken).
	RefreshURL string
	// RevokeURL is an RFC 7009 endpoint or the provider's deauthorize call;
	// empty means the provider cannot revoke remotely.
	RevokeURL string
	// RevokeMethod says how RevokeURL is called.
	RevokeMethod RevokeMethod
	// CheckURL is a cheap "who am I" call used to verify a token.
	CheckURL string
	// DeviceAuthURL is the RFC 8628 device authorization endpoint
	// (device_authorization_url). Discovery fills it from the metadata's
	// device_authorization_endpoint when it is empty.
	DeviceAuthURL string
	// Grants are the grant types the provider offers. The seed providers
	// document the authorization code only; a generic provider offers all
	// three (the device code only with a DeviceAuthURL or an Issuer, see
	// GrantProblem). Nil means the authorization code only.
	Grants []Grant

	// ScopeSeparator joins scopes in the authorize request (" " or ",").
	ScopeSeparator string
	ClientAuth     ClientAuth
	// ParamAliases maps a standard token-request parameter name to an extra
	// name sent alongside it (Burner: client_id -> clientId).
	ParamAliases map[string]string
	// CodeRaw writes the authorization code into the token request body
	// without URL-encoding it (Buffer v1: "1/abc", never "1%2Fabc").
	CodeRaw bool
	// PKCE enables RFC 7636 S256 for every grant.
	PKCE bool
	// Expiry says where token expiry is read from.
	Expiry ExpirySource
	// TokenLifetime is the lifetime to assume for an access token whose
	// answer says none (token_lifetime); zero means the default rule of
	// AssumedLifetime. A connection's token_lifetime overrides it.
	TokenLifetime time.Duration
	// KeepAlive is how long a refresh token may stay unused before
	// oauthform refreshes it (keep_alive; 0: never for idleness). None of
	// the seed providers documents a lifetime for unused refresh tokens.
	KeepAlive time.Duration
	// Refresh is true when the provider issues refresh tokens.
	Refresh bool
	// RotatesRefresh is true when a refresh returns a new, single-use
	// refresh token that must be persisted before anything else.
	RotatesRefresh bool
	// DownScope is true when asking for fewer scopes does not need a new
	// grant (the plan shows an update instead of a reconnect).
	DownScope bool
	// ErrorFormat is the shape of error bodies.
	ErrorFormat ErrorFormat
	// TokenType is the token_type the provider's token answers must carry
	// (compared without case; an answer without one is taken as this
	// type).
	// Empty means DefaultTokenType. Any other answer is refused, so that
	// oauthform never presents a token of another kind as a Bearer token.
	TokenType string

	// NoScopes is true for providers without scopes: a non-empty scope list
	// is a configuration error.
	NoScopes bool
	// Emulator, set by `emulator = true` on a built-in's provider block,
	// makes oauthform talk to that built-in's emulator, run in-process and
	// auto-approving, instead of the real provider: the quickstart, with no
	// accounts. Its grants and tokens persist next to the state.
	Emulator bool
	// KnownScopes, when non-empty, is the full list of valid scopes; any
	// other scope is a configuration error. Empty means any scope goes.
	KnownScopes []string
	// Params are the extra authorize parameters a connection may set.
	// A nil map accepts any parameter (generic providers).
	Params map[string]Param
	// Metadata names token-response fields kept as connection metadata
	// (Burner's connected_burners).
	Metadata []string
	// Issuer, when set, is the expected `iss` in the authorization response
	// (RFC 9207) and the base for RFC 8414 discovery.
	Issuer string

	// Quirks are human notes shown by `oauthform providers`.
	Quirks []string
}

// Clone returns a deep copy of p, safe to modify.
func (p *Profile) Clone() *Profile {
	c := *p
	c.KnownScopes = slices.Clone(p.KnownScopes)
	c.Metadata = slices.Clone(p.Metadata)
	c.Quirks = slices.Clone(p.Quirks)
	c.Grants = slices.Clone(p.Grants)
	if p.ParamAliases != nil {
		c.ParamAliases = make(map[string]string, len(p.ParamAliases))
		for k, v := range p.ParamAliases {
			c.ParamAliases[k] = v
		}
	}
	if p.Params != nil {
		c.Params = make(map[string]Param, len(p.Params))
		for k, v := range p.Params {
			v.Values = slices.Clone(v.Values)
			c.Params[k] = v
		}
	}
	return &c
}

// HasScope reports whether scope is valid for p. Providers without a known
// scope list accept any scope; providers with NoScopes accept none.
func (p *Profile) HasScope(scope string) bool {
	if p.NoScopes {
		return false
	}
	if len(p.KnownScopes) == 0 {
		return true
	}
	return slices.Contains(p.KnownScopes, scope)
}

// Validate checks that p is usable: the required endpoints are absolute
// URLs and every enumerated knob holds a known value. Each problem is one
// error naming the knob; the caller turns them into diagnostics.
func (p *Profile) Validate() []FieldError {
	var errs []FieldError
	need := func(field, v string) {
		if v == "" {
			errs = append(errs, FieldError{field, "is required"})
		}
	}
	if p.Issuer == "" {
		// With an issuer, RFC 8414 discovery fills the endpoints.
		need("authorize_url", p.AuthorizeURL)
		need("token_url", p.TokenURL)
	}
	for _, f := range []struct{ name, v string }{
		{"authorize_url", p.AuthorizeURL}, {"token_url", p.TokenURL},
		{"refresh_url", p.RefreshURL}, {"revoke_url", p.RevokeURL},
		{"check_url", p.CheckURL}, {"issuer", p.Issuer},
		{"device_authorization_url", p.DeviceAuthURL},
	} {
		if f.v == "" {
			continue
		}
		if msg := CheckEndpointURL(f.v); msg != "" {
			errs = append(errs, FieldError{f.name, msg})
		}
	}
	if !slices.Contains(ClientAuths, p.ClientAuth) {
		errs = append(errs, FieldError{"client_auth", fmt.Sprintf("must be one of %s", joinQuoted(ClientAuths))})
	}
	if !slices.Contains(ExpirySources, p.Expiry) {
		errs = append(errs, FieldError{"expiry", fmt.Sprintf("must be one of %s", joinQuoted(ExpirySources))})
	}
	if !slices.Contains(RevokeMethods, p.RevokeMethod) {
		errs = append(errs, FieldError{"revoke_method", fmt.Sprintf("must be one of %s", joinQuoted(RevokeMethods))})
	}
	if !slices.Contains(ErrorFormats, p.ErrorFormat) {
		errs = append(errs, FieldError{"error_format", fmt.Sprintf("must be one of %s", joinQuoted(ErrorFormats))})
	}
	if p.Emulator && !p.Builtin {
		errs = append(errs, FieldError{"emulator", "works only for a built-in provider, whose emulator ships with oauthform"})
	}
	if p.TokenLifetime < 0 {
		errs = append(errs, FieldError{"token_lifetime", `must be a positive duration such as "1h"`})
	}
	if p.ScopeSeparator == "" {
		errs = append(errs, FieldError{"scope_separator", "must not be empty"})
	}
	if p.TokenType == "" {
		errs = append(errs, FieldError{"token_type", "must not be empty"})
	} else if !validTokenType(p.TokenType) {
		errs = append(errs, FieldError{"token_type", `must be a token type name such as "Bearer" or "DPoP": letters, digits and - . _ only (RFC 6749 §A.7)`})
	}
	for _, g := range p.Grants {
		if !slices.Contains(GrantTypes, g) {
			errs = append(errs, FieldError{"grants", fmt.Sprintf("must list only %s", joinQuoted(GrantTypes))})
			break
		}
	}
	if p.NoScopes && len(p.KnownScopes) > 0 {
		errs = append(errs, FieldError{"known_scopes", "cannot be set on a provider without scopes"})
	}
	return errs
}

// OffersGrant reports whether the provider's profile lists g (nil
// Grants: the authorization code only). It does not look at endpoints;
// GrantProblem does.
func (p *Profile) OffersGrant(g Grant) bool {
	if p.Grants == nil {
		return g == GrantAuthorizationCode
	}
	return slices.Contains(p.Grants, g)
}

// SupportedGrants returns the grants the profile lists, the default
// alone when it lists none.
func (p *Profile) SupportedGrants() []Grant {
	if p.Grants == nil {
		return []Grant{GrantAuthorizationCode}
	}
	return slices.Clone(p.Grants)
}

// GrantProblem returns "" when a connection of p can use grant g, checked
// offline, or else a sentence saying why not, naming what the provider
// supports. The device code needs a DeviceAuthURL, or an Issuer whose
// metadata may give one (checked when the grant runs: DeviceAuth).
func (p *Profile) GrantProblem(g Grant) string {
	if !slices.Contains(GrantTypes, g) {
		return fmt.Sprintf("%q is not a grant type: use one of %s", g, joinQuoted(GrantTypes))
	}
	if !p.OffersGrant(g) {
		supported := p.SupportedGrants()
		what := "documents only"
		if len(supported) > 1 {
			what = "supports only"
		}
		msg := fmt.Sprintf("provider %q %s %s, not %q", p.Name, what, joinQuoted(supported), g)
		if p.Builtin {
			msg += fmt.Sprintf("; for a server that offers %q, declare it with its own provider block (any name but a built-in's)", g)
		}
		return msg
	}
	if g == GrantDeviceCode && p.DeviceAuthURL == "" && p.Issuer == "" {
		return fmt.Sprintf("provider %q has no device authorization endpoint: set device_authorization_url in its provider block, "+
			"or an issuer whose metadata gives device_authorization_endpoint (RFC 8628 §4)", p.Name)
	}
	return ""
}

// validTokenType reports whether t is an RFC 6749 §A.7 type-name:
// 1*( ALPHA / DIGIT / "-" / "." / "_" ). (A URI is allowed there too, but
// no provider oauthform knows uses one, and a name keeps messages plain.)
func validTokenType(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// FieldError is one problem with one profile knob.
type FieldError struct {
	Field   string // the HCL attribute name, e.g. "token_url"
	Message string // completes "<field> <message>"
}

func (e FieldError) Error() string { return e.Field + " " + e.Message }

// CheckEndpointURL returns "" when raw is an absolute http(s) URL without a
// fragment, safe to send credentials to: https, or http only to a loopback
// host. Otherwise it returns what is wrong, phrased to follow the field name.
func CheckEndpointURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "must be an absolute URL such as https://example.com/oauth/token"
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Sprintf("must use https, not %q", u.Scheme)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not contain a fragment (#…)"
	}
	if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
		return "must use https: plain http is allowed only to a loopback address (127.0.0.1, [::1], localhost)"
	}
	return ""
}

// IsLoopbackHost reports whether host (without port) is a loopback address
// or "localhost".
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func joinQuoted[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// Names returns the names of the built-in profiles, sorted.
func Names() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtin returns a copy of the built-in profile called name.
func Builtin(name string) (*Profile, bool) {
	p, ok := builtins[name]
	if !ok {
		return nil, false
	}
	return p.Clone(), true
}

// Builtins returns copies of all built-in profiles, sorted by name.
func Builtins() []*Profile {
	out := make([]*Profile, 0, len(builtins))
	for _, n := range Names() {
		out = append(out, builtins[n].Clone())
	}
	return out
}

// Generic returns the defaults of a provider declared from scratch in HCL:
// RFC 6749 throughout (space-separated scopes, HTTP Basic client auth,
// expires_in, refresh tokens, standard errors, PKCE on as RFC 9700
// recommends, any scope, any extra parameter).
func Generic(name string) *Profile {
	return &Profile{
		Name:           name,
		Description:    "declared in configuration",
		ScopeSeparator: " ",
		ClientAuth:     AuthBasic,
		PKCE:           true,
		Expiry:         ExpiresIn,
		Refresh:        true,
		RevokeMethod:   RevokeRFC7009,
		ErrorFormat:    ErrorsRFC6749,
		TokenType:      DefaultTokenType,
		Grants:         slices.Clone(GrantTypes),
	}
}
