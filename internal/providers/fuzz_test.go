package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// Fuzz targets for what oauthform reads from the outside: the callback's
// query, token-endpoint answers and error bodies. Their seed corpora are in
// testdata/fuzz/<target>; the realistic ones come from the providers'
// documented answers and the emulators' error shapes.

// Secrets sent by the fuzzed requests. Every one is at least 4 bytes, so
// scrub applies to it.
const (
	fuzzClientID     = "the-client"
	fuzzClientSecret = "SECRET-CLIENT-MARKER"
	fuzzCode         = "SECRET-CODE-MARKER"
	fuzzVerifier     = "SECRET-VERIFIER-MARKER-0123456789abcdefghijk"
	fuzzOldRefresh   = "SECRET-OLD-REFRESH-MARKER"
	// fuzzNewRefresh is what the seeds put in refresh_token fields of the
	// answers: a token the provider issued, which the client never sent.
	fuzzNewRefresh = "SECRET-REFRESH-MARKER"
	// fuzzState is the state of the authorization request the fuzzed
	// callbacks answer.
	fuzzState = "expected-state-123"
	// fuzzCodeCanary replaces the callback's code in FuzzParseCallback's
	// second run: it appears nowhere else, so no error may show it.
	fuzzCodeCanary = "c4n4ry-C0DE-9d2f7e"
)

// fuzzClientForms are the forms of the fuzz client's credentials no
// error may show: its secret, and the Basic credentials built from it.
func fuzzClientForms() []string {
	return append(leakForms(fuzzClientSecret), basicLeakForms(fuzzClientID, fuzzClientSecret)...)
}

// maxKeptMessage is the longest Message clip lets through: maxMessage
// bytes and the ellipsis.
var maxKeptMessage = maxMessage + len("…")

var fuzzKinds = map[Kind]bool{
	KindInvalidGrant: true, KindInvalidClient: true, KindAccessDenied: true,
	KindInvalidScope: true, KindInvalidRequest: true, KindInvalidToken: true,
	KindRateLimited: true, KindServerError: true, KindMalformed: true, KindNetwork: true,
}

// fuzzStatus maps a fuzzed uint16 onto an HTTP status in 100..599; values
// already in range are kept, so seeds read naturally.
func fuzzStatus(s uint16) int {
	if s >= 100 && s <= 599 {
		return int(s)
	}
	return 100 + int(s)%500
}

// redactedOut replaces the redaction marker by a byte that no checked
// secret contains, so that a check for a secret cannot match text the
// marker and its neighbours happen to spell.
func redactedOut(s string) string {
	return strings.ReplaceAll(s, secret.Redacted, "\x00")
}

// FuzzParseCallback fuzzes the raw query of the redirect the browser lands
// on, checked against a fixed request by sms77's client (no issuer) and by
// buffer_v2's (issuer https://auth.buffer.com).
//
// Properties:
//   - a code comes back, with no error, only when the query's state is
//     exactly the request's, its code is that code and not empty, it has
//     no error parameter, and (buffer_v2) its iss is absent or the issuer;
//   - a wrong state, and only a wrong state, gives ErrStateMismatch; a
//     foreign iss with the right state gives ErrIssuerMismatch;
//   - every other failure is an *Error of Op "authorize" with a known Kind
//     carrying the provider's error code, or KindMalformed without one;
//   - Message is at most 500 bytes and the ellipsis, and never contains the
//     code (scrubbed), not even the part of it cut by the clip;
//   - the code is never echoed: with the code replaced by a canary found
//     nowhere else in the query, no error shows the canary.
func FuzzParseCallback(f *testing.F) {
	sms, _ := Builtin("sms77")
	buf, _ := Builtin("buffer_v2")
	clients := []*Client{
		{Profile: sms, ClientID: "the-client", RedirectURI: "http://127.0.0.1:8765/callback"},
		{Profile: buf, ClientID: "the-client", RedirectURI: "http://127.0.0.1:8765/callback"},
	}
	req := &AuthRequest{State: fuzzState, RedirectURI: "http://127.0.0.1:8765/callback"}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // what parsed is what a handler would see
		for _, c := range clients {
			code, err := c.ParseCallback(q, req)
			checkCallback(t, c, q, req, code, err)

			// The code must never be echoed. A canary in place of every
			// code value, absent from the rest of the query, must not
			// reach the error.
			if q.Get("code") == "" || queryMentions(q, "c4n4ry") {
				continue
			}
			q2 := url.Values{}
			for k, vs := range q {
				q2[k] = vs
			}
			q2["code"] = []string{fuzzCodeCanary}
			code2, err2 := c.ParseCallback(q2, req)
			checkCallback(t, c, q2, req, code2, err2)
			if err2 != nil && strings.Contains(err2.Error(), fuzzCodeCanary) {
				t.Errorf("%s: the error shows the callback's code: %q", c.Profile.Name, err2)
			}
			if (err == nil) != (err2 == nil) {
				t.Errorf("%s: the code's value changed the outcome: %v, then %v", c.Profile.Name, err, err2)
			}
		}
	})
}

