package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFaults checks each fault kind against a token request.
func TestFaults(t *testing.T) {
	tests := map[string]struct {
		provider string
		faults   Faults
		check    func(t *testing.T, res result)
	}{
		"fail with default status": {provider: "sms77", faults: Faults{FailNext: 1}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusInternalServerError)
			if res.str(t, "error") != "server_error" {
				t.Errorf("body %s", res.body)
			}
		}},
		"fail 503 with Retry-After": {provider: "oauth2", faults: Faults{FailNext: 1, FailStatus: 503, RetryAfter: 1500 * time.Millisecond}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusServiceUnavailable)
			if res.header.Get("Retry-After") != "2" || res.str(t, "error") != "temporarily_unavailable" {
				t.Errorf("Retry-After %q body %s", res.header.Get("Retry-After"), res.body)
			}
		}},
		"fail as HTML page": {provider: "buffer_v2", faults: Faults{FailNext: 1, FailStatus: 502, HTMLError: true}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusBadGateway)
			if !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") || !strings.Contains(string(res.body), "<html") {
				t.Errorf("want an HTML page, got %q %s", res.header.Get("Content-Type"), res.body)
			}
		}},
		"phoneburner failure shape": {provider: "phoneburner", faults: Faults{FailNext: 1}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusInternalServerError)
			m := res.json(t)
			if m["error"] != "server_error" || m["error_message"] == nil {
				t.Errorf("body %s", res.body)
			}
		}},
		"fail rate 1": {provider: "burner", faults: Faults{FailRate: 1.5}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusInternalServerError)
		}},
		"truncate": {provider: "sms77", faults: Faults{Truncate: true}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusOK)
			var v any
			if err := json.Unmarshal(res.body, &v); err == nil {
				t.Errorf("truncated body %s parsed as JSON", res.body)
			}
			if !strings.HasPrefix(string(res.body), `{"access_token":"`) {
				t.Errorf("truncated body %q should be the start of the token JSON", res.body)
			}
		}},
		"invalid_grant rfc": {provider: "buffer_v2", faults: Faults{InvalidGrant: true}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusBadRequest)
			if res.str(t, "error") != "invalid_grant" {
				t.Errorf("body %s", res.body)
			}
		}},
		"invalid_grant phoneburner shape": {provider: "phoneburner", faults: Faults{InvalidGrant: true}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusBadRequest)
			m := res.json(t)
			if m["error"] != "invalid_grant" || !strings.Contains(m["error_description"].(string), `Check the "code" parameter.`) {
				t.Errorf("body %s", res.body)
			}
		}},
		"description and request echoed": {provider: "sms77", faults: Faults{FailNext: 1, FailStatus: 400, Description: "bad\x1b[2J", EchoRequest: true}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusBadRequest)
			d := res.str(t, "error_description")
			if !strings.HasPrefix(d, "bad\x1b[2J (request: Authorization: Basic ") || !strings.Contains(d, "grant_type=authorization_code") {
				t.Errorf("error_description %q should echo the Authorization header and the body", d)
			}
		}},
		"token_type replaced": {provider: "sms77", faults: Faults{TokenType: "mac"}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusOK)
			if res.str(t, "token_type") != "mac" || res.str(t, "access_token") == "" || res.str(t, "refresh_token") == "" {
				t.Errorf("body %s", res.body)
			}
		}},
		"expiry omitted": {provider: "phoneburner", faults: Faults{OmitExpiry: true}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusOK)
			m := res.json(t)
			_, hasIn := m["expires_in"]
			_, hasAt := m["expires"]
			if hasIn || hasAt || res.str(t, "access_token") == "" || res.str(t, "refresh_token") == "" {
				t.Errorf("body %s: want tokens without expires_in or expires", res.body)
			}
		}},
		"other endpoints only": {provider: "sms77", faults: Faults{FailNext: 5, Endpoints: []string{"check"}}, check: func(t *testing.T, res result) {
			wantStatus(t, res, http.StatusOK)
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider)
			code, pk := f.code()
			f.srv.SetFaults(tc.faults)
			tc.check(t, f.exchange(code, pk))
			faulted := f.srv.Stats().Faults
			f.srv.SetFaults(Faults{})
			if name == "truncate" || name == "other endpoints only" || name == "token_type replaced" || name == "expiry omitted" {
				if name != "other endpoints only" && faulted != 1 {
					t.Errorf("faults = %d, want 1", faulted)
				}
				return
			}
			if faulted != 1 {
				t.Errorf("faults = %d, want 1", faulted)
			}
			// The fault did not consume the code.
			wantStatus(t, f.exchange(code, pk), http.StatusOK)
		})
	}
}

