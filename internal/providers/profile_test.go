package providers

import (
	"strings"
	"testing"
)

func TestBuiltinsValidate(t *testing.T) {
	for _, p := range Builtins() {
		errs := p.Validate()
		if p.Name == "oauth2" {
			if len(errs) == 0 {
				t.Errorf("oauth2 has no endpoints and must not validate")
			}
			continue
		}
		if len(errs) != 0 {
			t.Errorf("built-in %s: %v", p.Name, errs)
		}
	}
}

func TestRebase(t *testing.T) {
	p, _ := Builtin("buffer")
	r, err := p.Rebase("http://127.0.0.1:9400")
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		r.AuthorizeURL: "http://127.0.0.1:9400/oauth2/authorize",
		r.TokenURL:     "http://127.0.0.1:9400/1/oauth2/token.json",
		r.RevokeURL:    "http://127.0.0.1:9400/1/user/deauthorize.json",
		r.CheckURL:     "http://127.0.0.1:9400/1/user.json",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	if p.TokenURL != "https://api.bufferapp.com/1/oauth2/token.json" {
		t.Errorf("Rebase modified the original: %s", p.TokenURL)
	}
	if _, err := p.Rebase("not a url"); err == nil {
		t.Error("want an error for a relative base")
	}
}

func TestCheckEndpointURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://a.example/x":       true,
		"http://127.0.0.1:8765/cb":  true,
		"http://[::1]:8765/cb":      true,
		"http://localhost/cb":       true,
		"http://example.com/cb":     false,
		"https://a.example/x#frag":  false,
		"ftp://a.example/x":         false,
		"/relative":                 false,
		"http://127.0.0.1.evil.com": false,
		"http://127.evil.com.x/cb":  false,
	} {
		if got := CheckEndpointURL(raw) == ""; got != ok {
			t.Errorf("CheckEndpointURL(%q) ok=%v, want %v", raw, got, ok)
		}
	}
}

func TestGrantProblem(t *testing.T) {
	for _, name := range Names() {
		p, _ := Builtin(name)
		if msg := p.GrantProblem(GrantAuthorizationCode); msg != "" {
			t.Errorf("%s refuses the authorization code: %s", name, msg)
		}
		for _, g := range []Grant{GrantDeviceCode, GrantClientCredentials} {
			msg := p.GrantProblem(g)
			if name == "oauth2" {
				// No endpoints yet: the device code needs one.
				if (msg == "") != (g == GrantClientCredentials) {
					t.Errorf("oauth2, %s: %q", g, msg)
				}
				continue
			}
			if !strings.Contains(msg, `documents only "authorization_code"`) || !strings.Contains(msg, string(g)) {
				t.Errorf("%s, %s: %q, want a refusal naming what it supports", name, g, msg)
			}
		}
	}
	g := Generic("acme")
	if msg := g.GrantProblem(GrantDeviceCode); !strings.Contains(msg, "device_authorization_url") {
		t.Errorf("generic without device endpoint: %q", msg)
	}
	g.Issuer = "https://issuer.example"
	if msg := g.GrantProblem(GrantDeviceCode); msg != "" {
		t.Errorf("generic with an issuer: %q", msg)
	}
	g.Issuer, g.DeviceAuthURL = "", "https://issuer.example/device"
	if msg := g.GrantProblem(GrantDeviceCode); msg != "" {
		t.Errorf("generic with a device endpoint: %q", msg)
	}
	if msg := g.GrantProblem("password"); !strings.Contains(msg, "not a grant type") {
		t.Errorf("password grant: %q", msg)
	}
	g.AuthorizeURL, g.TokenURL = "https://issuer.example/a", "https://issuer.example/t"
	g.DeviceAuthURL = "http://device.example/x"
	if errs := g.Validate(); len(errs) != 1 || errs[0].Field != "device_authorization_url" {
		t.Errorf("Validate with a plain-http device endpoint: %v", errs)
	}
	var nilGrants Profile
	if nilGrants.OffersGrant(GrantClientCredentials) || !nilGrants.OffersGrant(GrantAuthorizationCode) {
		t.Error("a profile without Grants must offer the authorization code only")
	}
}