func checkCallback(t *testing.T, c *Client, q url.Values, req *AuthRequest, code secret.Secret, err error) {
	t.Helper()
	name := c.Profile.Name
	stateOK := q.Get("state") == req.State
	iss := q.Get("iss")
	issOK := iss == "" || c.Profile.Issuer == "" ||
		strings.TrimSuffix(iss, "/") == strings.TrimSuffix(c.Profile.Issuer, "/")

	if errors.Is(err, ErrStateMismatch) != !stateOK {
		t.Fatalf("%s: state %q against %q: err = %v; want ErrStateMismatch exactly when they differ", name, q.Get("state"), req.State, err)
	}
	if err == nil {
		switch {
		case !stateOK:
			t.Fatalf("%s: code accepted with state %q", name, q.Get("state"))
		case code.IsZero():
			t.Fatalf("%s: empty code and no error", name)
		case code.Reveal() != q.Get("code"):
			t.Fatalf("%s: code %q, but the query's is %q", name, code.Reveal(), q.Get("code"))
		case q.Get("error") != "":
			t.Fatalf("%s: code accepted beside error=%q", name, q.Get("error"))
		case !issOK:
			t.Fatalf("%s: code accepted with iss %q (issuer %q)", name, iss, c.Profile.Issuer)
		}
		return
	}
	if !code.IsZero() {
		t.Fatalf("%s: a code and an error (%v)", name, err)
	}
	if !stateOK {
		return
	}
	if !issOK {
		if !errors.Is(err, ErrIssuerMismatch) {
			t.Fatalf("%s: iss %q: err = %v, want ErrIssuerMismatch", name, iss, err)
		}
		return
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: err = %v (%T), want an *Error", name, err, err)
	}
	if !fuzzKinds[pe.Kind] || pe.Op != "authorize" || pe.Provider != name {
		t.Errorf("%s: Kind/Op/Provider = %q/%q/%q", name, pe.Kind, pe.Op, pe.Provider)
	}
	if e := q.Get("error"); e != "" {
		// The callback's error, with the code scrubbed out and clipped.
		if want := clip(scrub(e, c.sent(secret.New(q.Get("code")), req.Verifier, secret.New(req.State))), maxCode); pe.Code != want {
			t.Errorf("%s: Code = %q, want the callback's error %q", name, pe.Code, want)
		}
	} else if pe.Kind != KindMalformed {
		t.Errorf("%s: a callback without code or error gave Kind %q", name, pe.Kind)
	}
	if len(pe.Message) > maxKeptMessage {
		t.Errorf("%s: Message is %d bytes, longer than the clip (%d)", name, len(pe.Message), maxKeptMessage)
	}
	var forms []string
	if cv := q.Get("code"); !strings.Contains(cv, "\x00") {
		forms = leakForms(cv)
	}
	checkProviderText(t, name+" Code", pe.Code, forms)
	checkProviderText(t, name+" Message", pe.Message, forms)
	checkProviderText(t, name+" Error()", err.Error(), forms)
	cv := q.Get("code")
	if len(cv) < 4 || strings.Contains(cv, "\x00") {
		return
	}
	if strings.Contains(redactedOut(pe.Message), cv) {
		t.Errorf("%s: Message shows the code %q: %q", name, cv, pe.Message)
	}
	// The message is clipped at 500 bytes. A code the clip cuts in two
	// must not leave its first part behind.
	msg := firstNonEmpty(q.Get("error_description"), q.Get("error_message"))
	if len(msg) <= 500 {
		return
	}
	for i := max(0, 500-len(cv)+1); i <= 500-4; i++ {
		if strings.HasPrefix(msg[i:], cv) && strings.HasSuffix(pe.Message, msg[i:500]+"…") {
			t.Errorf("%s: Message keeps %q, the first %d bytes of the code, where the clip cut it", name, msg[i:500], 500-i)
		}
	}
}