func TestFailNextCountsDown(t *testing.T) {
	f := newFixture(t, "oauth2")
	f.srv.SetFaults(Faults{FailNext: 2})
	code, pk := f.code()
	wantStatus(t, f.exchange(code, pk), http.StatusInternalServerError)
	if got := f.srv.Faults().FailNext; got != 1 {
		t.Errorf("FailNext = %d, want 1", got)
	}
	wantStatus(t, f.exchange(code, pk), http.StatusInternalServerError)
	wantStatus(t, f.exchange(code, pk), http.StatusOK)
	if st := f.srv.Stats(); st.Faults != 2 || st.Rejections != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFailRateIsSeeded(t *testing.T) {
	run := func() []int {
		f := newFixture(t, "oauth2", func(o *Options) { o.Seed = 42 })
		f.srv.SetFaults(Faults{FailRate: 0.5, Endpoints: []string{"check"}})
		var got []int
		for range 20 {
			got = append(got, f.get("/userinfo", "x").status)
		}
		return got
	}
	a, b := run(), run()
	fails := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different outcomes: %v vs %v", a, b)
		}
		if a[i] == http.StatusInternalServerError {
			fails++
		}
	}
	if fails == 0 || fails == len(a) {
		t.Errorf("FailRate 0.5 failed %d of %d", fails, len(a))
	}
}

func TestFaultOnRefreshAndCheck(t *testing.T) {
	f := newFixture(t, "phoneburner")
	res := f.tokens()
	f.srv.SetFaults(Faults{InvalidGrant: true, Endpoints: []string{"refresh"}})
	r := f.refresh(res.str(t, "refresh_token"))
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.str(t, "error_description"), `"refresh_token"`) {
		t.Errorf("body %s", r.body)
	}
	f.srv.SetFaults(Faults{FailNext: 1, Endpoints: []string{"check"}})
	c := f.get("/rest/1/members/", res.str(t, "access_token"))
	wantStatus(t, c, http.StatusInternalServerError)
	if c.json(t)["status"] != "error" {
		t.Errorf("check failure shape %s", c.body)
	}
	wantStatus(t, f.get("/rest/1/members/", res.str(t, "access_token")), http.StatusOK)
}

func TestFaultOnAuthorize(t *testing.T) {
	f := newFixture(t, "burner")
	f.srv.SetFaults(Faults{FailNext: 1, FailStatus: 503, HTMLError: true, Endpoints: []string{"authorize"}})
	_, err := Consent(context.Background(), f.ts.Client(), f.authURL(f.authQuery(pkcePair{})), true)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Consent err = %v, want the 503", err)
	}
	if _, err := Consent(context.Background(), f.ts.Client(), f.authURL(f.authQuery(pkcePair{})), true); err != nil {
		t.Errorf("second Consent: %v", err)
	}
}

func TestDrop(t *testing.T) {
	tests := map[string]Faults{
		"every request": {Drop: true},
		"picked":        {Drop: true, FailNext: 1},
	}
	for name, faults := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "sms77")
			code, pk := f.code()
			f.srv.SetFaults(faults)
			req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/token", strings.NewReader(enc("grant_type", "authorization_code", "code", code)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := f.ts.Client().Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("dropped request answered %d", resp.StatusCode)
			}
			if f.srv.Stats().Faults != 1 {
				t.Errorf("faults = %d", f.srv.Stats().Faults)
			}
			if faults.FailNext > 0 {
				wantStatus(t, f.exchange(code, pk), http.StatusOK)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	f := newFixture(t, "oauth2")
	at := f.tokens().str(t, "access_token")

	f.srv.SetFaults(Faults{Latency: time.Hour, Endpoints: []string{"check"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.ts.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	start := time.Now()
	_, err := f.ts.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("latency did not honour the client giving up")
	}

	f.srv.SetFaults(Faults{Latency: 5 * time.Millisecond, Endpoints: []string{"check"}})
	start = time.Now()
	wantStatus(t, f.get("/userinfo", at), http.StatusOK)
	if time.Since(start) < 5*time.Millisecond {
		t.Error("latency not applied")
	}
}

// TestConcurrent hammers one emulator from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	f := newFixture(t, "buffer_v2", func(o *Options) { o.AutoApprove = true })
	f.srv.SetFaults(Faults{FailRate: 0.2, Endpoints: []string{"check"}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			pk := newPKCE()
			loc, err := Consent(context.Background(), f.ts.Client(), f.authURL(f.authQuery(pk)), true)
			if err != nil {
				t.Error(err)
				return
			}
			body := url.Values{"client_id": {testID}, "client_secret": {testSecret}, "redirect_uri": {testRedirect},
				"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {pk.verifier}}
			resp, err := f.ts.Client().PostForm(f.ts.URL+"/token", body)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			_ = f.srv.Stats()
			f.srv.SetFaults(Faults{FailRate: 0.2, Endpoints: []string{"check"}})
		})
	}
	wg.Wait()
	if st := f.srv.Stats(); st.Exchanges != 8 || st.LiveGrants != 8 {
		t.Errorf("stats = %+v", st)
	}
}
