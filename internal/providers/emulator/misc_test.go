package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProviders(t *testing.T) {
	want := []string{"burner", "sms77", "seven", "buffer", "buffer_v2", "phoneburner", "oauth2"}
	if got := Providers(); !slices.Equal(got, want) {
		t.Errorf("Providers() = %v, want %v", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	good := []Client{{ID: "a", Secret: "s", RedirectURIs: []string{testRedirect}}}
	tests := map[string]struct {
		opts Options
		want error
	}{
		"unknown provider":    {opts: Options{Provider: "github", Clients: good}, want: ErrUnknownProvider},
		"no clients":          {opts: Options{Provider: "sms77"}, want: ErrNoClients},
		"negative ttl":        {opts: Options{Provider: "sms77", Clients: good, AccessTTL: -time.Second}, want: ErrBadOptions},
		"empty client id":     {opts: Options{Provider: "sms77", Clients: []Client{{Secret: "s", RedirectURIs: []string{testRedirect}}}}, want: ErrBadClient},
		"duplicate client":    {opts: Options{Provider: "sms77", Clients: append(slices.Clone(good), good...)}, want: ErrBadClient},
		"no redirect":         {opts: Options{Provider: "sms77", Clients: []Client{{ID: "a", Secret: "s"}}}, want: ErrBadClient},
		"relative redirect":   {opts: Options{Provider: "sms77", Clients: []Client{{ID: "a", Secret: "s", RedirectURIs: []string{"/cb"}}}}, want: ErrBadClient},
		"fragment redirect":   {opts: Options{Provider: "sms77", Clients: []Client{{ID: "a", Secret: "s", RedirectURIs: []string{testRedirect + "#x"}}}}, want: ErrBadClient},
		"unparsable redirect": {opts: Options{Provider: "sms77", Clients: []Client{{ID: "a", Secret: "s", RedirectURIs: []string{"http://[::1"}}}}, want: ErrBadClient},
		"public burner":       {opts: Options{Provider: "burner", Clients: []Client{{ID: "a", RedirectURIs: []string{testRedirect}}}}, want: ErrBadClient},
		"public buffer":       {opts: Options{Provider: "buffer", Clients: []Client{{ID: "a", RedirectURIs: []string{testRedirect}}}}, want: ErrBadClient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("New err = %v, want %v", err, tc.want)
			}
		})
	}
	s, err := New(Options{Provider: "phoneburner", Clients: []Client{{ID: "a", RedirectURIs: []string{testRedirect}}}})
	if err != nil || s.Provider() != "phoneburner" {
		t.Errorf("phoneburner accepts a client without secret (it is not verified): %v", err)
	}
}

