package emulator

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHappyPath walks every provider through authorize → consent →
// exchange → check → refresh → revoke with raw HTTP requests.
func TestHappyPath(t *testing.T) {
	tests := map[string]struct {
		keys    []string // exact keys of the token response
		refresh bool
		revoke  bool
		iss     bool
	}{
		"burner":      {keys: []string{"access_token", "connected_burners", "expires_in", "scope", "token_type"}},
		"sms77":       {keys: []string{"access_token", "expires_in", "refresh_token", "scope", "token_type"}, refresh: true, revoke: true},
		"seven":       {keys: []string{"access_token", "expires_in", "refresh_token", "scope", "token_type"}, refresh: true, revoke: true},
		"buffer":      {keys: []string{"access_token"}, revoke: true},
		"buffer_v2":   {keys: []string{"access_token", "expires_in", "refresh_token", "scope", "token_type"}, refresh: true, revoke: true, iss: true},
		"phoneburner": {keys: []string{"access_token", "expires", "expires_in", "refresh_token", "token_type"}, refresh: true},
		"oauth2":      {keys: []string{"access_token", "expires_in", "refresh_token", "scope", "token_type"}, refresh: true, revoke: true, iss: true},
	}
	if len(tests) != len(Providers()) {
		t.Fatalf("table covers %d providers, Providers() has %d", len(tests), len(Providers()))
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name)
			var pk pkcePair
			if usesPKCE(name) {
				pk = newPKCE()
			}
			loc := f.consent(f.authQuery(pk), true)
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
				t.Fatalf("callback %s, want %s", got, testRedirect)
			}
			cq := loc.Query()
			if cq.Get("state") != "st-123" {
				t.Errorf("state = %q, want st-123", cq.Get("state"))
			}
			if got, want := cq.Get("iss"), map[bool]string{true: f.ts.URL}[tc.iss]; got != want {
				t.Errorf("iss = %q, want %q", got, want)
			}
			if name == "buffer" && !strings.Contains(loc.RawQuery, "code=1/") {
				t.Errorf("Buffer v1 callback %q should carry the code verbatim (1/…)", loc.RawQuery)
			}
			res := f.exchange(cq.Get("code"), pk)
			wantStatus(t, res, http.StatusOK)
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			m := res.json(t)
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("token response keys = %v, want %v", keys, tc.keys)
			}
			at := res.str(t, "access_token")
			wantStatus(t, f.get(f.path(kindCheck), at), http.StatusOK)
			calls := 1
			if tc.refresh {
				r2 := f.refresh(res.str(t, "refresh_token"))
				wantStatus(t, r2, http.StatusOK)
				at2 := r2.str(t, "access_token")
				if at2 == at {
					t.Error("refresh returned the same access token")
				}
				wantStatus(t, f.get(f.path(kindCheck), at2), http.StatusOK)
				calls++
			}
			if tc.revoke {
				wantStatus(t, f.revoke(at, "access_token"), http.StatusOK)
				wantStatus(t, f.get(f.path(kindCheck), at), http.StatusUnauthorized)
			}
			st := f.srv.Stats()
			want := Stats{Authorizations: 1, Approvals: 1, Exchanges: 1, APICalls: calls}
			if tc.refresh {
				want.Refreshes = 1
			}
			if tc.revoke {
				want.Revokes = 1
				want.Rejections = 1
			}
			if st.Authorizations != want.Authorizations || st.Approvals != want.Approvals || st.Exchanges != want.Exchanges ||
				st.Refreshes != want.Refreshes || st.Revokes != want.Revokes || st.APICalls != want.APICalls || st.Rejections != want.Rejections {
				t.Errorf("stats = %+v, want counters %+v", st, want)
			}
		})
	}
}

func TestBurnerTokenResponse(t *testing.T) {
	f := newFixture(t, "burner")
	m := f.tokens().json(t)
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(30*24*3600) || m["scope"] != "burners:read messages:connect" {
		t.Errorf("token response = %v", m)
	}
	cb, _ := m["connected_burners"].([]any)
	if len(cb) != 1 {
		t.Fatalf("connected_burners = %v, want one burner", m["connected_burners"])
	}
	b := cb[0].(map[string]any)
	for _, k := range []string{"id", "name", "status", "outgoing_webhook_url"} {
		if _, ok := b[k]; !ok {
			t.Errorf("connected burner lacks %q: %v", k, b)
		}
	}
	if b["id"] != userBurners[0].ID {
		t.Errorf("default burner = %v, want %s", b["id"], userBurners[0].ID)
	}
}

