package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// The grants without a browser on this machine: the device authorization
// grant (RFC 8628), where a person approves on another device, and the
// client credentials grant (RFC 6749 §4.4), where no person is involved.
//
// Token requests go through golang.org/x/oauth2: its clientcredentials
// package sends the client credentials grant, and, with grant_type
// overridden as it allows, each single device access token request, so
// that client authentication (the profile's auth style) and the token
// answer's parsing are x/oauth2's, as for an exchange. What it cannot do
// is done here and says so:
//
//   - The device authorization request is built by hand: x/oauth2's
//     Config.DeviceAuth builds its request without the context (neither
//     Ctrl-C nor the request timeout reach it), never authenticates a
//     confidential client (RFC 8628 §3.1 defers to RFC 6749 §2.3), and
//     dates the codes' expiry by its own clock.
//   - The polling loop is oauthform's: Config.DeviceAccessToken waits on
//     a real ticker, so neither the client's clock nor its Sleep could be
//     injected, and it ends at the expiry with a bare context error.

// Device-flow errors that are not a provider's answer.
var (
	// ErrNoDeviceAuth: the provider has no device authorization endpoint
	// (no device_authorization_url, and discovery found none).
	ErrNoDeviceAuth = errors.New("the provider has no device authorization endpoint")
	// ErrPublicClientCredentials: a public client (client_auth = "none")
	// cannot use the client credentials grant (RFC 6749 §4.4).
	ErrPublicClientCredentials = errors.New("the client credentials grant needs a confidential client (RFC 6749 §4.4), and client_auth is \"none\"")
)

// deviceGrantType is RFC 8628 §3.4's grant_type.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// DefaultDeviceInterval is the wait between two polls when the device
// authorization response gives no interval (RFC 8628 §3.2: 5 seconds).
const DefaultDeviceInterval = 5 * time.Second

// DefaultDeviceExpiry is how long a device code is taken to live when the
// response omits expires_in (which RFC 8628 §3.2 requires), so that the
// poll never runs for ever.
const DefaultDeviceExpiry = 30 * time.Minute

// slowDownStep is what a slow_down adds to the interval, for this and
// every later poll (RFC 8628 §3.5).
const slowDownStep = 5 * time.Second

// maxDeviceInterval caps the server's interval (and its growth by
// slow_down): a poll once every ten minutes is already useless.
const maxDeviceInterval = 10 * time.Minute

// DeviceAuth is one device authorization in progress (RFC 8628 §3.2):
// what the person needs to approve it, and what the client polls with.
type DeviceAuth struct {
	// DeviceCode identifies the authorization at the token endpoint.
	DeviceCode secret.Secret
	// UserCode is what the person enters at VerificationURI. It is shown
	// to the person, once; it is never logged.
	UserCode secret.Secret
	// VerificationURI is where the person goes to enter UserCode (an
	// absolute http(s) URL, checked like the endpoints).
	VerificationURI string
	// VerificationURIComplete is VerificationURI with the user code in it,
	// for a browser or a QR code; zero when the server sent none. Being
	// the user code in another form, it is a secret too.
	VerificationURIComplete secret.Secret
	// Expiry is when the device code and user code expire, by the
	// client's clock (expires_in; DefaultDeviceExpiry when absent).
	Expiry time.Time
	// Interval is the wait between polls (interval; DefaultDeviceInterval
	// when absent).
	Interval time.Duration
	// Scopes are the scopes requested.
	Scopes []string
}

// deviceReserved are the device authorization and device token request
// parameters oauthform sets itself.
var deviceReserved = []string{"client_id", "client_secret", "scope", "grant_type", "device_code"}

