package config

import (
	"strings"
	"testing"

	"github.com/oauthform/oauthform/internal/providers"
)

// TestGrantOnSeedProvider is issue 17's acceptance: a seed provider with
// grant = "device_code" is an error at the attribute's value, naming what
// the provider supports; so is client_credentials.
func TestGrantOnSeedProvider(t *testing.T) {
	for _, seed := range []string{"burner", "sms77", "seven", "buffer", "buffer_v2", "phoneburner"} {
		for _, grant := range []string{"device_code", "client_credentials"} {
			t.Run(seed+"/"+grant, func(t *testing.T) {
				dir := t.TempDir()
				writeFile(t, dir, "main.oauth.hcl", `app "a" {
  provider      = "`+seed+`"
  client_id     = "client"
  client_secret = "x"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "c" {
  app   = app.a
  grant = "`+grant+`"
}
`)
				cfg, diags := Load(dir, testInputs())
				errs := diags.Errs()
				if len(errs) != 1 {
					t.Fatalf("want one error, got:\n%s", renderDiags(cfg, diags))
				}
				d := diags[0]
				if d.Summary != "Unsupported grant" || !strings.Contains(d.Detail, `documents only "authorization_code"`) ||
					!strings.Contains(d.Detail, `provider "`+seed+`"`) || !strings.Contains(d.Detail, grant) {
					t.Errorf("got %q: %q", d.Summary, d.Detail)
				}
				// Line 10, the value after `  grant = `.
				if d.Subject == nil || !strings.HasSuffix(d.Subject.Filename, "main.oauth.hcl") ||
					d.Subject.Start.Line != 10 || d.Subject.Start.Column != 11 {
					t.Errorf("subject %v, want main.oauth.hcl:10,11", d.Subject)
				}
			})
		}
	}
}

// TestGrantOnGenericProvider: a generic provider offers client_credentials
// always, and device_code with a device_authorization_url or an issuer;
// an app whose connections all use them needs no redirect_uri.
func TestGrantOnGenericProvider(t *testing.T) {
	const provs = `
provider "declared" {
  authorize_url            = "https://auth.example/authorize"
  token_url                = "https://auth.example/token"
  device_authorization_url = "https://auth.example/device"
}
provider "discovered" {
  issuer = "https://idp.example"
}
provider "bare" {
  authorize_url = "https://auth.example/authorize"
  token_url     = "https://auth.example/token"
}
provider "public" {
  authorize_url = "https://auth.example/authorize"
  token_url     = "https://auth.example/token"
  client_auth   = "none"
}
`
	app := func(name string) string {
		if name == "public" {
			return "app \"public\" {\n  provider  = \"public\"\n  client_id = \"c\"\n}\n"
		}
		return "app \"" + name + "\" {\n  provider      = \"" + name + "\"\n  client_id     = \"c\"\n  client_secret = \"s\"\n}\n"
	}
	conn := func(name, app, grant string) string {
		s := "connection \"" + name + "\" {\n  app   = app." + app + "\n"
		if grant != "" {
			s += "  grant = \"" + grant + "\"\n"
		}
		return s + "}\n"
	}
	cases := []struct {
		name, src string
		err       string // summary: detail prefix; "" = valid
		at        string // the error is on the first line holding this, at its column
	}{
		{name: "device with an endpoint, machine with none",
			src: app("declared") + app("bare") + conn("tv", "declared", "device_code") + conn("ci", "bare", "client_credentials")},
		{name: "device by discovery", src: app("discovered") + conn("tv", "discovered", "device_code")},
		{name: "device without endpoint", src: app("bare") + conn("tv", "bare", "device_code"),
			err: `Unsupported grant: Connection "tv" cannot use grant = "device_code": provider "bare" has no device authorization endpoint: set device_authorization_url`,
			at:  `"device_code"`},
		{name: "client credentials of a public client", src: app("public") + conn("ci", "public", "client_credentials"),
			err: `Unsupported grant: Connection "ci" cannot use grant = "client_credentials": provider "public" is a public client`,
			at:  `"client_credentials"`},
		{name: "unknown grant", src: app("declared") + conn("x", "declared", "device"),
			err: `Invalid grant: The grant "device" is not one oauthform knows. Did you mean "device_code"?`, at: `"device"`},
		{name: "authorization code needs redirect_uri",
			src: app("declared") + conn("tv", "declared", "device_code") + conn("web", "declared", ""),
			err: `Missing required argument: The argument "redirect_uri" is required: connection "web" uses the authorization code grant`,
			at:  `{`},
		{name: "an unused app needs redirect_uri", src: app("bare"),
			err: `Missing required argument: The argument "redirect_uri" is required, but no definition was found.`, at: `{`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := provs + tc.src
			writeFile(t, dir, "main.oauth.hcl", src)
			cfg, diags := Load(dir, testInputs())
			errs := diags.Errs()
			if tc.err == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors:\n%s", renderDiags(cfg, diags))
				}
				for _, c := range cfg.Connections {
					if c.Grant == providers.GrantAuthorizationCode {
						t.Errorf("connection %s: grant %q", c.Name, c.Grant)
					}
				}
				if p := cfg.Providers["declared"]; p.DeviceAuthURL != "https://auth.example/device" {
					t.Errorf("device_authorization_url = %q", p.DeviceAuthURL)
				}
				for _, a := range cfg.Apps {
					if a.RedirectURI != "" {
						t.Errorf("app %s: redirect_uri = %q", a.Name, a.RedirectURI)
					}
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("want one error, got:\n%s", renderDiags(cfg, diags))
			}
			d := diags[0]
			if got := d.Summary + ": " + d.Detail; !strings.HasPrefix(got, tc.err) {
				t.Errorf("got %q, want it to begin %q", got, tc.err)
			}
			// Where: the first line of the case's own source holding tc.at.
			lines := strings.Split(src, "\n")
			line, col := 0, 0
			for i := strings.Count(provs, "\n"); i < len(lines); i++ {
				if j := strings.Index(lines[i], tc.at); j >= 0 {
					line, col = i+1, j+1
					break
				}
			}
			if s := d.Subject; s == nil || s.Start.Line != line || s.Start.Column != col {
				t.Errorf("subject %v, want line %d column %d", s, line, col)
			}
		})
	}
}