// queryMentions reports whether any key or value of q contains s,
// ignoring case.
func queryMentions(q url.Values, s string) bool {
	s = strings.ToLower(s)
	for k, vs := range q {
		if strings.Contains(strings.ToLower(k), s) {
			return true
		}
		for _, v := range vs {
			if strings.Contains(strings.ToLower(v), s) {
				return true
			}
		}
	}
	return false
}

// fuzzAnswer is what the fuzz server answers one case with.
type fuzzAnswer struct {
	status   int
	ctype    string
	body     []byte
	requests atomic.Int32
}

// fuzzCaseHeader names the case a request belongs to, so that one server
// serves every case, in any order.
const fuzzCaseHeader = "X-Fuzz-Case"

type fuzzCaseTransport struct {
	id   string
	base http.RoundTripper
}

func (t fuzzCaseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(fuzzCaseHeader, t.id)
	return t.base.RoundTrip(r)
}

// FuzzTokenResponse runs Exchange and Refresh against a server that answers
// the fuzzed status (mapped into 100..599), Content-Type and body, for
// sms77 (RFC 6749 errors, rotating refresh tokens) or phoneburner (its
// own error shapes, absolute `expires`, a separate refresh URL).
//
// Properties, for both calls:
//   - the result is either a Token with an access token, or an error that
//     is an *Error of the call's Op and provider, with a known Kind, that
//     names the provider; never both, never neither;
//   - a Token's Expiry, when set, is one the state can store (years 1970
//     to 9999; time.Time's JSON encoding fails outside 0-9999), no
//     earlier than the answer (already expired) and no later than ten
//     years after it; its TokenType is Bearer; a refreshed Token keeps a
//     refresh token, and Rotated says whether it changed;
//   - an HTTP 429 is KindRateLimited; an answer's Message is at most 500
//     bytes and the ellipsis;
//   - no error shows a secret the call sent (client secret, code, PKCE
//     verifier, refresh token), nor a refresh token the answer carried
//     only in its refresh_token field;
//   - the code is sent once, and so is a rotating (sms77) refresh token;
//     a non-rotating refresh is tried at most 1+MaxRetries times.
func FuzzTokenResponse(f *testing.F) {
	var cases sync.Map // case id → *fuzzAnswer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		v, ok := cases.Load(r.Header.Get(fuzzCaseHeader))
		if !ok {
			http.Error(w, "unknown fuzz case", http.StatusTeapot)
			return
		}
		a := v.(*fuzzAnswer)
		a.requests.Add(1)
		if a.ctype == "" {
			w.Header()["Content-Type"] = nil // no sniffing either
		} else {
			w.Header().Set("Content-Type", a.ctype)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	var seq atomic.Uint64

	f.Fuzz(func(t *testing.T, status uint16, contentType string, body []byte, phoneburner bool) {
		name := "sms77"
		if phoneburner {
			name = "phoneburner"
		}
		p, _ := Builtin(name)
		p.TokenURL = srv.URL + "/token"
		if p.RefreshURL != "" {
			p.RefreshURL = srv.URL + "/refresh"
		}
		now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		newClient := func(id string) *Client {
			return &Client{
				Profile: p, ClientID: fuzzClientID, ClientSecret: secret.New(fuzzClientSecret),
				RedirectURI: "http://127.0.0.1:8765/callback",
				HTTP:        &http.Client{Transport: fuzzCaseTransport{id: id, base: srv.Client().Transport}},
				Timeout:     2 * time.Second,
				MaxRetries:  1,
				Sleep:       func(context.Context, time.Duration) error { return nil },
				Now:         func() time.Time { return now },
			}
		}
		answer := func() (string, *fuzzAnswer) {
			id := strconv.FormatUint(seq.Add(1), 10)
			a := &fuzzAnswer{status: fuzzStatus(status), ctype: contentType, body: body}
			cases.Store(id, a)
			t.Cleanup(func() { cases.Delete(id) })
			return id, a
		}
		ctx := context.Background()

		id, a := answer()
		req := &AuthRequest{State: fuzzState, Verifier: secret.New(fuzzVerifier), RedirectURI: "http://127.0.0.1:8765/callback"}
		tok, err := newClient(id).Exchange(ctx, req, secret.New(fuzzCode))
		checkTokenResult(t, "exchange", name, now, a, tok, err, secret.Secret{}, fuzzClientSecret, fuzzCode, fuzzVerifier)
		if n := a.requests.Load(); n > 1 || (n == 0 && !isNetwork(err)) {
			t.Errorf("exchange sent the code %d times, want exactly once", n)
		}

		id, a = answer()
		old := secret.New(fuzzOldRefresh)
		tok, err = newClient(id).Refresh(ctx, old)
		checkTokenResult(t, "refresh", name, now, a, tok, err, old, fuzzClientSecret, fuzzOldRefresh)
		n := a.requests.Load()
		switch {
		case n == 0 && !isNetwork(err):
			t.Errorf("refresh answered without a request: %v", err)
		case p.RotatesRefresh && n > 1:
			t.Errorf("a rotating refresh token was sent %d times, want at most once", n)
		case n > 2:
			t.Errorf("refresh sent %d requests, want at most 2 (MaxRetries 1)", n)
		}
	})
}

func checkTokenResult(t *testing.T, op, provider string, now time.Time, a *fuzzAnswer, tok *Token, err error, oldRefresh secret.Secret, sent ...string) {
	t.Helper()
	if err == nil {
		if tok == nil || tok.AccessToken.IsZero() {
			t.Fatalf("%s: no error but no access token: %+v", op, tok)
		}
		if !tok.Expiry.IsZero() && (tok.Expiry.Year() < 1970 || tok.Expiry.Year() > 9999) {
			t.Errorf("%s: Expiry %v cannot be stored in the state (answer %q)", op, tok.Expiry, a.body)
		}
		if !tok.Expiry.IsZero() && (tok.Expiry.Before(now) || tok.Expiry.After(now.Add(maxLifetime))) {
			t.Errorf("%s: Expiry %v is not between the answer's time and ten years later (answer %q)", op, tok.Expiry, a.body)
		}
		if !strings.EqualFold(tok.TokenType, DefaultTokenType) {
			t.Errorf("%s: a %q token accepted (answer %q)", op, tok.TokenType, a.body)
		}
		if !oldRefresh.IsZero() {
			if tok.RefreshToken.IsZero() {
				t.Errorf("%s: the refresh token was lost", op)
			}
			if tok.Rotated != !tok.RefreshToken.Equal(oldRefresh) {
				t.Errorf("%s: Rotated = %v with refresh token changed = %v", op, tok.Rotated, !tok.RefreshToken.Equal(oldRefresh))
			}
		}
		return
	}
	if tok != nil {
		t.Fatalf("%s: both a token and an error (%v)", op, err)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: err = %v (%T), want an *Error", op, err, err)
	}
	if !fuzzKinds[pe.Kind] || pe.Op != op || pe.Provider != provider {
		t.Errorf("%s: Kind/Op/Provider = %q/%q/%q", op, pe.Kind, pe.Op, pe.Provider)
	}
	msg := err.Error()
	if !strings.Contains(msg, provider) {
		t.Errorf("%s: error %q does not name the provider", op, msg)
	}
	if pe.Status == 429 && pe.Kind != KindRateLimited {
		t.Errorf("%s: HTTP 429 gave Kind %q", op, pe.Kind)
	}
	if pe.Status != 0 && len(pe.Message) > maxKeptMessage {
		t.Errorf("%s: Message is %d bytes, longer than the clip (%d)", op, len(pe.Message), maxKeptMessage)
	}
	for _, s := range sent {
		if strings.Contains(redactedOut(msg), s) {
			t.Errorf("%s: error shows the secret %q it sent: %q", op, s, msg)
		}
	}
	forms := fuzzClientForms()
	for _, s := range sent {
		forms = append(forms, leakForms(s)...)
	}
	checkProviderText(t, op+" Code", pe.Code, forms)
	checkProviderText(t, op+" Message", pe.Message, forms)
	checkProviderText(t, op+" Error()", msg, forms)
	if onlyInRefreshToken(a.body, fuzzNewRefresh) && strings.Contains(msg, fuzzNewRefresh) {
		t.Errorf("%s: error shows the refresh token of the answer: %q", op, msg)
	}
}

// isNetwork reports whether err is a failure without an answer (a
// timeout on a loaded machine, say), after which the server may not have
// counted the request.
func isNetwork(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Kind == KindNetwork
}

// onlyInRefreshToken reports whether body is one JSON object that
// contains marker, and only in its top-level refresh_token field.
func onlyInRefreshToken(body []byte, marker string) bool {
	if !bytes.Contains(body, []byte(marker)) {
		return false
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return false
	}
	delete(m, "refresh_token")
	var rest bytes.Buffer
	enc := json.NewEncoder(&rest)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return false
	}
	return !bytes.Contains(rest.Bytes(), []byte(marker))
}

