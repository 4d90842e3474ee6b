package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// Token is what a token endpoint granted.
type Token struct {
	AccessToken  secret.Secret
	RefreshToken secret.Secret
	// TokenType is normalised ("bearer" becomes "Bearer"); an answer
	// without one has the profile's.
	TokenType string
	// Expiry is when the access token expires; zero means the answer did
	// not say (Buffer v1's long-lived tokens), which Profile.AssumeExpiry
	// turns into an assumed lifetime where one applies.
	Expiry time.Time
	// Scopes are the granted scopes: the response's `scope` when present
	// (it may be narrower than requested), else the requested ones for an
	// exchange and nil for a refresh (unchanged).
	Scopes []string
	// Metadata holds the profile's Metadata fields from the response, as
	// JSON (Burner's connected_burners).
	Metadata map[string]json.RawMessage
	// Rotated is true when a refresh returned a new refresh token, which
	// replaces the old one (which may now be dead).
	Rotated bool
}

// fromOAuth2 reads what x/oauth2 parsed plus the fields it leaves in Extra:
// absolute `expires` (PhoneBurner), `scope` as a string or an array (the
// seven.io SDK types it as an array), and the profile's metadata fields.
// oldRefresh is the refresh token sent, zero for an exchange.
//
// A token_type other than the profile's is refused (checkTokenType). An
// expiry of zero or less, or in the past, means the token is already
// expired: Expiry is the time of the answer, so the next use refreshes it.
// One beyond ten years is capped at ten years, with a warning.
func (c *Client) fromOAuth2(t *oauth2.Token, requested []string, oldRefresh secret.Secret) (*Token, error) {
	p := c.Profile
	if err := c.checkTokenType(t, oldRefresh); err != nil {
		return nil, err
	}
	tok := &Token{
		AccessToken:  secret.New(t.AccessToken),
		RefreshToken: secret.New(t.RefreshToken),
		TokenType:    t.Type(),
		Scopes:       requested,
	}
	if strings.TrimSpace(t.TokenType) == "" && p.TokenType != "" {
		// Not said: the declared type (Bearer unless declared).
		tok.TokenType = p.TokenType
	}
	if tok.RefreshToken.IsZero() {
		tok.RefreshToken = oldRefresh
	}
	if !oldRefresh.IsZero() && !tok.RefreshToken.Equal(oldRefresh) {
		tok.Rotated = true
	}
	now := c.now()
	// x/oauth2 computes Expiry from its own clock and only for JSON; read
	// the wire values again so an injected clock and form bodies work.
	expiresIn, hasIn := numberOf(t.Extra("expires_in"))
	if t.ExpiresIn > 0 {
		expiresIn, hasIn = float64(t.ExpiresIn), true
	}
	switch p.Expiry {
	case ExpiresNever:
	case ExpiresAbsolute:
		// Seconds since the epoch. A value beyond the year 9999
		// (1406411164000 is milliseconds, not a date) gives way to
		// expires_in when there is one.
		if at, ok := numberOf(t.Extra("expires")); ok && !math.IsNaN(at) && (at <= maxUnixSeconds || !hasIn) {
			tok.Expiry = c.absoluteExpiry(at, now)
			break
		}
		fallthrough
	default:
		if hasIn {
			tok.Expiry = c.relativeExpiry(expiresIn, now)
		}
	}
	switch s := t.Extra("scope").(type) {
	case string:
		if s != "" || requested == nil {
			tok.Scopes = splitScopes(s, p.ScopeSeparator)
		}
	case []any:
		tok.Scopes = make([]string, 0, len(s))
		for _, v := range s {
			if str, ok := v.(string); ok {
				tok.Scopes = append(tok.Scopes, splitScopes(str, " ")...)
			}
		}
	}
	for _, name := range p.Metadata {
		v := t.Extra(name)
		if v == nil {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			continue
		}
		if tok.Metadata == nil {
			tok.Metadata = map[string]json.RawMessage{}
		}
		tok.Metadata[name] = raw
	}
	return tok, nil
}