func TestPaths(t *testing.T) {
	want := map[string]map[string]string{
		"burner": {"authorize": "/oauth/authorize", "token": "/oauth/access", "check": "/v1/burners"},
		"sms77":  {"authorize": "/authorize", "token": "/token", "refresh": "/token", "revoke": "/revoke", "check": "/me"},
		"seven":  {"authorize": "/authorize", "token": "/token", "refresh": "/token", "revoke": "/revoke", "check": "/me"},
		"buffer": {"authorize": "/oauth2/authorize", "token": "/1/oauth2/token.json", "revoke": "/1/user/deauthorize.json", "check": "/1/user.json"},
		"buffer_v2": {"authorize": "/auth", "token": "/token", "refresh": "/token", "revoke": "/token/revocation", "check": "/me",
			"metadata": "/.well-known/oauth-authorization-server"},
		"phoneburner": {"authorize": "/oauth/authorize", "token": "/oauth/accesstoken", "refresh": "/oauth/refreshtoken", "check": "/rest/1/members/"},
		"oauth2": {"authorize": "/authorize", "token": "/token", "refresh": "/token", "revoke": "/revoke", "check": "/userinfo",
			"metadata": "/.well-known/oauth-authorization-server", "device_authorization": "/device_authorization", "verification": "/device"},
	}
	for _, p := range Providers() {
		f := newFixture(t, p)
		if got := f.srv.Paths(); !maps.Equal(got, want[p]) {
			t.Errorf("%s Paths() = %v, want %v", p, got, want[p])
		}
		for kind, path := range want[p] {
			if _, ok := f.srv.routes[path]; !ok {
				t.Errorf("%s does not serve %s (%s)", p, path, kind)
			}
		}
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	f := newFixture(t, "sms77")
	wantStatus(t, f.get("/nope", ""), http.StatusNotFound)
	f.wantRejection(`no such path "/nope"`)
	res := f.get("/token", "")
	wantStatus(t, res, http.StatusMethodNotAllowed)
	if res.header.Get("Allow") != "POST" || res.str(t, "error") != "invalid_request" {
		t.Errorf("405 = %v %s", res.header, res.body)
	}
	res = f.post("/me", "")
	wantStatus(t, res, http.StatusMethodNotAllowed)
}

func TestBodyTooLarge(t *testing.T) {
	f := newFixture(t, "oauth2")
	res := f.post("/token", strings.Repeat("a", maxBody+10), "Authorization", basic(testID, testSecret))
	wantStatus(t, res, http.StatusBadRequest)
	f.wantRejection("unreadable request body")
}

func TestStatsEndpoint(t *testing.T) {
	f := newFixture(t, "buffer")
	f.tokens()
	res := f.get("/_emulator/stats", "")
	wantStatus(t, res, http.StatusOK)
	m := res.json(t)
	for _, k := range []string{"authorizations", "approvals", "denials", "exchanges", "refreshes", "revokes", "api_calls", "rejections", "last_rejection", "faults", "query_tokens"} {
		if _, ok := m[k]; !ok {
			t.Errorf("stats JSON lacks %q: %s", k, res.body)
		}
	}
	if m["exchanges"] != float64(1) || m["live_grants"] != float64(1) {
		t.Errorf("stats = %s", res.body)
	}
	wantStatus(t, f.post("/_emulator/stats", ""), http.StatusMethodNotAllowed)
}

func TestMetadata(t *testing.T) {
	tests := map[string]struct {
		provider string
		issuer   string
		auth     []any
		scopes   bool
	}{
		"buffer_v2":          {provider: "buffer_v2", auth: []any{"none", "client_secret_post"}, scopes: true},
		"oauth2":             {provider: "oauth2", auth: []any{"client_secret_basic", "client_secret_post", "none"}},
		"oauth2 with issuer": {provider: "oauth2", issuer: "https://auth.example", auth: []any{"client_secret_basic", "client_secret_post", "none"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider, func(o *Options) { o.Issuer = tc.issuer })
			res := f.get("/.well-known/oauth-authorization-server", "")
			wantStatus(t, res, http.StatusOK)
			m := res.json(t)
			wantIss := tc.issuer
			if wantIss == "" {
				wantIss = f.ts.URL
			}
			if m["issuer"] != wantIss || m["token_endpoint"] != f.ts.URL+"/token" || m["authorization_endpoint"] != f.ts.URL+f.path(kindAuthorize) {
				t.Errorf("metadata = %v", m)
			}
			if !slices.Equal(m["token_endpoint_auth_methods_supported"].([]any), tc.auth) {
				t.Errorf("auth methods = %v", m["token_endpoint_auth_methods_supported"])
			}
			if !slices.Equal(m["code_challenge_methods_supported"].([]any), []any{"S256"}) || m["authorization_response_iss_parameter_supported"] != true {
				t.Errorf("metadata = %v", m)
			}
			if _, ok := m["scopes_supported"]; ok != tc.scopes {
				t.Errorf("scopes_supported present = %v", ok)
			}
			if tc.issuer != "" {
				loc := f.consent(f.authQuery(newPKCE()), true)
				if loc.Query().Get("iss") != tc.issuer {
					t.Errorf("iss = %q", loc.Query().Get("iss"))
				}
			}
		})
	}
	f := newFixture(t, "oauth2", func(o *Options) { o.Scopes = []string{"a", "b"} })
	if m := f.get("/.well-known/oauth-authorization-server", "").json(t); m["scopes_supported"] == nil {
		t.Error("oauth2 with Options.Scopes should advertise them")
	}
}

