package providers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// Client speaks OAuth 2.0 to one provider for one registered app. It is the
// only code in oauthform that builds OAuth requests.
//
// The token endpoint is driven through golang.org/x/oauth2 with an explicit
// auth style (never auto-detect: its probe would send a code or a rotating
// refresh token twice). What x/oauth2 cannot express is done by hand and
// says so: parameter aliases, JSON bodies and raw codes (quirkTransport),
// non-RFC error bodies (decodeError), absolute `expires`, metadata, the
// separate refresh URL, revocation, the check call and discovery.
//
// No call retries anything that could replay a one-time code or a rotating
// refresh token; calls that are safe to repeat retry a 429 or 503 that
// carries a Retry-After.
type Client struct {
	Profile      *Profile
	ClientID     string
	ClientSecret secret.Secret
	RedirectURI  string

	// HTTP supplies the transport; nil means http.DefaultTransport.
	// Redirects are never followed: a token request is not re-sent
	// elsewhere.
	HTTP *http.Client
	// Timeout bounds each request; 0 means 30s. A token request (a code
	// exchange or a refresh) is bounded by it only until it is on the
	// wire: from then on its answer holds the only copy of single-use
	// tokens (a rotated refresh token), so the wait is AnswerWait.
	Timeout time.Duration
	// AnswerWait bounds the wait for the answer to a token request once
	// it has been sent; 0 means DefaultAnswerWait. It is long so that a
	// slow provider, or a process suspended mid-request (a closed laptop
	// lid, SIGSTOP), still reads the answer when it arrives or wakes.
	AnswerWait time.Duration
	// MaxRetries is how often a retryable call is repeated after a 429 or
	// 503 with Retry-After; 0 means 2, negative means never.
	MaxRetries int
	// MaxRetryWait is the longest Retry-After honoured; 0 means 30s.
	MaxRetryWait time.Duration
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil means a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives one debug line per request, never a secret.
	Logger hclog.Logger

	// issRequired is set by Discover when the server promises `iss` in
	// every authorization response (RFC 9207).
	issRequired bool
	// discovered is what Discover found.
	discovered *Endpoints
}

// AuthRequest is one authorization request in flight: the URL a person
// opens and what the callback must be checked against.
type AuthRequest struct {
	URL string
	// State is the CSRF token sent in the request (≥128 random bits).
	State string
	// Verifier is the PKCE code_verifier, zero when PKCE is off.
	Verifier    secret.Secret
	Scopes      []string
	Params      map[string]string
	RedirectURI string
}

// Errors of the authorization response (the callback).
var (
	// ErrStateMismatch: the callback's state is not the one sent. The
	// callback must be ignored (it may be forged).
	ErrStateMismatch = errors.New("the callback's state does not match the request (possible CSRF)")
	// ErrIssuerMismatch: the callback's iss names another authorization
	// server (RFC 9207 mix-up defence).
	ErrIssuerMismatch = errors.New("the callback's iss does not name this provider (possible mix-up attack)")
	// ErrNoRevoke: the provider has no remote revocation.
	ErrNoRevoke = errors.New("the provider has no revoke endpoint")
	// ErrNoRefresh: the provider or the grant has no refresh token.
	ErrNoRefresh = errors.New("no refresh token")
)

// reservedParams are set by oauthform itself and cannot be overridden by a
// connection's params.
var reservedParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method",
}

// AuthCodeURL starts an authorization: a fresh state, PKCE S256 when the
// profile enables it, the scopes joined with the profile's separator and
// the connection's extra params.
func (c *Client) AuthCodeURL(scopes []string, params map[string]string) (*AuthRequest, error) {
	p := c.Profile
	if p.AuthorizeURL == "" {
		return nil, fmt.Errorf("provider %s has no authorize_url (set it, or an issuer for discovery)", p.Name)
	}
	req := &AuthRequest{
		State:       rand.Text(), // 26 base32 characters: 130 bits
		Scopes:      slices.Clone(scopes),
		Params:      params,
		RedirectURI: c.RedirectURI,
	}
	var opts []oauth2.AuthCodeOption
	if len(scopes) > 0 && !p.NoScopes {
		// x/oauth2 joins Config.Scopes with a space; set the parameter
		// ourselves so a "," separator (Burner's auth page) is honoured.
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(scopes, p.ScopeSeparator)))
	}
	if p.PKCE {
		v := oauth2.GenerateVerifier()
		req.Verifier = secret.New(v)
		opts = append(opts, oauth2.S256ChallengeOption(v))
	}
	for _, k := range sortedKeys(params) {
		if slices.Contains(reservedParams, k) {
			return nil, fmt.Errorf("connection param %q is set by oauthform itself and cannot be overridden", k)
		}
		opts = append(opts, oauth2.SetAuthURLParam(k, params[k]))
	}
	req.URL = c.config(p.TokenURL).AuthCodeURL(req.State, opts...)
	return req, nil
}

