package providers

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// fakeServer answers every request with the next canned reply and records
// what it received. It stands for a provider in unit tests of the client's
// own logic; the emulators test the provider quirks end to end.
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	replies []reply
	got     []recorded
}

type reply struct {
	status  int
	ctype   string
	body    string
	header  map[string]string
	drop    bool          // close the connection without an answer
	partial bool          // promise more body than is sent, then close
	delay   time.Duration // wait (or until the client gives up)
}

type recorded struct {
	method, path, ctype, body string
	user, pass                string
	basic                     bool
	auth                      string
}

func newFake(t *testing.T, replies ...reply) *fakeServer {
	f := &fakeServer{replies: replies}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	user, pass, basic := r.BasicAuth()
	f.mu.Lock()
	f.got = append(f.got, recorded{r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(body), user, pass, basic, r.Header.Get("Authorization")})
	var rep reply
	if len(f.replies) > 0 {
		rep, f.replies = f.replies[0], f.replies[1:]
	} else {
		rep = reply{status: 500, body: "no more replies"}
	}
	f.mu.Unlock()
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	if rep.drop || rep.partial {
		hj, _ := w.(http.Hijacker)
		conn, buf, _ := hj.Hijack()
		if rep.partial {
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"access_token\":")
			_ = buf.Flush()
		}
		_ = conn.Close()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.ctype == "" {
		rep.ctype = "application/json"
	}
	w.Header().Set("Content-Type", rep.ctype)
	if rep.status == 0 {
		rep.status = 200
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fakeServer) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.got...)
}

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// testClient returns a client of the built-in name rebased onto f.
func testClient(t *testing.T, name string, f *fakeServer) *Client {
	t.Helper()
	p, ok := Builtin(name)
	if !ok {
		p = Generic(name)
		p.AuthorizeURL, p.TokenURL = "https://x.example/authorize", "https://x.example/token"
		p.RevokeURL, p.CheckURL = "https://x.example/revoke", "https://x.example/me"
	}
	rp, err := p.Rebase(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{
		Profile: rp, ClientID: "the-client", ClientSecret: secret.New("s3cret-value"),
		RedirectURI: "http://127.0.0.1:8765/callback",
		Now:         func() time.Time { return testNow },
		Timeout:     2 * time.Second,
	}
}

func TestAuthCodeURL(t *testing.T) {
	f := newFake(t)
	t.Run("scopes, state, PKCE", func(t *testing.T) {
		c := testClient(t, "sms77", f)
		req, err := c.AuthCodeURL([]string{"sms", "analytics"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(req.URL)
		q := u.Query()
		if u.Path != "/authorize" || q.Get("response_type") != "code" || q.Get("client_id") != "the-client" ||
			q.Get("redirect_uri") != c.RedirectURI || q.Get("scope") != "sms analytics" || q.Get("state") != req.State {
			t.Errorf("authorize URL = %s", req.URL)
		}
		if len(req.State) < 22 { // 128 bits in base32 is 26 characters
			t.Errorf("state %q is too short", req.State)
		}
		sum := sha256.Sum256([]byte(req.Verifier.Reveal()))
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) {
			t.Errorf("PKCE challenge does not match the verifier: %s", req.URL)
		}
		again, _ := c.AuthCodeURL(nil, nil)
		if again.State == req.State || again.Verifier.Equal(req.Verifier) {
			t.Error("state and verifier must be fresh for every request")
		}
		if strings.Contains(again.URL, "scope=") {
			t.Errorf("empty scopes must not send scope: %s", again.URL)
		}
	})
	t.Run("comma separator and params", func(t *testing.T) {
		c := testClient(t, "burner", f)
		c.Profile.ScopeSeparator = ","
		req, err := c.AuthCodeURL([]string{"messages:connect", "burners:read"}, map[string]string{"burner_id": "b-1"})
		if err != nil {
			t.Fatal(err)
		}
		q := mustQuery(t, req.URL)
		if q.Get("scope") != "messages:connect,burners:read" || q.Get("burner_id") != "b-1" || q.Has("code_challenge") {
			t.Errorf("authorize URL = %s", req.URL)
		}
	})
	t.Run("no scopes provider ignores scopes", func(t *testing.T) {
		c := testClient(t, "phoneburner", f)
		req, err := c.AuthCodeURL(nil, map[string]string{"owner_type": "vendor"})
		if err != nil {
			t.Fatal(err)
		}
		q := mustQuery(t, req.URL)
		if q.Has("scope") || q.Get("owner_type") != "vendor" {
			t.Errorf("authorize URL = %s", req.URL)
		}
	})
	t.Run("reserved param", func(t *testing.T) {
		c := testClient(t, "oauth2generic", f)
		if _, err := c.AuthCodeURL(nil, map[string]string{"state": "x"}); err == nil || !strings.Contains(err.Error(), `"state"`) {
			t.Errorf("err = %v, want a refusal naming the param", err)
		}
	})
	t.Run("no authorize url", func(t *testing.T) {
		c := &Client{Profile: Generic("acme")}
		if _, err := c.AuthCodeURL(nil, nil); err == nil {
			t.Error("want an error without authorize_url")
		}
	})
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestParseCallback(t *testing.T) {
	f := newFake(t)
	c := testClient(t, "buffer_v2", f)
	req, _ := c.AuthCodeURL([]string{"posts:read"}, nil)
	base := func(kv ...string) url.Values {
		q := url.Values{"state": {req.State}}
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	code, err := c.ParseCallback(base("code", "1/abc", "iss", c.Profile.Issuer), req)
	if err != nil || code.Reveal() != "1/abc" {
		t.Fatalf("ParseCallback = %q, %v", code.Reveal(), err)
	}
	if _, err := c.ParseCallback(url.Values{"code": {"x"}, "state": {"forged"}}, req); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("forged state: err = %v", err)
	}
	if _, err := c.ParseCallback(base("code", "x", "iss", "https://evil.example"), req); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("wrong iss: err = %v", err)
	}
	c.issRequired = true
	if _, err := c.ParseCallback(base("code", "x"), req); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("missing iss when promised: err = %v", err)
	}
	c.issRequired = false
	_, err = c.ParseCallback(base("error", "access_denied", "error_message", "The resource owner denied the request."), req)
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != KindAccessDenied || pe.Op != "authorize" || !strings.Contains(pe.Message, "denied") {
		t.Errorf("denied: err = %#v", err)
	}
	if _, err := c.ParseCallback(base(), req); !errors.As(err, &pe) || pe.Kind != KindMalformed {
		t.Errorf("empty callback: err = %v", err)
	}
}

func TestExchangeParsesTokenShapes(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		rep      reply
		check    func(t *testing.T, tok *Token)
	}{
		{"expires_in number, narrower scope", "sms77",
			reply{body: `{"access_token":"at","expires_in":3600,"token_type":"bearer","scope":"sms","refresh_token":"rt"}`},
			func(t *testing.T, tok *Token) {
				if tok.AccessToken.Reveal() != "at" || tok.RefreshToken.Reveal() != "rt" || tok.TokenType != "Bearer" {
					t.Errorf("token = %+v", tok)
				}
				if !tok.Expiry.Equal(testNow.Add(time.Hour)) {
					t.Errorf("Expiry = %v", tok.Expiry)
				}
				if strings.Join(tok.Scopes, " ") != "sms" {
					t.Errorf("Scopes = %v, want the granted [sms]", tok.Scopes)
				}
			}},
		{"expires_in numeric string, scope array", "sms77",
			reply{body: `{"access_token":"at","expires_in":"120","scope":["sms","voice"]}`},
			func(t *testing.T, tok *Token) {
				if !tok.Expiry.Equal(testNow.Add(2*time.Minute)) || strings.Join(tok.Scopes, ",") != "sms,voice" {
					t.Errorf("token = %+v", tok)
				}
			}},
		{"absolute expires wins", "phoneburner",
			reply{body: fmt.Sprintf(`{"access_token":"at","token_type":"bearer","expires":%d,"expires_in":604800,"refresh_token":"rt"}`, testNow.Unix()+7200)},
			func(t *testing.T, tok *Token) {
				if !tok.Expiry.Equal(testNow.Add(2 * time.Hour)) {
					t.Errorf("Expiry = %v, want the absolute expires", tok.Expiry)
				}
			}},
		{"absolute profile falls back to expires_in", "phoneburner",
			reply{body: `{"access_token":"at","expires_in":60}`},
			func(t *testing.T, tok *Token) {
				if !tok.Expiry.Equal(testNow.Add(time.Minute)) {
					t.Errorf("Expiry = %v", tok.Expiry)
				}
			}},
		{"no expiry at all", "buffer",
			reply{body: `{"access_token":"1/long-lived"}`},
			func(t *testing.T, tok *Token) {
				if !tok.Expiry.IsZero() || !tok.RefreshToken.IsZero() {
					t.Errorf("token = %+v", tok)
				}
			}},
		{"metadata kept, scope missing means requested", "burner",
			reply{body: `{"access_token":"at","expires_in":600,"connected_burners":[{"id":"b1","name":"Work","status":"on"}]}`},
			func(t *testing.T, tok *Token) {
				raw := tok.Metadata["connected_burners"]
				var v []map[string]any
				if err := json.Unmarshal(raw, &v); err != nil || len(v) != 1 || v[0]["id"] != "b1" {
					t.Errorf("connected_burners = %s (%v)", raw, err)
				}
				if strings.Join(tok.Scopes, " ") != "messages:connect" {
					t.Errorf("Scopes = %v, want the requested ones", tok.Scopes)
				}
			}},
		{"form-encoded answer", "oauth2generic",
			reply{ctype: "application/x-www-form-urlencoded", body: `access_token=at&token_type=bearer&expires_in=30&scope=a+b`},
			func(t *testing.T, tok *Token) {
				if tok.AccessToken.Reveal() != "at" || !tok.Expiry.Equal(testNow.Add(30*time.Second)) || len(tok.Scopes) != 2 {
					t.Errorf("token = %+v", tok)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.rep)
			c := testClient(t, tt.provider, f)
			req, _ := c.AuthCodeURL([]string{"messages:connect"}, nil)
			tok, err := c.Exchange(context.Background(), req, secret.New("the-code"))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tok)
		})
	}
}