func TestBurnerConnectedBurners(t *testing.T) {
	tests := map[string]struct {
		scope, burnerID string
		wantIDs         []string
		wantList        int // burners listed by /v1/burners
	}{
		"no messages:connect":   {scope: "burners:read", wantList: 2},
		"burner_id known":       {scope: "messages:connect", burnerID: userBurners[1].ID, wantIDs: []string{userBurners[1].ID}, wantList: 1},
		"burner_id unknown":     {scope: "messages:connect,contacts:read", burnerID: "b-77", wantIDs: []string{"b-77"}, wantList: 1},
		"comma separated scope": {scope: "burners:write,messages:connect", wantIDs: []string{userBurners[0].ID}, wantList: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "burner", func(o *Options) { o.AutoApprove = true })
			q := f.authQuery(pkcePair{})
			q.Set("scope", tc.scope)
			if tc.burnerID != "" {
				q.Set("burner_id", tc.burnerID)
			}
			loc := f.consent(q, true)
			res := f.exchange(loc.Query().Get("code"), pkcePair{})
			wantStatus(t, res, http.StatusOK)
			var tok burnerToken
			if err := json.Unmarshal(res.body, &tok); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, b := range tok.ConnectedBurners {
				ids = append(ids, b.ID)
			}
			if !slices.Equal(ids, tc.wantIDs) {
				t.Errorf("connected burners = %v, want %v", ids, tc.wantIDs)
			}
			list := f.get("/v1/burners", tok.AccessToken)
			wantStatus(t, list, http.StatusOK)
			var got []map[string]any
			if err := json.Unmarshal(list.body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantList {
				t.Errorf("/v1/burners lists %d, want %d", len(got), tc.wantList)
			}
		})
	}
}

func TestBurnerPickerOnConsentPage(t *testing.T) {
	f := newFixture(t, "burner")
	q := f.authQuery(pkcePair{})
	page := f.get(f.path(kindAuthorize)+"?"+q.Encode(), "")
	wantStatus(t, page, http.StatusOK)
	form, err := parseConsentForm(page.body)
	if err != nil {
		t.Fatal(err)
	}
	// Choose the second burner, as a user would in the picker.
	vals, err := form.submit(true)
	if err != nil {
		t.Fatal(err)
	}
	vals.Set("burner_id", userBurners[1].ID)
	res := f.post(f.path(kindAuthorize), vals.Encode())
	wantStatus(t, res, http.StatusFound)
	loc, _ := parseLocation(res)
	tok := f.exchange(loc.Query().Get("code"), pkcePair{})
	var bt burnerToken
	if err := json.Unmarshal(tok.body, &bt); err != nil {
		t.Fatal(err)
	}
	if len(bt.ConnectedBurners) != 1 || bt.ConnectedBurners[0].ID != userBurners[1].ID {
		t.Errorf("connected = %+v, want the picked burner", bt.ConnectedBurners)
	}
}

