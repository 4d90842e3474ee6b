package emulator

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAuthorizeValidation checks each authorization-request rule: errors
// that cannot be trusted to the client are HTML pages (no redirect); the
// others go back to the redirect URI with error=….
func TestAuthorizeValidation(t *testing.T) {
	tests := map[string]struct {
		provider string
		mods     func(o *Options)
		edit     func(q url.Values)
		rawQuery string // replaces the query when set
		page     bool   // want an HTML 400 page
		redirect string // want a redirect with this error code
		reason   string
	}{
		"unknown client_id": {provider: "sms77", edit: func(q url.Values) { q.Set("client_id", "nobody") }, page: true, reason: "unknown client_id"},
		"missing client_id": {provider: "burner", edit: func(q url.Values) { q.Del("client_id") }, page: true, reason: "without client_id"},
		"repeated client_id": {provider: "oauth2", rawQuery: "state=a&state=b&client_id=app&client_id=app&redirect_uri=" + url.QueryEscape(testRedirect) + "&response_type=code",
			page: true, reason: "repeats client_id"},
		"redirect trailing slash": {provider: "buffer", edit: func(q url.Values) { q.Set("redirect_uri", testRedirect+"/") }, page: true, reason: "exact string match"},
		"redirect other port":     {provider: "sms77", edit: func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9999/callback") }, page: true, reason: "is not registered"},
		"buffer missing redirect": {provider: "buffer", edit: func(q url.Values) { q.Del("redirect_uri") }, page: true, reason: "without redirect_uri"},
		"oauth2 missing redirect, two registered": {provider: "oauth2",
			mods: func(o *Options) {
				o.Clients[0].RedirectURIs = append(o.Clients[0].RedirectURIs, "http://127.0.0.1:1/cb")
			},
			edit: func(q url.Values) { q.Del("redirect_uri") }, page: true, reason: "without redirect_uri"},
		"phoneburner redirect not urlencoded": {provider: "phoneburner",
			rawQuery: "client_id=app&redirect_uri=" + testRedirect + "&response_type=code", page: true, reason: "not URL-encoded"},
		"malformed query":            {provider: "oauth2", rawQuery: "client_id=%zz", page: true, reason: "malformed authorize query"},
		"missing response_type":      {provider: "sms77", edit: func(q url.Values) { q.Del("response_type") }, redirect: "invalid_request", reason: "without response_type"},
		"response_type token":        {provider: "phoneburner", edit: func(q url.Values) { q.Set("response_type", "token") }, redirect: "unsupported_response_type", reason: "is not code"},
		"burner response_type token": {provider: "burner", edit: func(q url.Values) { q.Set("response_type", "token") }, redirect: "unsupported_response_type", reason: "is not code"},
		"repeated state": {provider: "oauth2", rawQuery: "client_id=app&redirect_uri=" + url.QueryEscape(testRedirect) + "&response_type=code&state=a&state=b",
			redirect: "invalid_request", reason: "repeats state"},
		"sms77 unknown scope":       {provider: "sms77", edit: func(q url.Values) { q.Set("scope", "sms fax") }, redirect: "invalid_scope", reason: `scope "fax"`},
		"sms77 rcs is seven only":   {provider: "sms77", edit: func(q url.Values) { q.Set("scope", "rcs") }, redirect: "invalid_scope", reason: `scope "rcs"`},
		"buffer has no scopes":      {provider: "buffer", edit: func(q url.Values) { q.Set("scope", "read") }, redirect: "invalid_scope", reason: "documents no scopes"},
		"phoneburner has no scopes": {provider: "phoneburner", edit: func(q url.Values) { q.Set("scope", "contacts") }, redirect: "invalid_scope", reason: "documents no scopes"},
		"burner scope required":     {provider: "burner", edit: func(q url.Values) { q.Del("scope") }, redirect: "invalid_scope", reason: "requires one"},
		"buffer_v2 unknown scope":   {provider: "buffer_v2", edit: func(q url.Values) { q.Set("scope", "posts:delete") }, redirect: "invalid_scope", reason: "posts:delete"},
		"oauth2 restricted scopes": {provider: "oauth2", mods: func(o *Options) { o.Scopes = []string{"read"} },
			edit: func(q url.Values) { q.Set("scope", "read write") }, redirect: "invalid_scope", reason: `scope "write"`},
		"oauth2 malformed scope":   {provider: "oauth2", edit: func(q url.Values) { q.Set("scope", `read "quoted"`) }, redirect: "invalid_scope", reason: "RFC 6749 §3.3"},
		"buffer_v2 without PKCE":   {provider: "buffer_v2", edit: func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, redirect: "invalid_request", reason: "requires PKCE"},
		"plain PKCE":               {provider: "sms77", edit: func(q url.Values) { q.Set("code_challenge_method", "plain") }, redirect: "invalid_request", reason: "plain is not"},
		"PKCE method missing":      {provider: "oauth2", edit: func(q url.Values) { q.Del("code_challenge_method") }, redirect: "invalid_request", reason: "only S256"},
		"PKCE challenge missing":   {provider: "oauth2", edit: func(q url.Values) { q.Del("code_challenge") }, redirect: "invalid_request", reason: "without code_challenge"},
		"PKCE challenge malformed": {provider: "burner", edit: func(q url.Values) { q.Set("code_challenge", "abc"); q.Set("code_challenge_method", "S256") }, redirect: "invalid_request", reason: "malformed code_challenge"},
		"public client without PKCE": {provider: "oauth2", edit: func(q url.Values) {
			q.Set("client_id", pubID)
			q.Del("code_challenge")
			q.Del("code_challenge_method")
		}, redirect: "invalid_request", reason: "public client without code_challenge"},
		"burner_id without messages:connect": {provider: "burner", edit: func(q url.Values) { q.Set("scope", "burners:read"); q.Set("burner_id", "b1") },
			redirect: "invalid_request", reason: "without the messages:connect scope"},
		"burner_id empty":       {provider: "burner", edit: func(q url.Values) { q.Set("burner_id", "") }, redirect: "invalid_request", reason: "empty burner_id"},
		"owner_type not vendor": {provider: "phoneburner", edit: func(q url.Values) { q.Set("owner_type", "user") }, redirect: "invalid_request", reason: "accepts only vendor"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			mods := []func(*Options){}
			if tc.mods != nil {
				mods = append(mods, tc.mods)
			}
			f := newFixture(t, tc.provider, mods...)
			var pk pkcePair
			if usesPKCE(tc.provider) {
				pk = newPKCE()
			}
			q := f.authQuery(pk)
			if tc.edit != nil {
				tc.edit(q)
			}
			raw := q.Encode()
			if tc.rawQuery != "" {
				raw = tc.rawQuery
			}
			res := f.get(f.path(kindAuthorize)+"?"+raw, "")
			switch {
			case tc.page:
				wantStatus(t, res, http.StatusBadRequest)
				if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || res.header.Get("Location") != "" {
					t.Errorf("want an HTML page without redirect, got %q Location %q", ct, res.header.Get("Location"))
				}
			default:
				wantStatus(t, res, http.StatusFound)
				loc, err := parseLocation(res)
				if err != nil {
					t.Fatal(err)
				}
				cq := loc.Query()
				if cq.Get("error") != tc.redirect {
					t.Errorf("error = %q, want %q (%s)", cq.Get("error"), tc.redirect, loc)
				}
				desc := "error_description"
				if tc.provider == "phoneburner" {
					desc = "error_message"
				}
				if cq.Get(desc) == "" {
					t.Errorf("callback %s lacks %s", loc, desc)
				}
				if q.Has("state") && tc.rawQuery == "" && cq.Get("state") != q.Get("state") {
					t.Errorf("state not echoed: %s", loc)
				}
			}
			f.wantRejection(tc.reason)
			if st := f.srv.Stats(); st.Authorizations != 0 || st.Rejections != 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// TestAuthorizeAccepted covers requests the providers accept.
func TestAuthorizeAccepted(t *testing.T) {
	tests := map[string]struct {
		provider string
		edit     func(q url.Values)
		path     string
	}{
		"burner without response_type": {provider: "burner"},
		"burner with response_type":    {provider: "burner", edit: func(q url.Values) { q.Set("response_type", "code") }},
		"burner comma scopes":          {provider: "burner", edit: func(q url.Values) { q.Set("scope", "burners:read,contacts:read") }},
		"burner with PKCE": {provider: "burner", edit: func(q url.Values) {
			pk := newPKCE()
			q.Set("code_challenge", pk.challenge)
			q.Set("code_challenge_method", "S256")
		}},
		"sms77 without redirect_uri":    {provider: "sms77", edit: func(q url.Values) { q.Del("redirect_uri") }},
		"sms77 empty scope":             {provider: "sms77", edit: func(q url.Values) { q.Set("scope", "") }},
		"seven rcs and waba":            {provider: "seven", edit: func(q url.Values) { q.Set("scope", "rcs waba") }},
		"phoneburner vendor":            {provider: "phoneburner", edit: func(q url.Values) { q.Set("owner_type", "vendor") }},
		"phoneburner /oauth/index":      {provider: "phoneburner", path: "/oauth/index"},
		"buffer empty scope":            {provider: "buffer", edit: func(q url.Values) { q.Set("scope", "") }},
		"oauth2 unknown params ignored": {provider: "oauth2", edit: func(q url.Values) { q.Set("prompt", "consent"); q.Set("resource", "https://api.example") }},
		"buffer_v2 prompt consent":      {provider: "buffer_v2", edit: func(q url.Values) { q.Set("prompt", "consent") }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider)
			var pk pkcePair
			if usesPKCE(tc.provider) {
				pk = newPKCE()
			}
			q := f.authQuery(pk)
			if tc.edit != nil {
				tc.edit(q)
			}
			path := tc.path
			if path == "" {
				path = f.path(kindAuthorize)
			}
			loc, err := Consent(context.Background(), f.ts.Client(), f.ts.URL+path+"?"+q.Encode(), true)
			if err != nil {
				t.Fatal(err)
			}
			if loc.Query().Get("code") == "" {
				t.Fatalf("no code in %s; last rejection %q", loc, f.srv.Stats().LastRejection)
			}
			if st := f.srv.Stats(); st.Authorizations != 1 || st.Approvals != 1 || st.Rejections != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// TestDeny checks the denial callback of every provider.
func TestDeny(t *testing.T) {
	for _, p := range Providers() {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t, p)
			var pk pkcePair
			if usesPKCE(p) {
				pk = newPKCE()
			}
			loc := f.consent(f.authQuery(pk), false)
			q := loc.Query()
			if q.Get("error") != "access_denied" || q.Get("state") != "st-123" || q.Has("code") {
				t.Errorf("deny callback = %s", loc)
			}
			if p == "phoneburner" {
				if q.Get("error_message") != pbDenied || !strings.Contains(loc.RawQuery, "error_message=The%20resource") {
					t.Errorf("PhoneBurner deny = %s, want error_message as in the seed", loc.RawQuery)
				}
			} else if q.Get("error_description") == "" {
				t.Errorf("deny callback lacks error_description: %s", loc)
			}
			if st := f.srv.Stats(); st.Denials != 1 || st.Approvals != 0 || st.Rejections != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestAutoApprove(t *testing.T) {
	f := newFixture(t, "sms77", func(o *Options) { o.AutoApprove = true })
	pk := newPKCE()
	res := f.get("/authorize?"+f.authQuery(pk).Encode(), "")
	wantStatus(t, res, http.StatusFound)
	loc, _ := parseLocation(res)
	if loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-123" {
		t.Errorf("auto-approve redirect = %s", loc)
	}
	if st := f.srv.Stats(); st.Authorizations != 1 || st.Approvals != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRedirectKeepsRegisteredQuery(t *testing.T) {
	const cb = "http://127.0.0.1:8765/cb?app=1"
	f := newFixture(t, "oauth2", func(o *Options) {
		o.AutoApprove = true
		o.Clients[0].RedirectURIs = []string{cb}
	})
	q := f.authQuery(pkcePair{})
	q.Set("redirect_uri", cb)
	loc := f.consent(q, true)
	if loc.Query().Get("app") != "1" || loc.Query().Get("code") == "" {
		t.Errorf("callback = %s, want the registered query kept", loc)
	}
}

// TestConsentForm covers abuse of the consent form.
func TestConsentForm(t *testing.T) {
	tests := map[string]struct {
		edit   func(f *fixture, vals url.Values) string // returns the body to post
		ctype  string
		before func(f *fixture)
		reason string
	}{
		"tampered scope": {edit: func(_ *fixture, v url.Values) string { v.Set("scope", "sms voice"); return v.Encode() }, reason: "field scope altered"},
		"dropped state":  {edit: func(_ *fixture, v url.Values) string { v.Del("state"); return v.Encode() }, reason: "field state altered or missing"},
		"no ticket":      {edit: func(_ *fixture, v url.Values) string { v.Del("ticket"); return v.Encode() }, reason: "without a valid ticket"},
		"bad decision":   {edit: func(_ *fixture, v url.Values) string { v.Set("decision", "maybe"); return v.Encode() }, reason: "neither approve nor deny"},
		"repeated field": {edit: func(_ *fixture, v url.Values) string { return v.Encode() + "&decision=deny" }, reason: "repeats decision"},
		"not a form":     {edit: func(_ *fixture, v url.Values) string { return v.Encode() }, ctype: "text/plain", reason: "consent decision: "},
		"expired form": {edit: func(_ *fixture, v url.Values) string { return v.Encode() },
			before: func(f *fixture) { f.clock.Advance(ticketTTL) }, reason: "expired form"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "sms77")
			page := f.get("/authorize?"+f.authQuery(newPKCE()).Encode(), "")
			wantStatus(t, page, http.StatusOK)
			fm, err := parseConsentForm(page.body)
			if err != nil {
				t.Fatal(err)
			}
			vals, err := fm.submit(true)
			if err != nil {
				t.Fatal(err)
			}
			if tc.before != nil {
				tc.before(f)
			}
			hdr := []string{}
			if tc.ctype != "" {
				hdr = []string{"Content-Type", tc.ctype}
			}
			res := f.post("/authorize", tc.edit(f, vals), hdr...)
			wantStatus(t, res, http.StatusBadRequest)
			f.wantRejection(tc.reason)
			if f.srv.Stats().Approvals != 0 {
				t.Error("an abused form was approved")
			}
		})
	}
}

func TestConsentFormSingleUse(t *testing.T) {
	f := newFixture(t, "oauth2")
	page := f.get("/authorize?"+f.authQuery(newPKCE()).Encode(), "")
	fm, err := parseConsentForm(page.body)
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := fm.submit(true)
	wantStatus(t, f.post("/authorize", vals.Encode()), http.StatusFound)
	wantStatus(t, f.post("/authorize", vals.Encode()), http.StatusBadRequest)
	f.wantRejection("submitted twice")
}

func TestBurnerUnknownPick(t *testing.T) {
	f := newFixture(t, "burner")
	page := f.get("/oauth/authorize?"+f.authQuery(pkcePair{}).Encode(), "")
	fm, _ := parseConsentForm(page.body)
	vals, _ := fm.submit(true)
	vals.Set("burner_id", "not-mine")
	wantStatus(t, f.post("/oauth/authorize", vals.Encode()), http.StatusBadRequest)
	f.wantRejection("unknown burner")
}

func TestAuthorizeMethodNotAllowed(t *testing.T) {
	f := newFixture(t, "oauth2")
	req, _ := http.NewRequest(http.MethodPut, f.ts.URL+"/authorize", nil)
	res := f.do(req)
	wantStatus(t, res, http.StatusMethodNotAllowed)
	if res.header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow = %q", res.header.Get("Allow"))
	}
	f.wantRejection("method not allowed")
}