// ParseCallback checks the query of the redirect the browser landed on
// against req and returns the authorization code. A state mismatch returns
// ErrStateMismatch; a provider's error (access_denied…) returns an *Error
// with Op "authorize".
func (c *Client) ParseCallback(q url.Values, req *AuthRequest) (secret.Secret, error) {
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(req.State)) != 1 {
		return secret.Secret{}, ErrStateMismatch
	}
	iss := q.Get("iss")
	switch {
	case iss != "" && c.Profile.Issuer != "" && strings.TrimSuffix(iss, "/") != strings.TrimSuffix(c.Profile.Issuer, "/"):
		return secret.Secret{}, fmt.Errorf("%w: got %q, want %q", ErrIssuerMismatch, iss, c.Profile.Issuer)
	case iss == "" && c.issRequired:
		return secret.Secret{}, fmt.Errorf("%w: the provider promises iss but the callback has none", ErrIssuerMismatch)
	}
	code := secret.New(q.Get("code"))
	if q.Get("error") != "" {
		// Classified as shown: without escape sequences or control characters.
		e := textsafe.Sanitize(q.Get("error"))
		msg := textsafe.Sanitize(firstNonEmpty(q.Get("error_description"), q.Get("error_message")))
		sent := c.sent(code, req.Verifier, secret.New(req.State))
		return secret.Secret{}, &Error{
			Op: "authorize", Provider: c.Profile.Name, Code: clip(scrub(e, sent), maxCode), Message: clip(scrub(msg, sent), maxMessage),
			Kind: c.Profile.kindOf(e, msg),
		}
	}
	if code.IsZero() {
		return secret.Secret{}, &Error{Op: "authorize", Provider: c.Profile.Name, Kind: KindMalformed,
			Message: "the callback carries neither a code nor an error"}
	}
	return code, nil
}

// Exchange trades an authorization code for tokens. It is never retried:
// the code is single-use.
func (c *Client) Exchange(ctx context.Context, req *AuthRequest, code secret.Secret) (*Token, error) {
	var opts []oauth2.AuthCodeOption
	if !req.Verifier.IsZero() {
		opts = append(opts, oauth2.VerifierOption(req.Verifier.Reveal()))
	}
	conf := c.config(c.Profile.TokenURL)
	conf.RedirectURL = req.RedirectURI
	secrets := c.sent(code, req.Verifier)
	var tok *oauth2.Token
	err := c.call(ctx, "exchange", conf.Endpoint.TokenURL, false, func(ctx context.Context) error {
		var err error
		tok, err = conf.Exchange(ctx, code.Reveal(), opts...)
		return c.tokenError("exchange", err, secrets)
	})
	if err != nil {
		return nil, err
	}
	return c.fromOAuth2(tok, req.Scopes, secret.Secret{})
}

// Refresh trades a refresh token for a new access token, at refresh_url
// when the profile has one. A response without refresh_token keeps the old
// one; a rotating provider's new refresh token is in Token.RefreshToken with
// Rotated set, and must be persisted before anything else. A refresh is
// retried (on 429/503 with Retry-After) only when the profile does not
// rotate refresh tokens.
func (c *Client) Refresh(ctx context.Context, refresh secret.Secret) (*Token, error) {
	p := c.Profile
	if refresh.IsZero() || !p.Refresh {
		return nil, fmt.Errorf("refresh with %s: %w", p.Name, ErrNoRefresh)
	}
	conf := c.config(firstNonEmpty(p.RefreshURL, p.TokenURL))
	secrets := c.sent(refresh)
	var tok *oauth2.Token
	var sv salvager
	err := c.call(ctx, "refresh", conf.Endpoint.TokenURL, !p.RotatesRefresh, func(ctx context.Context) error {
		var err error
		if p.RotatesRefresh {
			ctx = context.WithValue(ctx, oauth2.HTTPClient, c.httpClientSalvaging(&sv, 0))
		}
		// A TokenSource over a token with no access token refreshes at
		// once; x/oauth2 copies the old refresh token in when the
		// response has none.
		tok, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh.Reveal()}).Token()
		return c.tokenError("refresh", err, append(secrets, secret.New(sv.refresh)))
	})
	var pe *Error
	if err != nil && errors.As(err, &pe) && sv.refresh != "" && sv.refresh != refresh.Reveal() {
		// The provider rotated but its answer was unusable: keep the one
		// live refresh token for the caller to store.
		pe.NewRefresh = secret.New(sv.refresh)
	}
	if err != nil {
		return nil, err
	}
	return c.fromOAuth2(tok, nil, refresh)
}

