package providers

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthform/oauthform/internal/secret"
)

// Token is what a token endpoint granted.
type Token struct {
	AccessToken  secret.Secret
	RefreshToken secret.Secret
	// TokenType is normalised ("bearer" becomes "Bearer").
	TokenType string
	// Expiry is when the access token expires; zero means it does not say
	// (Buffer v1's long-lived tokens).
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
func (c *Client) fromOAuth2(t *oauth2.Token, requested []string, oldRefresh secret.Secret) (*Token, error) {
	p := c.Profile
	tok := &Token{
		AccessToken:  secret.New(t.AccessToken),
		RefreshToken: secret.New(t.RefreshToken),
		TokenType:    t.Type(),
		Scopes:       requested,
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
		// Seconds since the epoch, up to the year 9999 (beyond, the state
		// could not store it; 1406411164000 is milliseconds, not a date).
		if at, ok := numberOf(t.Extra("expires")); ok && at > 0 && at <= maxUnixSeconds {
			tok.Expiry = time.Unix(int64(at), 0)
			break
		}
		fallthrough
	default:
		if hasIn && expiresIn > 0 {
			tok.Expiry = now.Add(time.Duration(min(expiresIn, math.MaxInt32)) * time.Second)
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
				tok.Scopes = append(tok.Scopes, str)
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

// splitScopes splits a granted scope string on whitespace and on the
// profile's separator.
func splitScopes(s, sep string) []string {
	f := func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || (sep != " " && strings.ContainsRune(sep, r))
	}
	return strings.FieldsFunc(s, f)
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