// TestDeviceAuthorizationURLChecked: device_authorization_url is checked
// like the other endpoints, at its value.
func TestDeviceAuthorizationURLChecked(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", `provider "acme" {
  authorize_url            = "https://auth.example/authorize"
  token_url                = "https://auth.example/token"
  device_authorization_url = "http://auth.example/device"
}
`)
	cfg, diags := Load(dir, testInputs())
	errs := diags.Errs()
	if len(errs) != 1 {
		t.Fatalf("want one error, got:\n%s", renderDiags(cfg, diags))
	}
	d := diags[0]
	if d.Summary != "Invalid provider argument" || !strings.Contains(d.Detail, "device_authorization_url must use https") ||
		d.Subject == nil || d.Subject.Start.Line != 4 || d.Subject.Start.Column != 30 {
		t.Errorf("got %q: %q at %v", d.Summary, d.Detail, d.Subject)
	}
}

// TestDefaultGrant: a connection without grant uses the authorization
// code, and its app still needs redirect_uri.
func TestDefaultGrant(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", `app "a" {
  provider      = "sms77"
  client_id     = "client"
  client_secret = "x"
}

connection "c" {
  app = app.a
}
`)
	cfg, diags := Load(dir, testInputs())
	errs := diags.Errs()
	if len(errs) != 1 || diags[0].Summary != "Missing required argument" || !strings.Contains(diags[0].Detail, `connection "c" uses the authorization code grant`) {
		t.Fatalf("got:\n%s", renderDiags(cfg, diags))
	}
	if g := cfg.Connections["c"].Grant; g != providers.GrantAuthorizationCode {
		t.Errorf("grant %q", g)
	}
}

// TestLocalhostRedirectWarns: a redirect_uri on localhost loads, with a
// warning at its value recommending 127.0.0.1 (RFC 8252 §8.3); the IP
// literals do not warn.
func TestLocalhostRedirectWarns(t *testing.T) {
	for redirect, warn := range map[string]bool{
		"http://localhost:8765/callback": true,
		"http://127.0.0.1:8765/callback": false, "http://[::1]:8765/callback": false,
	} {
		dir := t.TempDir()
		writeFile(t, dir, "main.oauth.hcl", `app "a" {
  provider      = "sms77"
  client_id     = "client"
  client_secret = "x"
  redirect_uri  = "`+redirect+`"
}
`)
		cfg, diags := Load(dir, testInputs())
		if diags.HasErrors() {
			t.Fatalf("%s: %s", redirect, renderDiags(cfg, diags))
		}
		if !warn {
			if len(diags) != 0 {
				t.Errorf("%s: unexpected %s", redirect, renderDiags(cfg, diags))
			}
			continue
		}
		if len(diags) != 1 || diags[0].Summary != "redirect_uri uses localhost" ||
			!strings.Contains(diags[0].Detail, "http://127.0.0.1:8765/") || !strings.Contains(diags[0].Detail, "RFC 8252") {
			t.Fatalf("%s: %s", redirect, renderDiags(cfg, diags))
		}
		if s := diags[0].Subject; s == nil || s.Start.Line != 5 || s.Start.Column != 19 {
			t.Errorf("%s: subject %v, want line 5, column 19", redirect, s)
		}
	}
}

// TestEmulatedGenericProvider: `emulator = true` on the generic provider
// needs no endpoints (the emulator's metadata gives them), and offers the
// device grant.
func TestEmulatedGenericProvider(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", `provider "oauth2" {
  emulator = true
}
app "a" {
  provider      = "oauth2"
  client_id     = "client"
  client_secret = "x"
}
connection "tv" {
  app   = app.a
  grant = "device_code"
}
connection "svc" {
  app   = app.a
  grant = "client_credentials"
}
`)
	cfg, diags := Load(dir, testInputs())
	if len(diags) != 0 {
		t.Fatal(renderDiags(cfg, diags))
	}
	if p := cfg.Providers["oauth2"]; p.Issuer != EmulatorIssuer || !p.Emulator {
		t.Errorf("provider = %+v", p)
	}
	if cfg.Connections["tv"].Grant != providers.GrantDeviceCode || cfg.Apps["a"].RedirectURI != "" {
		t.Errorf("tv = %+v", cfg.Connections["tv"])
	}
}