// config is the x/oauth2 view of the client, with an explicit auth style.
func (c *Client) config(tokenURL string) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	sec := c.ClientSecret.Reveal()
	switch c.Profile.ClientAuth {
	case AuthBasic:
		style = oauth2.AuthStyleInHeader
	case AuthNone:
		sec = "" // a public client must not send a secret
	}
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: sec,
		RedirectURL:  c.RedirectURI,
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.Profile.AuthorizeURL,
			TokenURL:  tokenURL,
			AuthStyle: style,
		},
	}
}

// httpClient is the client every request goes through: the quirk transport
// over the caller's, no redirects, the per-request timeout.
func (c *Client) httpClient() *http.Client { return c.httpClientSalvaging(nil, c.timeout()) }

// httpClientSalvaging is httpClient noting the refresh_token of successful
// answers in s (nil: not), with an overall timeout (0: none; a token
// request's deadlines come from its context, see call).
func (c *Client) httpClientSalvaging(s *salvager, timeout time.Duration) *http.Client {
	base := sharedTransport
	if c.HTTP != nil && c.HTTP.Transport != nil {
		base = c.HTTP.Transport
	}
	return &http.Client{
		Transport:     &quirkTransport{base: base, profile: c.Profile, salvage: s},
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sharedTransport is http.DefaultTransport keeping more idle connections
// per host: an apply refreshing at -parallelism 50 talks to one provider
// over many connections at once, and the default keeps 2, so most
// refreshes would open a new TCP (and TLS) connection.
var sharedTransport = func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.DialContext = dialContext // with the connections Preconnect opened
	return t
}()

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second
}

// DefaultAnswerWait is how long a sent token request waits for its answer.
const DefaultAnswerWait = 5 * time.Minute

func (c *Client) answerWait() time.Duration {
	if c.AnswerWait > 0 {
		return c.AnswerWait
	}
	return DefaultAnswerWait
}

// isTokenOp reports whether op sends single-use credentials whose answer
// must not be abandoned once the request is on the wire (a device token
// request: the approved device code is spent by the answer).
func isTokenOp(op string) bool { return op == "exchange" || op == "refresh" || op == "device_token" }

// deadline bounds one attempt of op: Timeout for every request, and for a
// token request only until it has been written (httptrace WroteRequest),
// then AnswerWait. The returned func reports, once the attempt is over,
// the limit that ended it (0: none did).
func (c *Client) deadline(ctx context.Context, op string) (context.Context, context.CancelFunc, func() time.Duration) {
	if !isTokenOp(op) {
		rctx, cancel := context.WithTimeout(ctx, c.timeout())
		return rctx, cancel, func() time.Duration {
			if errors.Is(rctx.Err(), context.DeadlineExceeded) {
				return c.timeout()
			}
			return 0
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	limit, expired := c.timeout(), time.Duration(0)
	t := time.AfterFunc(limit, func() {
		mu.Lock()
		expired = limit
		mu.Unlock()
		cancel()
	})
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			if info.Err == nil && expired == 0 && t.Stop() {
				limit = c.answerWait()
				t.Reset(limit)
			}
		},
	})
	return rctx, func() { t.Stop(); cancel() }, func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return expired
	}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) logger() hclog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return hclog.NewNullLogger()
}

// call runs one provider request with its timeout and, when retryable,
// repeats it after a 429/503 that carries a Retry-After. fn returns nil or
// an *Error.
func (c *Client) call(ctx context.Context, op, endpoint string, retryable bool, fn func(context.Context) error) error {
	maxRetries := c.MaxRetries
	if maxRetries == 0 {
		maxRetries = 2
	}
	maxWait := c.MaxRetryWait
	if maxWait == 0 {
		maxWait = 30 * time.Second
	}
	hc := c.httpClient()
	if isTokenOp(op) {
		hc = c.httpClientSalvaging(nil, 0)
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	for attempt := 0; ; attempt++ {
		start := time.Now()
		rctx, cancel, expired := c.deadline(ctx, op)
		err := fn(rctx)
		cancel()
		log := c.logger().With("provider", c.Profile.Name, "op", op, "url", endpoint, "duration", time.Since(start).Round(time.Millisecond))
		var pe *Error
		if !errors.As(err, &pe) {
			log.Debug("provider call ok")
			return err
		}
		if d := expired(); d > 0 && pe.Kind == KindNetwork {
			pe.Message, pe.Err = "no answer within "+d.String(), fmt.Errorf("%w (%w)", context.DeadlineExceeded, pe.Err)
		}
		log.Debug("provider call failed", "kind", pe.Kind, "status", pe.Status, "code", pe.Code)
		rateLimited := pe.Kind == KindRateLimited || pe.Status == http.StatusServiceUnavailable
		if !retryable || !rateLimited || pe.RetryAfter <= 0 || pe.RetryAfter > maxWait || attempt >= maxRetries {
			return err
		}
		log.Debug("retrying after Retry-After", "wait", pe.RetryAfter, "attempt", attempt+1)
		if err := c.sleep(ctx, pe.RetryAfter); err != nil {
			return pe
		}
	}
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