// DeviceAuth starts a device authorization (RFC 8628 §3.1): scopes joined
// with the profile's separator, the connection's extra params, the client
// authenticated as at the token endpoint (a public client sends its
// client_id). When the profile has no device endpoint but an issuer, and
// discovery has not run, the issuer's metadata is fetched for its
// device_authorization_endpoint first. The request is retried on a 429 or
// 503 with Retry-After: it hands out nothing single-use.
func (c *Client) DeviceAuth(ctx context.Context, scopes []string, params map[string]string) (*DeviceAuth, error) {
	if c.Profile.DeviceAuthURL == "" && c.Profile.Issuer != "" && c.discovered == nil {
		e, where, err := c.fetchEndpoints(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.useEndpoints(e, where); err != nil {
			return nil, err
		}
	}
	p := c.Profile
	if p.DeviceAuthURL == "" {
		how := "set device_authorization_url in its provider block"
		if p.Issuer != "" {
			how = "its issuer's metadata has no device_authorization_endpoint; " + how
		}
		return nil, fmt.Errorf("device authorization with %s: %w (%s)", p.Name, ErrNoDeviceAuth, how)
	}
	form := url.Values{"client_id": {c.ClientID}}
	if len(scopes) > 0 && !p.NoScopes {
		form.Set("scope", strings.Join(scopes, p.ScopeSeparator))
	}
	for _, k := range sortedKeys(params) {
		if slices.Contains(deviceReserved, k) {
			return nil, fmt.Errorf("connection param %q is set by oauthform itself and cannot be overridden", k)
		}
		form.Set(k, params[k])
	}
	body, err := c.send(ctx, "device_authorization", p.DeviceAuthURL, true, false, c.sent(),
		func(ctx context.Context) (*http.Request, error) {
			// A fresh copy each attempt: clientRequest adds to it.
			f := url.Values{}
			for k, v := range form {
				f[k] = slices.Clone(v)
			}
			return c.clientRequest(ctx, p.DeviceAuthURL, f)
		})
	if err != nil {
		return nil, err
	}
	return c.parseDeviceAuth(body, scopes)
}

// deviceAnswer is RFC 8628 §3.2's response, numbers read leniently.
type deviceAnswer struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURL         string `json:"verification_url"` // Google's spelling
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               any    `json:"expires_in"`
	Interval                any    `json:"interval"`
}

// parseDeviceAuth reads a device authorization response. Nothing of it
// reaches an error message but the names of what is missing or wrong.
func (c *Client) parseDeviceAuth(body []byte, scopes []string) (*DeviceAuth, error) {
	p := c.Profile
	bad := func(msg string) error {
		return &Error{Op: "device_authorization", Provider: p.Name, Kind: KindMalformed, Message: msg}
	}
	var a deviceAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, bad("the answer is not a JSON object with device_code, user_code and verification_uri")
	}
	if a.VerificationURI == "" {
		a.VerificationURI = a.VerificationURL
	}
	switch {
	case a.DeviceCode == "":
		return nil, bad("the answer has no device_code")
	case a.UserCode == "":
		return nil, bad("the answer has no user_code")
	case a.VerificationURI == "":
		return nil, bad("the answer has no verification_uri")
	}
	// The addresses are shown to a person and opened in a browser: the
	// same rules as for the endpoints (no javascript:, no plain http but
	// to loopback), and they must not smuggle control characters.
	if msg := CheckEndpointURL(a.VerificationURI); msg != "" || unsafeText(a.VerificationURI) {
		return nil, bad("the answer's verification_uri " + firstNonEmpty(msg, "contains control characters"))
	}
	if a.VerificationURIComplete != "" {
		if msg := CheckEndpointURL(a.VerificationURIComplete); msg != "" || unsafeText(a.VerificationURIComplete) {
			return nil, bad("the answer's verification_uri_complete " + firstNonEmpty(msg, "contains control characters"))
		}
	}
	if unsafeText(a.UserCode) {
		return nil, bad("the answer's user_code contains control characters")
	}
	now := c.now()
	da := &DeviceAuth{
		DeviceCode:              secret.New(a.DeviceCode),
		UserCode:                secret.New(a.UserCode),
		VerificationURI:         a.VerificationURI,
		VerificationURIComplete: secret.New(a.VerificationURIComplete),
		Expiry:                  now.Add(DefaultDeviceExpiry),
		Interval:                DefaultDeviceInterval,
		Scopes:                  slices.Clone(scopes),
	}
	if in, ok := numberOf(a.ExpiresIn); ok && in > 0 {
		da.Expiry = c.relativeExpiry(in, now)
	}
	if iv, ok := numberOf(a.Interval); ok && iv > 0 {
		da.Interval = min(time.Duration(iv*float64(time.Second)), maxDeviceInterval).Round(time.Millisecond)
	}
	return da, nil
}

// unsafeText reports whether s, to be shown to a person, holds what
// textsafe.Sanitize would remove: escape sequences, control or bidi
// characters, invalid UTF-8.
func unsafeText(s string) bool { return textsafe.Sanitize(s) != s }