// TestCheckTokenRules covers how API calls must carry their token.
func TestCheckTokenRules(t *testing.T) {
	tests := map[string]struct {
		provider string
		req      func(f *fixture, at string) *http.Request
		status   int
		reason   string
		body     func(t *testing.T, r result)
	}{
		"sms77 token in query": {provider: "sms77", req: func(f *fixture, at string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/me?access_token="+at, nil)
			return r
		}, status: 401, reason: "access token in the query: sms77 accepts only the Authorization header"},
		"header and query": {provider: "buffer", req: func(f *fixture, at string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/1/user.json?access_token="+at, nil)
			r.Header.Set("Authorization", "Bearer "+at)
			return r
		}, status: 400, reason: "more than one method"},
		"no token": {provider: "oauth2", req: func(f *fixture, _ string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/userinfo", nil)
			return r
		}, status: 401, reason: "without an access token", body: func(t *testing.T, r result) {
			if h := r.header.Get("WWW-Authenticate"); h != `Bearer realm="oauth2"` {
				t.Errorf("WWW-Authenticate = %q", h)
			}
		}},
		"basic scheme": {provider: "burner", req: func(f *fixture, _ string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/v1/burners", nil)
			r.Header.Set("Authorization", basic(testID, testSecret))
			return r
		}, status: 401, reason: "without an access token"},
		"invalid token rfc": {provider: "buffer_v2", req: func(f *fixture, _ string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/me", nil)
			r.Header.Set("Authorization", "Bearer nope")
			return r
		}, status: 401, reason: "invalid, expired or revoked", body: func(t *testing.T, r result) {
			if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q", h)
			}
		}},
		"phoneburner shape": {provider: "phoneburner", req: func(f *fixture, _ string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/rest/1/members/", nil)
			r.Header.Set("Authorization", "Bearer nope")
			return r
		}, status: 401, reason: "invalid", body: func(t *testing.T, r result) {
			m := r.json(t)
			codes, _ := m["debug_codes"].([]any)
			if m["http_status"] != float64(401) || m["status"] != "error" || len(codes) != 1 {
				t.Errorf("body %s", r.body)
			}
		}},
		"buffer v1 missing token": {provider: "buffer", req: func(f *fixture, _ string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/1/user.json", nil)
			return r
		}, status: 401, reason: "without an access token", body: func(t *testing.T, r result) {
			m := r.json(t)
			if m["success"] != false || m["code"] != float64(1001) {
				t.Errorf("body %s", r.body)
			}
		}},
		"buffer v1 query token ok": {provider: "buffer", req: func(f *fixture, at string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/1/user.json?access_token="+at, nil)
			return r
		}, status: 200, body: func(t *testing.T, r result) {}},
		"phoneburner no trailing slash": {provider: "phoneburner", req: func(f *fixture, at string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/rest/1/members", nil)
			r.Header.Set("Authorization", "bearer "+at)
			return r
		}, status: 200},
		"userinfo by POST": {provider: "oauth2", req: func(f *fixture, at string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/userinfo", nil)
			r.Header.Set("Authorization", "Bearer "+at)
			return r
		}, status: 200},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider)
			ts, err := f.srv.IssueTokens(testID, nil)
			if tc.provider == "burner" {
				ts, err = f.srv.IssueTokens(testID, []string{"burners:read"})
			}
			if tc.provider == "buffer_v2" {
				ts, err = f.srv.IssueTokens(testID, []string{"account:read"})
			}
			if err != nil {
				t.Fatal(err)
			}
			res := f.do(tc.req(f, ts.AccessToken))
			wantStatus(t, res, tc.status)
			if tc.reason != "" {
				f.wantRejection(tc.reason)
			}
			if tc.body != nil {
				tc.body(t, res)
			}
		})
	}
}

// TestLogsHoldNoSecrets walks full flows and checks the log never shows a
// code, a token or the client secret.
func TestLogsHoldNoSecrets(t *testing.T) {
	for _, p := range Providers() {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t, p)
			code, pk := f.code()
			res := f.exchange(code, pk)
			secrets := []string{code, testSecret, res.str(t, "access_token")}
			if rt := res.str(t, "refresh_token"); rt != "" {
				secrets = append(secrets, rt)
				f.refresh(rt)
			}
			f.exchange(code, pk) // a refusal is logged too
			logs := f.logs.all()
			if logs == "" {
				t.Fatal("nothing logged")
			}
			for _, s := range secrets {
				if strings.Contains(logs, s) {
					t.Errorf("log reveals a secret %q:\n%s", s, logs)
				}
			}
		})
	}
}