func TestExchangeFailures(t *testing.T) {
	tests := []struct {
		name string
		rep  reply
		kind Kind
	}{
		{"html page with 200", reply{ctype: "text/html", body: "<html><title>Login</title></html>"}, KindMalformed},
		{"truncated json with 200", reply{body: `{"access_token":"at","expi`}, KindMalformed},
		{"missing access_token", reply{body: `{"token_type":"bearer"}`}, KindMalformed},
		{"expires_in of the wrong type", reply{body: `{"access_token":"at","expires_in":"soon"}`}, KindMalformed},
		{"expires_in a boolean", reply{body: `{"access_token":"at","expires_in":true}`}, KindMalformed},
		{"error on a 200", reply{body: `{"error":"invalid_grant","error_description":"used"}`}, KindInvalidGrant},
		{"dropped connection", reply{drop: true}, KindNetwork},
		{"connection dropped mid-body", reply{partial: true}, KindNetwork},
		{"timeout", reply{delay: 5 * time.Second}, KindNetwork},
		{"redirect is not followed", reply{status: 302, header: map[string]string{"Location": "https://elsewhere.example/token"}}, KindMalformed},
		{"429 is not retried for a code", reply{status: 429, header: map[string]string{"Retry-After": "1"}, body: `{"error":"slow_down"}`}, KindRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.rep, reply{body: `{"access_token":"second"}`})
			c := testClient(t, "sms77", f)
			c.Timeout = 300 * time.Millisecond
			c.AnswerWait = 300 * time.Millisecond
			req, _ := c.AuthCodeURL(nil, nil)
			tok, err := c.Exchange(context.Background(), req, secret.New("the-code"))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Exchange = %+v, %v; want an *Error", tok, err)
			}
			if pe.Kind != tt.kind || pe.Op != "exchange" || pe.Provider != "sms77" {
				t.Errorf("error = %v (kind %q), want kind %q", pe, pe.Kind, tt.kind)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want exactly 1: a code is never sent twice", n)
			}
			for _, leak := range []string{"the-code", "s3cret-value", req.Verifier.Reveal()} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
		})
	}
}