// DeviceAccessToken polls the token endpoint until the person approves or
// refuses the device authorization da (RFC 8628 §3.4, §3.5): first after
// da.Interval, then at that interval, 5 seconds more for this and every
// later poll after each slow_down. authorization_pending goes on waiting.
//
// It returns the granted token (through the profile's quirks, as an
// exchange does), or an *Error:
//   - KindAccessDenied when the person refused (access_denied), as for a
//     denied browser grant;
//   - KindExpiredToken when the codes expired before the person acted
//     (expired_token, or da.Expiry passed by the client's clock);
//   - KindNetwork with Err wrapping the context's error when ctx ended
//     (Ctrl-C) during the wait or a poll;
//   - any other refusal as the provider answered it.
//
// The waits use the client's Sleep and Now, so tests need not wait. Each
// poll is one debug line in the log, which never shows the device code or
// the user code.
func (c *Client) DeviceAccessToken(ctx context.Context, da *DeviceAuth) (*Token, error) {
	p := c.Profile
	interval := da.Interval
	if interval <= 0 {
		interval = DefaultDeviceInterval
	}
	conf := c.clientCredentials(p.TokenURL, url.Values{
		"grant_type":  {deviceGrantType},
		"device_code": {da.DeviceCode.Reveal()},
	})
	secrets := c.sent(da.DeviceCode, da.UserCode, da.VerificationURIComplete)
	for {
		wait := interval
		if left := da.Expiry.Sub(c.now()); !da.Expiry.IsZero() && left < wait {
			wait = max(left, 0)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, &Error{Op: "device_token", Provider: p.Name, Kind: KindNetwork, Err: err,
				Message: "cancelled while waiting for the person's approval"}
		}
		if !da.Expiry.IsZero() && !c.now().Before(da.Expiry) {
			return nil, &Error{Op: "device_token", Provider: p.Name, Kind: KindExpiredToken,
				Message: "the user code expired before the person approved it: start the device authorization again"}
		}
		var tok *oauth2.Token
		err := c.call(ctx, "device_token", p.TokenURL, false, func(ctx context.Context) error {
			var err error
			tok, err = conf.Token(ctx)
			return c.tokenError("device_token", err, secrets)
		})
		if err == nil {
			return c.fromOAuth2(tok, da.Scopes, secret.Secret{})
		}
		var pe *Error
		if !errors.As(err, &pe) {
			return nil, err
		}
		switch strings.ToLower(pe.Code) {
		case "authorization_pending":
			continue
		case "slow_down":
			interval = min(interval+slowDownStep, maxDeviceInterval)
			continue
		case "access_denied":
			pe.Kind = KindAccessDenied
			if pe.Message == "" {
				pe.Message = "the person refused the authorization"
			}
		case "expired_token":
			pe.Kind = KindExpiredToken
			if pe.Message == "" {
				pe.Message = "the user code expired before the person approved it: start the device authorization again"
			}
		}
		if pe.Kind == KindRateLimited && pe.RetryAfter > 0 && pe.RetryAfter <= maxDeviceInterval {
			// Nothing was granted: wait as told, then poll again.
			interval = max(interval, pe.RetryAfter)
			continue
		}
		return nil, pe
	}
}

// ClientCredentials obtains a token for the app itself (RFC 6749 §4.4):
// scopes joined with the profile's separator, the connection's extra
// params, the client authenticated per the profile. The answer goes
// through the profile's quirks as an exchange's does; it normally holds
// no refresh token (a new token is obtained the same way). The request
// is retried on a 429 or 503 with Retry-After: a client credentials grant
// spends nothing single-use. A public client is refused before sending
// anything (ErrPublicClientCredentials).
func (c *Client) ClientCredentials(ctx context.Context, scopes []string, params map[string]string) (*Token, error) {
	p := c.Profile
	if p.ClientAuth == AuthNone {
		return nil, fmt.Errorf("client credentials with %s: %w", p.Name, ErrPublicClientCredentials)
	}
	extra := url.Values{}
	if len(scopes) > 0 && !p.NoScopes {
		// Set here, not as Config.Scopes, which x/oauth2 joins with a space.
		extra.Set("scope", strings.Join(scopes, p.ScopeSeparator))
	}
	for _, k := range sortedKeys(params) {
		if slices.Contains(deviceReserved, k) {
			return nil, fmt.Errorf("connection param %q is set by oauthform itself and cannot be overridden", k)
		}
		extra.Set(k, params[k])
	}
	conf := c.clientCredentials(p.TokenURL, extra)
	var tok *oauth2.Token
	err := c.call(ctx, "client_credentials", p.TokenURL, true, func(ctx context.Context) error {
		var err error
		tok, err = conf.Token(ctx)
		return c.tokenError("client_credentials", err, c.sent())
	})
	if err != nil {
		return nil, err
	}
	return c.fromOAuth2(tok, slices.Clone(scopes), secret.Secret{})
}

// clientCredentials is the x/oauth2 client credentials view of the
// client, with the explicit auth style of config and params as the
// request's other parameters (grant_type among them to override it).
func (c *Client) clientCredentials(tokenURL string, params url.Values) *clientcredentials.Config {
	base := c.config(tokenURL)
	return &clientcredentials.Config{
		ClientID:       base.ClientID,
		ClientSecret:   base.ClientSecret,
		TokenURL:       tokenURL,
		EndpointParams: params,
		AuthStyle:      base.Endpoint.AuthStyle,
	}
}