func TestServeWithoutLoggerOrClock(t *testing.T) {
	s, err := New(Options{Provider: "oauth2", Clients: []Client{{ID: "a", Secret: "b", RedirectURIs: []string{testRedirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := s.IssueTokens("a", []string{"x"})
	if err != nil || ts.ExpiresAt.Before(time.Now()) {
		t.Fatalf("IssueTokens = %+v, %v", ts, err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+ts.AccessToken)
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("status %d", rec.Code)
	}
}

func TestDropWithoutHijacker(t *testing.T) {
	s, err := New(Options{Provider: "oauth2", Clients: []Client{{ID: "a", Secret: "b", RedirectURIs: []string{testRedirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetFaults(Faults{Drop: true, Endpoints: []string{"check"}})
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Errorf("recover() = %v, want http.ErrAbortHandler", r)
		}
	}()
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/userinfo", nil))
}

func TestConsentHelperErrors(t *testing.T) {
	pages := map[string]http.HandlerFunc{
		"/no-form": func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("<html><body><p>hi</p></body></html>"))
		},
		"/get-form": func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`<form method="get"><button name="decision" value="approve">ok</button></form>`))
		},
		"/no-deny": func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`<form method="post"><button name="decision" value="approve">ok</button></form>`))
		},
		"/redirect-no-location": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusFound) },
		"/teapot":               func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "short and stout", http.StatusTeapot) },
		"/post-200": func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				w.Write([]byte("<p>thanks</p>"))
				return
			}
			w.Write([]byte(`<form method="POST" action="/post-200"><input type="submit" name="decision" value="deny"></form>`))
		},
		"/bad-xml": func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<form method='post'><<<&&")) },
	}
	mux := http.NewServeMux()
	for p, h := range pages {
		mux.HandleFunc(p, h)
	}
	ts := httptest.NewServer(mux)
	defer ts.Close()
	tests := map[string]struct {
		path    string
		approve bool
		want    error
		sub     string
	}{
		"no form":           {path: "/no-form", want: ErrNoConsentForm},
		"GET form ignored":  {path: "/get-form", want: ErrNoConsentForm},
		"no deny button":    {path: "/no-deny", want: ErrNoDecision},
		"302 w/o Location":  {path: "/redirect-no-location", approve: true, want: ErrNoRedirect},
		"error status":      {path: "/teapot", approve: true, sub: "short and stout"},
		"POST not redirect": {path: "/post-200", want: ErrNoRedirect, sub: "thanks"},
		"unparsable page":   {path: "/bad-xml", approve: true, sub: "parsing consent page"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Consent(context.Background(), nil, ts.URL+tc.path, tc.approve)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.sub) {
				t.Errorf("err = %v, want it to mention %q", err, tc.sub)
			}
		})
	}
	if _, err := Consent(context.Background(), nil, "http://[::1", true); err == nil {
		t.Error("bad URL accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Consent(ctx, nil, ts.URL+"/no-form", true); err == nil {
		t.Error("cancelled context accepted")
	}
}

func TestParseConsentFormControls(t *testing.T) {
	page := `<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head><body>
<form method="get" action="/elsewhere"><input type="hidden" name="ignored" value="1"></form>
<FORM METHOD="post" ACTION="/go">
<input type="hidden" name="a" value="1 &amp; 2">
<input name="text" value="t">
<input type="checkbox" name="cb1" checked>
<input type="checkbox" name="cb2" value="x">
<input type="radio" name="r" value="r2" checked>
<input type="file" name="f">
<input type="reset" name="reset" value="r">
<input value="no name">
<select name="s1"><option value="o1">One</option><option value="o2" selected>Two</option></select>
<select name="s2"><option>Text value</option></select>
<select name="s3"></select>
<button type="button" name="decision" value="approve">not a submit</button>
<button name="decision" value="Approve">Approve</button>
<input type="submit" name="decision" value="deny">
</FORM></body></html>`
	f, err := parseConsentForm([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if f.action != "/go" {
		t.Errorf("action = %q", f.action)
	}
	v, err := f.submit(true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1 & 2", "text": "t", "cb1": "on", "r": "r2", "s1": "o2", "s2": "Text value", "decision": "Approve"}
	got := map[string]string{}
	for k := range v {
		got[k] = v.Get(k)
	}
	if !maps.Equal(got, want) {
		t.Errorf("submitted %v, want %v", got, want)
	}
	v, _ = f.submit(false)
	if v.Get("decision") != "deny" {
		t.Errorf("deny submitted %v", v)
	}
	if txt := pageText([]byte("   ")); txt != "" {
		t.Errorf("pageText of blank = %q", txt)
	}
	if txt := pageText([]byte("<p>" + strings.Repeat("x", 300) + "</p>")); len(txt) != 200 {
		t.Errorf("pageText not capped: %d", len(txt))
	}
}

func TestAppendQueryBadBase(t *testing.T) {
	if got := appendQuery("http://[::1", [][2]string{{"a", "b"}}, false); got != "http://[::1" {
		t.Errorf("appendQuery = %q", got)
	}
}

func TestIssuerOverTLS(t *testing.T) {
	s, err := New(Options{Provider: "oauth2", Clients: []Client{{ID: "a", Secret: "b", RedirectURIs: []string{testRedirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m["issuer"] != ts.URL || !strings.HasPrefix(m["token_endpoint"].(string), "https://") {
		t.Errorf("metadata over TLS = %v", m)
	}
}