func TestTokenRequestsOnTheWire(t *testing.T) {
	ok := reply{body: `{"access_token":"at","expires_in":60,"refresh_token":"rt"}`}
	t.Run("basic auth, verifier, no body credentials", func(t *testing.T) {
		f := newFake(t, ok)
		c := testClient(t, "sms77", f)
		c.ClientID, c.ClientSecret = "id with:colon", secret.New("p&ss")
		req, _ := c.AuthCodeURL(nil, nil)
		if _, err := c.Exchange(context.Background(), req, secret.New("abc")); err != nil {
			t.Fatal(err)
		}
		r := f.requests()[0]
		form, _ := url.ParseQuery(r.body)
		if !r.basic || r.user != url.QueryEscape("id with:colon") || r.pass != url.QueryEscape("p&ss") {
			t.Errorf("basic auth = %v %q %q", r.basic, r.user, r.pass)
		}
		if form.Has("client_secret") || form.Has("client_id") || form.Get("code_verifier") != req.Verifier.Reveal() ||
			form.Get("grant_type") != "authorization_code" || form.Get("code") != "abc" {
			t.Errorf("form = %v", form)
		}
	})
	t.Run("burner sends camelCase beside snake_case", func(t *testing.T) {
		f := newFake(t, ok)
		c := testClient(t, "burner", f)
		req, _ := c.AuthCodeURL([]string{"burners:read"}, nil)
		if _, err := c.Exchange(context.Background(), req, secret.New("abc")); err != nil {
			t.Fatal(err)
		}
		form, _ := url.ParseQuery(f.requests()[0].body)
		for _, k := range []string{"clientId", "client_id", "clientSecret", "client_secret", "redirectUri", "redirect_uri", "code"} {
			if form.Get(k) == "" {
				t.Errorf("form lacks %s: %v", k, form)
			}
		}
		if f.requests()[0].basic {
			t.Error("burner must not use Basic")
		}
	})
	t.Run("buffer code is written raw", func(t *testing.T) {
		f := newFake(t, ok)
		c := testClient(t, "buffer", f)
		req, _ := c.AuthCodeURL(nil, nil)
		if _, err := c.Exchange(context.Background(), req, secret.New("1/mWot20jTwojsd00jFlaaR45")); err != nil {
			t.Fatal(err)
		}
		body := f.requests()[0].body
		if !strings.Contains(body, "code=1/mWot20jTwojsd00jFlaaR45") || strings.Contains(body, "%2F") && strings.Contains(body, "code=1%2F") {
			t.Errorf("body = %s", body)
		}
		form, _ := url.ParseQuery(body)
		if form.Get("client_secret") != "s3cret-value" || form.Get("redirect_uri") != c.RedirectURI {
			t.Errorf("form = %v", form)
		}
	})
	t.Run("json client auth", func(t *testing.T) {
		f := newFake(t, ok)
		c := testClient(t, "acme", f)
		c.Profile.ClientAuth = AuthJSON
		req, _ := c.AuthCodeURL(nil, nil)
		if _, err := c.Exchange(context.Background(), req, secret.New("abc")); err != nil {
			t.Fatal(err)
		}
		r := f.requests()[0]
		var obj map[string]string
		if r.ctype != "application/json" || json.Unmarshal([]byte(r.body), &obj) != nil ||
			obj["client_id"] != "the-client" || obj["client_secret"] != "s3cret-value" || obj["code"] != "abc" {
			t.Errorf("request = %+v", r)
		}
	})
	t.Run("public client sends no secret", func(t *testing.T) {
		f := newFake(t, ok)
		c := testClient(t, "buffer_v2", f)
		c.Profile.ClientAuth = AuthNone
		req, _ := c.AuthCodeURL(nil, nil)
		if _, err := c.Exchange(context.Background(), req, secret.New("abc")); err != nil {
			t.Fatal(err)
		}
		r := f.requests()[0]
		form, _ := url.ParseQuery(r.body)
		if r.basic || form.Has("client_secret") || form.Get("client_id") != "the-client" {
			t.Errorf("request = %+v", r)
		}
	})
}