func TestSms77DefaultScopeAndLifetime(t *testing.T) {
	for _, p := range []string{"sms77", "seven"} {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t, p, func(o *Options) { o.AutoApprove = true })
			pk := newPKCE()
			q := f.authQuery(pk)
			q.Del("scope")
			q.Del("redirect_uri") // bound at registration
			loc := f.consent(q, true)
			v := "grant_type=authorization_code&code=" + loc.Query().Get("code") + "&code_verifier=" + pk.verifier
			res := f.post("/token", v, "Authorization", basic(testID, testSecret))
			wantStatus(t, res, http.StatusOK)
			m := res.json(t)
			want := strings.Join(lookupSpec(p).scopes, " ")
			if m["scope"] != want || m["expires_in"] != float64(3600) || m["token_type"] != "Bearer" {
				t.Errorf("token response = %v, want default scope %q, 3600 s, Bearer", m, want)
			}
			me := f.get("/me", res.str(t, "access_token"))
			wantStatus(t, me, http.StatusOK)
			if me.json(t)["success"] != true || me.json(t)["balance"] != "627.3615" {
				t.Errorf("/me = %s", me.body)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	tests := map[string]struct {
		provider      string
		rotate        *bool
		wantNew       bool // refresh answer carries a new refresh token
		oldStaysValid bool // the first refresh token still works
		reuseRevokes  bool // reusing a rotated token kills the grant
	}{
		"sms77 rotates":                 {provider: "sms77", wantNew: true},
		"seven rotates":                 {provider: "seven", wantNew: true},
		"buffer_v2 reuse revokes grant": {provider: "buffer_v2", wantNew: true, reuseRevokes: true},
		"phoneburner keeps by default":  {provider: "phoneburner", oldStaysValid: true},
		"phoneburner rotating":          {provider: "phoneburner", rotate: ptr(true), wantNew: true},
		"oauth2 keeps by default":       {provider: "oauth2", oldStaysValid: true},
		"oauth2 rotating":               {provider: "oauth2", rotate: ptr(true), wantNew: true},
		"sms77 rotation off":            {provider: "sms77", rotate: ptr(false), oldStaysValid: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider, func(o *Options) { o.RotateRefresh = tc.rotate })
			first := f.tokens()
			rt := first.str(t, "refresh_token")
			r1 := f.refresh(rt)
			wantStatus(t, r1, http.StatusOK)
			newRT := r1.str(t, "refresh_token")
			if (newRT != "") != tc.wantNew {
				t.Fatalf("refresh answer refresh_token = %q, want new: %v", newRT, tc.wantNew)
			}
			again := f.refresh(rt)
			if tc.oldStaysValid {
				wantStatus(t, again, http.StatusOK)
				return
			}
			wantStatus(t, again, http.StatusBadRequest)
			if again.str(t, "error") != "invalid_grant" {
				t.Errorf("reuse error = %s", again.body)
			}
			f.wantRejection("rotated refresh token reused")
			// The rotated-in token and the access tokens survive unless
			// the provider revokes the grant on reuse.
			live := http.StatusOK
			if tc.reuseRevokes {
				live = http.StatusUnauthorized
			}
			wantStatus(t, f.get(f.path(kindCheck), r1.str(t, "access_token")), live)
			wantStatus(t, f.get(f.path(kindCheck), first.str(t, "access_token")), live)
			if tc.reuseRevokes {
				wantStatus(t, f.refresh(newRT), http.StatusBadRequest)
			} else {
				wantStatus(t, f.refresh(newRT), http.StatusOK)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPhoneBurnerLifetimes(t *testing.T) {
	f := newFixture(t, "phoneburner")
	now := f.clock.Now()
	m := f.tokens().json(t)
	if m["token_type"] != "bearer" || m["expires_in"] != float64(604800) || m["expires"] != float64(now.Unix()+604800) {
		t.Errorf("exchange answer = %v, want bearer, 7 days, absolute expires", m)
	}
	r := f.refresh(m["refresh_token"].(string)).json(t)
	if r["expires_in"] != float64(2678400) || r["expires"] != float64(now.Unix()+2678400) {
		t.Errorf("refresh answer = %v, want 31 days as the seed's sample", r)
	}
	if _, ok := r["refresh_token"]; ok {
		t.Errorf("refresh answer has a refresh_token by default: %v", r)
	}
}

func TestAccessTokenExpiry(t *testing.T) {
	for _, p := range Providers() {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t, p, func(o *Options) { o.AccessTTL = time.Minute })
			at := f.tokens().str(t, "access_token")
			wantStatus(t, f.get(f.path(kindCheck), at), http.StatusOK)
			f.clock.Advance(time.Minute)
			wantStatus(t, f.get(f.path(kindCheck), at), http.StatusUnauthorized)
		})
	}
}

func TestBufferV1TokenNeverExpires(t *testing.T) {
	f := newFixture(t, "buffer")
	at := f.tokens().str(t, "access_token")
	if !strings.HasPrefix(at, "1/") {
		t.Errorf("access token %q should look like 1/…", at)
	}
	f.clock.Advance(10 * 365 * 24 * time.Hour)
	wantStatus(t, f.get("/1/user.json", at), http.StatusOK)
}

func TestRefreshTokenExpiry(t *testing.T) {
	f := newFixture(t, "oauth2", func(o *Options) { o.RefreshTTL = time.Hour })
	rt := f.tokens().str(t, "refresh_token")
	f.clock.Advance(time.Hour)
	res := f.refresh(rt)
	wantStatus(t, res, http.StatusBadRequest)
	f.wantRejection("refresh token expired")
}

func TestRefreshNarrowerScope(t *testing.T) {
	f := newFixture(t, "oauth2")
	rt := f.tokens().str(t, "refresh_token")
	v := "grant_type=refresh_token&refresh_token=" + rt + "&scope=read"
	res := f.post("/token", v, "Authorization", basic(testID, testSecret))
	wantStatus(t, res, http.StatusOK)
	if res.str(t, "scope") != "read" {
		t.Errorf("scope = %q, want read", res.str(t, "scope"))
	}
	wider := f.post("/token", "grant_type=refresh_token&refresh_token="+rt+"&scope=admin", "Authorization", basic(testID, testSecret))
	wantStatus(t, wider, http.StatusBadRequest)
	if wider.str(t, "error") != "invalid_scope" {
		t.Errorf("error = %s", wider.body)
	}
}

func TestBufferV2RefreshOnlyWithOfflineAccess(t *testing.T) {
	f := newFixture(t, "buffer_v2", func(o *Options) { o.AutoApprove = true })
	pk := newPKCE()
	q := f.authQuery(pk)
	q.Set("scope", "posts:read")
	loc := f.consent(q, true)
	res := f.exchange(loc.Query().Get("code"), pk)
	wantStatus(t, res, http.StatusOK)
	if _, ok := res.json(t)["refresh_token"]; ok {
		t.Errorf("refresh_token issued without offline_access: %s", res.body)
	}
}

func TestRevokeRefreshTokenKillsAccessTokens(t *testing.T) {
	for _, p := range []string{"sms77", "seven", "buffer_v2", "oauth2"} {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t, p)
			res := f.tokens()
			wantStatus(t, f.revoke(res.str(t, "refresh_token"), "refresh_token"), http.StatusOK)
			wantStatus(t, f.get(f.path(kindCheck), res.str(t, "access_token")), http.StatusUnauthorized)
			wantStatus(t, f.refresh(res.str(t, "refresh_token")), http.StatusBadRequest)
			f.wantRejection("refresh token revoked")
			// RFC 7009 §2.2: unknown tokens are answered 200.
			wantStatus(t, f.revoke("no-such-token", ""), http.StatusOK)
		})
	}
}