// DefaultAssumedLifetime is the lifetime assumed for an access token that
// came with a refresh token but no expiry, when neither the connection
// nor the provider sets token_lifetime: short enough that a token the
// provider did expire is refreshed soon, not handed out dead for ever.
const DefaultAssumedLifetime = time.Hour

// AssumedLifetime is the lifetime to assume for an access token whose
// answer gave no expiry, or 0 for "it does not expire". override is the
// connection's token_lifetime (0 when unset), which wins over the
// provider's; hasRefresh says whether the grant holds a refresh token.
// With neither set, a token that can be refreshed is assumed to live
// DefaultAssumedLifetime, except at providers documented to issue
// non-expiring tokens (expiry = "none", Buffer v1); one that cannot be
// refreshed is left without expiry, as refreshing it is impossible.
func (p *Profile) AssumedLifetime(override time.Duration, hasRefresh bool) time.Duration {
	switch {
	case override > 0:
		return override
	case p.TokenLifetime > 0:
		return p.TokenLifetime
	case p.Expiry == ExpiresNever || !hasRefresh:
		return 0
	}
	return DefaultAssumedLifetime
}

// AssumeExpiry gives tok, answered at `at`, the expiry AssumedLifetime
// assumes when the answer said none, and reports whether it did. A token
// with an expiry, or one assumed not to expire, is left as it is.
func (p *Profile) AssumeExpiry(tok *Token, override time.Duration, at time.Time) bool {
	if !tok.Expiry.IsZero() {
		return false
	}
	d := p.AssumedLifetime(override, !tok.RefreshToken.IsZero())
	if d <= 0 {
		return false
	}
	tok.Expiry = at.Add(d)
	return true
}

// maxLifetime is the longest access token lifetime oauthform believes:
// beyond, an answer is more likely a mistake (milliseconds taken for
// seconds) than a token that never needs refreshing.
const maxLifetime = 10 * 365 * 24 * time.Hour

// relativeExpiry is the expiry of a token granted at now for `in` seconds
// (expires_in). Zero, a negative value or NaN means already expired: the
// answer's time, so that the next use refreshes. Beyond maxLifetime it is
// capped, with a warning.
func (c *Client) relativeExpiry(in float64, now time.Time) time.Time {
	switch {
	case !(in > 0):
		return now
	case in > maxLifetime.Seconds():
		c.warnLifetime("expires_in", fmt.Sprintf("%.0f seconds", in))
		return now.Add(maxLifetime)
	}
	return now.Add(time.Duration(in) * time.Second)
}

// absoluteExpiry is the expiry of a token whose `expires` is at (Unix
// seconds), read at now. A time in the past means already expired (the
// answer's time); one beyond maxLifetime from now is capped, with a
// warning.
func (c *Client) absoluteExpiry(at float64, now time.Time) time.Time {
	switch {
	case at <= float64(now.Unix()):
		return now
	case at > float64(now.Add(maxLifetime).Unix()):
		c.warnLifetime("expires", fmt.Sprintf("%.0f", at))
		return now.Add(maxLifetime)
	}
	return time.Unix(int64(at), 0)
}

// warnLifetime logs that the provider's token lifetime was capped. The
// value is a number, never a secret.
func (c *Client) warnLifetime(field, value string) {
	c.logger().Warn("the provider's access token lifetime is beyond ten years: capped at ten years",
		"provider", c.Profile.Name, "client_id", c.ClientID, "field", field, "value", value)
}

