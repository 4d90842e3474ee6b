package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testRedirect = "http://127.0.0.1:8765/callback"
	testID       = "app"
	testSecret   = "s3cret"
	pubID        = "pub"
)

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is one emulator behind an httptest server.
type fixture struct {
	t        *testing.T
	provider string
	srv      *Server
	ts       *httptest.Server
	clock    *fakeClock
	logs     *logSink
}

// logSink collects log lines.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logSink) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// newFixture starts an emulator of provider with a confidential client
// (and a public one where the provider has them).
func newFixture(t *testing.T, provider string, mods ...func(*Options)) *fixture {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	logs := &logSink{}
	o := Options{
		Provider: provider,
		Clients:  []Client{{ID: testID, Secret: testSecret, RedirectURIs: []string{testRedirect}}},
		Now:      clock.Now,
		Logf:     logs.logf,
	}
	if lookupSpec(provider).publicClients {
		o.Clients = append(o.Clients, Client{ID: pubID, RedirectURIs: []string{testRedirect}})
	}
	for _, m := range mods {
		m(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New(%s): %v", provider, err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{t: t, provider: provider, srv: srv, ts: ts, clock: clock, logs: logs}
}

// result is one HTTP answer.
type result struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body as an object.
func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// str reads a string field of the JSON body.
func (r result) str(t *testing.T, k string) string {
	t.Helper()
	s, _ := r.json(t)[k].(string)
	return s
}

// do sends a request.
func (f *fixture) do(req *http.Request) result {
	f.t.Helper()
	hc := *f.ts.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("reading %s: %v", req.URL.Path, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

// post sends a raw form body; hdr are header name/value pairs.
func (f *fixture) post(path, body string, hdr ...string) result {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.do(req)
}

// get sends a GET with an optional bearer token.
func (f *fixture) get(path, bearer string) result {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.ts.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return f.do(req)
}

// path is the provider's path of an endpoint kind.
func (f *fixture) path(kind string) string {
	f.t.Helper()
	p, ok := f.srv.Paths()[kind]
	if !ok {
		f.t.Fatalf("%s has no %s endpoint", f.provider, kind)
	}
	return p
}

// basic is an Authorization: Basic value (RFC 6749 §2.3.1 encoding).
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// pkcePair is a PKCE verifier and its S256 challenge.
type pkcePair struct{ verifier, challenge string }

func newPKCE() pkcePair {
	v := randB64(32)
	sum := sha256.Sum256([]byte(v))
	return pkcePair{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authQuery is a correct authorization request for the provider.
func (f *fixture) authQuery(pk pkcePair) url.Values {
	q := url.Values{"client_id": {testID}, "redirect_uri": {testRedirect}, "state": {"st-123"}}
	switch f.provider {
	case "burner":
		q.Set("scope", "burners:read messages:connect")
	case "sms77":
		q.Set("response_type", "code")
		q.Set("scope", "sms analytics")
	case "seven":
		q.Set("response_type", "code")
		q.Set("scope", "sms rcs")
	case "buffer", "phoneburner":
		q.Set("response_type", "code")
	case "buffer_v2":
		q.Set("response_type", "code")
		q.Set("scope", "posts:read offline_access")
	case "oauth2":
		q.Set("response_type", "code")
		q.Set("scope", "read write")
	}
	if pk.challenge != "" {
		q.Set("code_challenge", pk.challenge)
		q.Set("code_challenge_method", "S256")
	}
	return q
}

// usesPKCE reports whether the happy path sends PKCE.
func usesPKCE(provider string) bool {
	switch provider {
	case "sms77", "seven", "buffer_v2", "oauth2":
		return true
	}
	return false
}

// authURL is the full authorization URL for q.
func (f *fixture) authURL(q url.Values) string {
	return f.ts.URL + f.path(kindAuthorize) + "?" + q.Encode()
}

// consent runs the browser step and returns the callback URL.
func (f *fixture) consent(q url.Values, approve bool) *url.URL {
	f.t.Helper()
	loc, err := Consent(context.Background(), f.ts.Client(), f.authURL(q), approve)
	if err != nil {
		f.t.Fatalf("Consent: %v", err)
	}
	return loc
}

// code walks authorize + approve and returns the code and the PKCE pair used.
func (f *fixture) code() (string, pkcePair) {
	f.t.Helper()
	var pk pkcePair
	if usesPKCE(f.provider) {
		pk = newPKCE()
	}
	loc := f.consent(f.authQuery(pk), true)
	code := loc.Query().Get("code")
	if code == "" {
		f.t.Fatalf("callback %s has no code", loc)
	}
	return code, pk
}

// exchange sends the provider's correct code exchange.
func (f *fixture) exchange(code string, pk pkcePair) result {
	f.t.Helper()
	body, hdr := exchangeForm(f.provider, code, pk)
	return f.post(f.path(kindToken), body, hdr...)
}

// exchangeForm is the body and header name/value pairs of the provider's
// correct code exchange.
func exchangeForm(provider, code string, pk pkcePair) (string, []string) {
	v := url.Values{}
	switch provider {
	case "burner":
		v = url.Values{"clientId": {testID}, "clientSecret": {testSecret}, "code": {code}, "redirectUri": {testRedirect},
			"client_id": {testID}, "client_secret": {testSecret}, "redirect_uri": {testRedirect}, "grant_type": {"authorization_code"}}
		return v.Encode(), nil
	case "buffer":
		return "client_id=" + testID + "&client_secret=" + testSecret + "&redirect_uri=" + url.QueryEscape(testRedirect) +
			"&code=" + code + "&grant_type=authorization_code", nil
	case "phoneburner":
		v = url.Values{"client_id": {testID}, "client_secret": {testSecret}, "redirect_uri": {testRedirect}, "grant_type": {"authorization_code"}, "code": {code}}
		return v.Encode(), nil
	case "buffer_v2":
		v = url.Values{"client_id": {testID}, "client_secret": {testSecret}, "redirect_uri": {testRedirect}, "grant_type": {"authorization_code"},
			"code": {code}, "code_verifier": {pk.verifier}}
		return v.Encode(), nil
	}
	v = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}}
	if pk.verifier != "" {
		v.Set("code_verifier", pk.verifier)
	}
	return v.Encode(), []string{"Authorization", basic(testID, testSecret)}
}

// refresh sends the provider's correct refresh.
func (f *fixture) refresh(rt string) result {
	f.t.Helper()
	body, hdr := refreshForm(f.provider, rt)
	return f.post(f.path(kindRefresh), body, hdr...)
}

// refreshForm is the body and header name/value pairs of the provider's
// correct refresh.
func refreshForm(provider, rt string) (string, []string) {
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	switch provider {
	case "phoneburner", "buffer_v2":
		v.Set("client_id", testID)
		v.Set("client_secret", testSecret)
		return v.Encode(), nil
	}
	return v.Encode(), []string{"Authorization", basic(testID, testSecret)}
}

// revoke sends the provider's correct revocation of tok.
func (f *fixture) revoke(tok, hint string) result {
	f.t.Helper()
	if f.provider == "buffer" {
		return f.post(f.path(kindRevoke), "", "Authorization", "Bearer "+tok)
	}
	v := url.Values{"token": {tok}}
	if hint != "" {
		v.Set("token_type_hint", hint)
	}
	if f.provider == "buffer_v2" {
		v.Set("client_id", testID)
		v.Set("client_secret", testSecret)
		return f.post(f.path(kindRevoke), v.Encode())
	}
	return f.post(f.path(kindRevoke), v.Encode(), "Authorization", basic(testID, testSecret))
}

// tokens walks the whole grant and returns the token response.
func (f *fixture) tokens() result {
	f.t.Helper()
	code, pk := f.code()
	res := f.exchange(code, pk)
	if res.status != http.StatusOK {
		f.t.Fatalf("exchange: %d %s", res.status, res.body)
	}
	return res
}

// wantStatus fails unless res has status.
func wantStatus(t *testing.T, res result, status int) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status = %d, want %d; body %s", res.status, status, res.body)
	}
}

// wantRejection checks the last rejection reason mentions sub.
func (f *fixture) wantRejection(sub string) {
	f.t.Helper()
	if got := f.srv.Stats().LastRejection; !strings.Contains(got, sub) {
		f.t.Errorf("last_rejection = %q, want it to mention %q", got, sub)
	}
}

// parseLocation reads the Location of a redirect answer.
func parseLocation(r result) (*url.URL, error) {
	return url.Parse(r.header.Get("Location"))
}