// FuzzErrorBody fuzzes decodeError, which classifies every non-2xx token
// answer: RFC 6749 JSON, PhoneBurner's four shapes, form bodies, HTML
// pages, truncated JSON and anything else.
//
// Properties:
//   - Kind is a known kind and never KindNetwork (there was an answer);
//     Op, Provider, Status and RetryAfter are the ones given;
//   - HTTP 429, and 503 with a Retry-After, are KindRateLimited;
//   - Message is at most 500 bytes and the ellipsis;
//   - neither Code, Message nor Error() contains any form of a secret
//     given to scrub (raw, percent- or form-encoded, JSON-escaped, the
//     Basic credentials), nor an escape sequence, a control or bidi
//     character, nor invalid UTF-8;
//   - Error() names the provider and the HTTP status.
func FuzzErrorBody(f *testing.F) {
	profiles := map[bool]*Profile{}
	profiles[false], _ = Builtin("sms77")
	profiles[true], _ = Builtin("phoneburner")
	f.Fuzz(func(t *testing.T, status uint16, contentType string, body []byte, phoneburner bool, sec string) {
		p := profiles[phoneburner]
		st := fuzzStatus(status)
		retryAfter := time.Duration(status/1000%4) * time.Second
		c := &Client{Profile: p, ClientID: fuzzClientID, ClientSecret: secret.New(fuzzClientSecret)}
		secrets := c.sent(secret.New(sec))
		e := p.decodeError("refresh", st, contentType, body, retryAfter, secrets)
		if e == nil {
			t.Fatal("decodeError returned nil")
		}
		if !fuzzKinds[e.Kind] || e.Kind == KindNetwork {
			t.Errorf("Kind = %q", e.Kind)
		}
		if e.Op != "refresh" || e.Provider != p.Name || e.Status != st || e.RetryAfter != retryAfter {
			t.Errorf("Op/Provider/Status/RetryAfter = %q/%q/%d/%v, want refresh/%s/%d/%v", e.Op, e.Provider, e.Status, e.RetryAfter, p.Name, st, retryAfter)
		}
		if (st == 429 || (st == 503 && retryAfter > 0)) && e.Kind != KindRateLimited {
			t.Errorf("HTTP %d (Retry-After %v) gave Kind %q", st, retryAfter, e.Kind)
		}
		if len(e.Message) > maxKeptMessage {
			t.Errorf("Message is %d bytes, longer than the clip (%d): %q", len(e.Message), maxKeptMessage, e.Message)
		}
		for _, s := range []string{fuzzClientSecret, sec} {
			if len(s) < 4 || strings.Contains(s, "\x00") {
				continue
			}
			if strings.Contains(redactedOut(e.Code), s) || strings.Contains(redactedOut(e.Message), s) {
				t.Errorf("the secret %q survived: Code %q, Message %q", s, e.Code, e.Message)
			}
		}
		forms := append(fuzzClientForms(), leakForms(sec)...)
		checkProviderText(t, "Code", e.Code, forms)
		checkProviderText(t, "Message", e.Message, forms)
		checkProviderText(t, "Error()", e.Error(), forms)
		msg := e.Error()
		if !strings.Contains(msg, p.Name) || !strings.Contains(msg, "(HTTP "+strconv.Itoa(st)+")") {
			t.Errorf("Error() = %q does not name the provider and the status", msg)
		}
	})
}