func TestBufferV1Deauthorize(t *testing.T) {
	tests := map[string]struct {
		send      func(f *fixture, at string) result
		wantQuery int
		wantBody  int
	}{
		"header": {send: func(f *fixture, at string) result {
			return f.post("/1/user/deauthorize.json", "", "Authorization", "Bearer "+at)
		}},
		"body": {send: func(f *fixture, at string) result {
			return f.post("/1/user/deauthorize.json", "access_token="+at)
		}, wantBody: 1},
		"query": {send: func(f *fixture, at string) result {
			return f.post("/1/user/deauthorize.json?access_token="+at, "")
		}, wantQuery: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "buffer")
			at := f.tokens().str(t, "access_token")
			res := tc.send(f, at)
			wantStatus(t, res, http.StatusOK)
			if res.json(t)["success"] != true {
				t.Errorf("deauthorize = %s", res.body)
			}
			wantStatus(t, f.get("/1/user.json", at), http.StatusUnauthorized)
			st := f.srv.Stats()
			if st.QueryTokens != tc.wantQuery || st.BodyTokens != tc.wantBody || st.Revokes != 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestIssueTokens(t *testing.T) {
	tests := map[string]struct {
		provider    string
		scopes      []string
		wantRefresh bool
		wantExpiry  bool
		wantErr     error
	}{
		"sms77":                 {provider: "sms77", scopes: []string{"sms"}, wantRefresh: true, wantExpiry: true},
		"buffer v1":             {provider: "buffer", wantExpiry: false},
		"buffer v1 with scope":  {provider: "buffer", scopes: []string{"x"}, wantErr: ErrInvalidScope},
		"burner":                {provider: "burner", scopes: []string{"messages:connect"}, wantExpiry: true},
		"burner unknown scope":  {provider: "burner", scopes: []string{"nope"}, wantErr: ErrInvalidScope},
		"buffer_v2 offline":     {provider: "buffer_v2", scopes: []string{"posts:read", "offline_access"}, wantRefresh: true, wantExpiry: true},
		"buffer_v2 not offline": {provider: "buffer_v2", scopes: []string{"posts:read"}, wantExpiry: true},
		"phoneburner":           {provider: "phoneburner", wantRefresh: true, wantExpiry: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider)
			ts, err := f.srv.IssueTokens(testID, tc.scopes)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (ts.RefreshToken != "") != tc.wantRefresh || ts.ExpiresAt.IsZero() == tc.wantExpiry {
				t.Errorf("TokenSet = %+v", ts)
			}
			wantStatus(t, f.get(f.path(kindCheck), ts.AccessToken), http.StatusOK)
		})
	}
	f := newFixture(t, "oauth2")
	if _, err := f.srv.IssueTokens("nobody", nil); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("unknown client: err = %v", err)
	}
}