// checkTokenType refuses an answer whose token_type is not the profile's
// (Bearer unless a provider block declares another), compared without
// case; an answer without token_type is taken as the declared type (RFC
// 6749 makes it required, but providers omit it). oldRefresh is the
// refresh token sent, zero for an exchange. A refused refresh answer that carries a new
// refresh token still hands it over in Error.NewRefresh: a provider that
// rotates has retired the old one.
func (c *Client) checkTokenType(t *oauth2.Token, oldRefresh secret.Secret) error {
	p := c.Profile
	want := p.TokenType
	if want == "" {
		want = DefaultTokenType
	}
	got := strings.TrimSpace(t.TokenType)
	if got == "" || strings.EqualFold(got, want) {
		return nil
	}
	op := "exchange"
	if !oldRefresh.IsZero() {
		op = "refresh"
	}
	shown := clip(scrub(got, c.sent(secret.New(t.AccessToken), secret.New(t.RefreshToken), oldRefresh)), 64)
	e := &Error{Op: op, Provider: p.Name, Kind: KindMalformed}
	if strings.EqualFold(want, DefaultTokenType) {
		e.Message = fmt.Sprintf("the provider answered token_type %q, but oauthform only sends Bearer tokens; "+
			"if %q tokens are intended, declare token_type = %q in the provider %q block", shown, shown, shown, p.Name)
	} else {
		e.Message = fmt.Sprintf("the provider answered token_type %q, but the provider %q block declares token_type = %q; "+
			"if %q tokens are intended, declare token_type = %q there", shown, p.Name, want, shown, shown)
	}
	if op == "refresh" && t.RefreshToken != "" && t.RefreshToken != oldRefresh.Reveal() {
		e.NewRefresh = secret.New(t.RefreshToken)
	}
	return e
}

// splitScopes splits a granted scope string on whitespace and on the
// profile's separator. The provider's words are sanitized first (no
// escape sequence or control character reaches the state or the screen).
func splitScopes(s, sep string) []string {
	f := func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || (sep != " " && strings.ContainsRune(sep, r))
	}
	return strings.FieldsFunc(textsafe.Sanitize(s), f)
}

// numberOf reads a JSON number or a numeric string.
func numberOf(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64: // x/oauth2's Extra on a form-encoded answer
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return 0, false
}

// maxUnixSeconds is 9999-12-31T23:59:59Z.
const maxUnixSeconds = 253402300799

// tokenError turns what x/oauth2 returned into an *Error (nil stays nil).
func (c *Client) tokenError(op string, err error, secrets []secret.Secret) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status, ctype, ra := 0, "", time.Duration(0)
		if re.Response != nil {
			status, ctype = re.Response.StatusCode, re.Response.Header.Get("Content-Type")
			ra = retryAfter(re.Response.Header, c.now())
		}
		return c.Profile.decodeError(op, status, ctype, re.Body, ra, secrets)
	}
	return c.transportError(op, err, secrets)
}

// errBodyRead marks a failure while reading an answer's body.
var errBodyRead = errors.New("the connection dropped while reading the answer")

// transportError classifies an error that is not an HTTP answer. Its text
// is scrubbed of secrets: a transport error can quote what was sent.
func (c *Client) transportError(op string, err error, secrets []secret.Secret) *Error {
	e := &Error{Op: op, Provider: c.Profile.Name, Kind: KindNetwork, Err: err}
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.Message = "no answer within " + c.timeout().String()
	case errors.Is(err, context.Canceled):
		e.Message = "cancelled"
	case errors.As(err, &ue):
		e.Message = ue.Err.Error()
	case errors.Is(err, errBodyRead) || strings.HasPrefix(err.Error(), "oauth2: cannot fetch token"):
		// x/oauth2 reports a failed body read only by this unwrapped text.
		e.Message = errBodyRead.Error()
	default:
		// x/oauth2's parse errors: not JSON, truncated, no access_token,
		// a field of the wrong type.
		e.Kind = KindMalformed
		e.Message = strings.TrimPrefix(err.Error(), "oauth2: ")
	}
	e.Message = clip(scrub(e.Message, secrets), maxMessage)
	return e
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