func TestRefresh(t *testing.T) {
	t.Run("phoneburner refreshes at refresh_url and keeps the old refresh token", func(t *testing.T) {
		f := newFake(t, reply{body: `{"access_token":"new","token_type":"bearer","expires":1408487234,"expires_in":2678400}`})
		c := testClient(t, "phoneburner", f)
		tok, err := c.Refresh(context.Background(), secret.New("old-rt"))
		if err != nil {
			t.Fatal(err)
		}
		r := f.requests()[0]
		form, _ := url.ParseQuery(r.body)
		if r.path != "/oauth/refreshtoken" || form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "old-rt" ||
			form.Get("client_id") != "the-client" || form.Get("client_secret") != "s3cret-value" {
			t.Errorf("request = %+v", r)
		}
		if tok.RefreshToken.Reveal() != "old-rt" || tok.Rotated || tok.Scopes != nil {
			t.Errorf("token = %+v, want the old refresh token kept", tok)
		}
	})
	t.Run("rotation is reported", func(t *testing.T) {
		f := newFake(t, reply{body: `{"access_token":"new","expires_in":3600,"refresh_token":"rt-2","scope":"sms"}`})
		c := testClient(t, "sms77", f)
		tok, err := c.Refresh(context.Background(), secret.New("rt-1"))
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken.Reveal() != "rt-2" || !tok.Rotated || f.requests()[0].path != "/token" {
			t.Errorf("token = %+v", tok)
		}
	})
	t.Run("no refresh", func(t *testing.T) {
		c := testClient(t, "burner", newFake(t))
		if _, err := c.Refresh(context.Background(), secret.New("x")); !errors.Is(err, ErrNoRefresh) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("invalid_grant needs a reconnect", func(t *testing.T) {
		f := newFake(t, reply{status: 400, body: `{"error":"invalid_grant","error_description":"refresh token rt-1 revoked"}`})
		c := testClient(t, "sms77", f)
		_, err := c.Refresh(context.Background(), secret.New("rt-1"))
		if !NeedsReconnect(err) || strings.Contains(err.Error(), "rt-1") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestRetries(t *testing.T) {
	limited := reply{status: 429, header: map[string]string{"Retry-After": "2"}, body: `{"error":"slow_down"}`}
	ok := reply{body: `{"access_token":"at","expires_in":60}`}
	tests := []struct {
		name     string
		provider string
		replies  []reply
		wantReqs int
		wantErr  bool
	}{
		{"non-rotating refresh retries", "phoneburner", []reply{limited, limited, ok}, 3, false},
		{"gives up after MaxRetries", "phoneburner", []reply{limited, limited, limited, ok}, 3, true},
		{"rotating refresh never retries", "sms77", []reply{limited, ok}, 1, true},
		{"503 without Retry-After is not retried", "phoneburner", []reply{{status: 503}, ok}, 1, true},
		{"Retry-After beyond the budget is not waited for", "phoneburner",
			[]reply{{status: 429, header: map[string]string{"Retry-After": "3600"}}, ok}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.replies...)
			c := testClient(t, tt.provider, f)
			var waits []time.Duration
			c.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			_, err := c.Refresh(context.Background(), secret.New("rt"))
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			if n := len(f.requests()); n != tt.wantReqs {
				t.Errorf("%d requests, want %d", n, tt.wantReqs)
			}
			for _, w := range waits {
				if w != 2*time.Second {
					t.Errorf("waited %v, want the Retry-After of 2s", w)
				}
			}
		})
	}
	t.Run("a cancelled wait stops", func(t *testing.T) {
		f := newFake(t, limited, ok)
		c := testClient(t, "phoneburner", f)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.Sleep = nil
		if _, err := c.Refresh(ctx, secret.New("rt")); err == nil {
			t.Error("want an error")
		}
	})
}

func TestRetryAfterHeader(t *testing.T) {
	now := testNow
	tests := map[string]time.Duration{
		"":    0,
		"7":   7 * time.Second,
		"-1":  0,
		"abc": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	}
	for v, want := range tests {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestRevoke(t *testing.T) {
	t.Run("rfc7009 revokes the refresh token with basic auth", func(t *testing.T) {
		f := newFake(t, reply{})
		c := testClient(t, "sms77", f)
		if err := c.Revoke(context.Background(), secret.New("at"), secret.New("rt")); err != nil {
			t.Fatal(err)
		}
		r := f.requests()[0]
		form, _ := url.ParseQuery(r.body)
		if r.path != "/revoke" || !r.basic || form.Get("token") != "rt" || form.Get("token_type_hint") != "refresh_token" || form.Has("client_secret") {
			t.Errorf("request = %+v", r)
		}
	})
	t.Run("access token when there is no refresh token, body auth", func(t *testing.T) {
		f := newFake(t, reply{})
		c := testClient(t, "buffer_v2", f)
		if err := c.Revoke(context.Background(), secret.New("at"), secret.Secret{}); err != nil {
			t.Fatal(err)
		}
		form, _ := url.ParseQuery(f.requests()[0].body)
		if form.Get("token") != "at" || form.Get("token_type_hint") != "access_token" || form.Get("client_secret") != "s3cret-value" {
			t.Errorf("form = %v", form)
		}
	})
	t.Run("buffer v1 deauthorizes with the bearer token", func(t *testing.T) {
		f := newFake(t, reply{body: `{"success":true}`})
		c := testClient(t, "buffer", f)
		if err := c.Revoke(context.Background(), secret.New("1/at"), secret.Secret{}); err != nil {
			t.Fatal(err)
		}
		r := f.requests()[0]
		if r.path != "/1/user/deauthorize.json" || r.auth != "Bearer 1/at" || strings.Contains(r.body, "1/at") {
			t.Errorf("request = %+v", r)
		}
	})
	t.Run("dead bearer token", func(t *testing.T) {
		f := newFake(t, reply{status: 401, body: `{"error":"invalid_token"}`})
		c := testClient(t, "buffer", f)
		var pe *Error
		if err := c.Revoke(context.Background(), secret.New("1/at"), secret.Secret{}); !errors.As(err, &pe) || pe.Kind != KindInvalidToken {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no revoke endpoint", func(t *testing.T) {
		c := testClient(t, "phoneburner", newFake(t))
		if err := c.Revoke(context.Background(), secret.New("at"), secret.Secret{}); !errors.Is(err, ErrNoRevoke) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("503 with Retry-After is retried", func(t *testing.T) {
		f := newFake(t, reply{status: 503, header: map[string]string{"Retry-After": "1"}}, reply{})
		c := testClient(t, "sms77", f)
		c.Sleep = func(context.Context, time.Duration) error { return nil }
		if err := c.Revoke(context.Background(), secret.New("at"), secret.Secret{}); err != nil || len(f.requests()) != 2 {
			t.Errorf("err = %v after %d requests", err, len(f.requests()))
		}
	})
}

func TestCheck(t *testing.T) {
	f := newFake(t,
		reply{body: `{"success":true,"user_id":12345,"email":"john.doe@acme.inc"}`},
		reply{status: 401, body: `{"http_status":401,"status":"error","debug_codes":[{"code":40101,"reason":"bad token"}]}`},
		reply{status: 500, ctype: "text/html", body: "<title>Down</title>"},
		reply{body: `[1,2]`},
	)
	c := testClient(t, "sms77", f)
	id, err := c.Check(context.Background(), secret.New("at"))
	if err != nil || id.Summary() != "email=john.doe@acme.inc" {
		t.Fatalf("Check = %+v, %v", id, err)
	}
	if r := f.requests()[0]; r.method != "GET" || r.path != "/me" || r.auth != "Bearer at" {
		t.Errorf("request = %+v", r)
	}
	var pe *Error
	if _, err := c.Check(context.Background(), secret.New("at")); !errors.As(err, &pe) || pe.Kind != KindInvalidToken {
		t.Errorf("401: err = %v", err)
	}
	if _, err := c.Check(context.Background(), secret.New("at")); !errors.As(err, &pe) || pe.Kind != KindServerError {
		t.Errorf("500: err = %v", err)
	}
	if id, err := c.Check(context.Background(), secret.New("at")); err != nil || id.Summary() != "" {
		t.Errorf("array answer: %v, %v", id, err)
	}
	c.Profile.CheckURL = ""
	if _, err := c.Check(context.Background(), secret.New("at")); err == nil {
		t.Error("want an error without check_url")
	}
}

func TestDiscover(t *testing.T) {
	var srv *httptest.Server
	var doc map[string]any
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server/tenant" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(srv.Close)
	issuer := srv.URL + "/tenant"
	good := func() map[string]any {
		return map[string]any{
			"issuer": issuer, "authorization_endpoint": srv.URL + "/tenant/authorize", "token_endpoint": srv.URL + "/tenant/token",
			"revocation_endpoint": srv.URL + "/tenant/revoke", "userinfo_endpoint": srv.URL + "/tenant/me",
			"authorization_response_iss_parameter_supported": true,
		}
	}
	newClient := func() *Client {
		p := Generic("acme")
		p.Issuer = issuer
		return &Client{Profile: p, ClientID: "id"}
	}
	doc = good()
	c := newClient()
	if err := c.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Profile.TokenURL != srv.URL+"/tenant/token" || c.Profile.RevokeURL != srv.URL+"/tenant/revoke" ||
		c.Profile.CheckURL != srv.URL+"/tenant/me" || !c.issRequired {
		t.Errorf("profile = %+v", c.Profile)
	}
	if err := c.Discover(context.Background()); err != nil {
		t.Errorf("a second Discover should be a no-op: %v", err)
	}
	for name, mutate := range map[string]func(map[string]any){
		"issuer mismatch":   func(m map[string]any) { m["issuer"] = "https://evil.example" },
		"no token endpoint": func(m map[string]any) { delete(m, "token_endpoint") },
		"insecure endpoint": func(m map[string]any) { m["token_endpoint"] = "http://evil.example/token" },
	} {
		doc = good()
		mutate(doc)
		if err := newClient().Discover(context.Background()); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if got, _ := MetadataURL("https://auth.example.com"); got != "https://auth.example.com/.well-known/oauth-authorization-server" {
		t.Errorf("MetadataURL = %s", got)
	}
	if _, err := MetadataURL("not a url"); err == nil {
		t.Error("want an error for a relative issuer")
	}
}

// An OpenID Connect issuer serves only /.well-known/openid-configuration:
// discovery falls back to it, checks its issuer, and when neither document
// answers the error lists both addresses and what came back.
func TestDiscoverOpenIDConfiguration(t *testing.T) {
	var srv *httptest.Server
	serve := true
	var issuerInDoc string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !serve || r.URL.Path != "/realms/main/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": issuerInDoc, "authorization_endpoint": srv.URL + "/realms/main/auth",
			"token_endpoint": srv.URL + "/realms/main/token", "revocation_endpoint": srv.URL + "/realms/main/revoke",
		})
	}))
	t.Cleanup(srv.Close)
	issuer := srv.URL + "/realms/main"
	newClient := func() *Client {
		p := Generic("kc")
		p.Issuer = issuer
		return &Client{Profile: p, ClientID: "id"}
	}
	issuerInDoc = issuer
	c := newClient()
	if err := c.Discover(context.Background()); err != nil {
		t.Fatalf("Discover of an OpenID Connect issuer: %v", err)
	}
	if c.Profile.TokenURL != srv.URL+"/realms/main/token" || c.Profile.RevokeURL != srv.URL+"/realms/main/revoke" {
		t.Errorf("profile = %+v", c.Profile)
	}
	issuerInDoc = "https://other.example/realms/main"
	if err := newClient().Discover(context.Background()); err == nil || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("issuer mismatch in openid-configuration: err = %v", err)
	}
	serve = false
	err := newClient().Discover(context.Background())
	for _, want := range []string{
		srv.URL + "/.well-known/oauth-authorization-server/realms/main",
		srv.URL + "/realms/main/.well-known/openid-configuration",
		"404",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("neither document answers: err = %v, want it to name %q", err, want)
		}
	}
	if got, _ := OpenIDConfigurationURL("https://auth.example.com/"); got != "https://auth.example.com/.well-known/openid-configuration" {
		t.Errorf("OpenIDConfigurationURL = %s", got)
	}
}

// Endpoints kept from an earlier discovery are used without a fetch while
// they are fresh; older ones are fetched again, and used (with a warning)
// when the fetch fails; another issuer's are ignored.
func TestDiscoverCached(t *testing.T) {
	var fetches atomic.Int32
	up := true
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if !up || r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize", "token_endpoint": srv.URL + "/token",
		})
	}))
	t.Cleanup(srv.Close)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	newClient := func() *Client {
		p := Generic("acme")
		p.Issuer = srv.URL
		return &Client{Profile: p, ClientID: "id", Now: func() time.Time { return now }}
	}
	cached := &Endpoints{Issuer: srv.URL + "/", AuthorizeURL: srv.URL + "/a-kept", TokenURL: srv.URL + "/t-kept",
		RevokeURL: srv.URL + "/r-kept", Fetched: now.Add(-time.Hour)}
	ctx := context.Background()

	c := newClient()
	if err := c.DiscoverCached(ctx, cached); err != nil {
		t.Fatal(err)
	}
	if fetches.Load() != 0 || c.Profile.TokenURL != srv.URL+"/t-kept" || c.Profile.RevokeURL != srv.URL+"/r-kept" {
		t.Errorf("fresh cache: %d fetches, profile %+v; want none and the kept endpoints", fetches.Load(), c.Profile)
	}

	stale := *cached
	stale.Fetched = now.Add(-DiscoveryMaxAge - time.Minute)
	c = newClient()
	if err := c.DiscoverCached(ctx, &stale); err != nil {
		t.Fatal(err)
	}
	if fetches.Load() != 1 || c.Profile.TokenURL != srv.URL+"/token" || c.Profile.RevokeURL != "" {
		t.Errorf("stale cache: %d fetches, profile %+v; want one fetch and the served endpoints", fetches.Load(), c.Profile)
	}
	if d := c.Discovered(); d == nil || !d.Fetched.Equal(now) || d.TokenURL != srv.URL+"/token" {
		t.Errorf("Discovered() = %+v, want the fetched endpoints at %v", d, now)
	}

	up = false
	c = newClient()
	if err := c.DiscoverCached(ctx, &stale); err != nil {
		t.Fatalf("stale cache while the metadata is down: %v", err)
	}
	if c.Profile.TokenURL != srv.URL+"/t-kept" {
		t.Errorf("stale cache, metadata down: profile %+v; want the kept endpoints", c.Profile)
	}

	other := *cached
	other.Issuer = "https://other.example"
	if err := newClient().DiscoverCached(ctx, &other); err == nil {
		t.Error("another issuer's endpoints were used while the metadata is down")
	}
}
