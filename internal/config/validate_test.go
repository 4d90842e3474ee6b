package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/providers"
)

// TestRedirectURIPort: a loopback redirect_uri whose port no listener can
// use (0, above 65535, not a number) is an error at the attribute's value,
// found offline rather than after the person approved the grant (issue
// 14, item 8).
func TestRedirectURIPort(t *testing.T) {
	cases := []struct {
		uri    string
		detail string // "" = valid
	}{
		{"http://127.0.0.1:8765/callback", ""},
		{"http://127.0.0.1/callback", ""},
		{"http://127.0.0.1:1/cb", ""},
		{"http://127.0.0.1:65535/cb", ""},
		{"http://[::1]:8765/cb", ""},
		{"http://localhost:8765/cb?x=1:2", ""},
		{"https://app.example.com/oauth/callback", ""},
		{"http://127.0.0.1:99999/cb", "port 99999, above the highest port 65535"},
		{"http://127.0.0.1:65536/cb", "port 65536, above"},
		{"http://127.0.0.1:0/cb", "port 0"},
		{"http://[::1]:0/cb", "port 0"},
		{"http://localhost:00000/cb", "port 0"},
		{"http://127.0.0.1:99999999999999999999/cb", "above the highest port"},
		{"http://127.0.0.1:80a/cb", `port "80a", which is not a number`},
		{"http://[::1]:http/cb", `port "http", which is not a number`},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			dir := t.TempDir()
			src := "app \"sms\" {\n  provider      = \"sms77\"\n  client_id     = \"client\"\n  client_secret = \"x\"\n  redirect_uri  = \"" + c.uri + "\"\n}\n"
			writeFile(t, dir, "main.oauth.hcl", src)
			cfg, diags := Load(dir, testInputs())
			if c.detail == "" {
				if diags.HasErrors() {
					t.Fatalf("unexpected errors:\n%s", renderDiags(cfg, diags))
				}
				return
			}
			errs := diags.Errs()
			if len(errs) != 1 {
				t.Fatalf("want one error, got %d:\n%s", len(errs), renderDiags(cfg, diags))
			}
			d := diags[0]
			if d.Summary != "Invalid redirect_uri" || !strings.Contains(d.Detail, c.detail) || !strings.Contains(d.Detail, "1 to 65535") {
				t.Errorf("got %q: %q; want Invalid redirect_uri with %q and what to do", d.Summary, d.Detail, c.detail)
			}
			// The value of line 5, after `  redirect_uri  = `.
			if d.Subject == nil || d.Subject.Start.Line != 5 || d.Subject.Start.Column != 19 {
				t.Errorf("subject %v, want main.oauth.hcl:5:19", d.Subject)
			}
			if cfg.Apps["sms"].RedirectURI != "" {
				t.Errorf("RedirectURI = %q, want it left unset", cfg.Apps["sms"].RedirectURI)
			}
		})
	}
}

// sensitiveNoValue uses a sensitive variable that has no value where a
// secret belongs, and a list-typed one where a string is needed.
const sensitiveNoValue = `variable "secret" {
  sensitive = true
}

variable "pass" {
  sensitive = true
}

oauthform {
  encryption {
    passphrase = var.pass
  }
}

app "sms" {
  provider      = "sms77"
  client_id     = "client"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "main" {
  app    = app.sms
  scopes = ["sms"]
}
`

// TestValidateUnknownSensitive: validate (Inputs.Validate) needs no value
// for a sensitive variable, as CI validates without secrets; every other
// load still requires one. Type and sensitivity checks still apply to the
// expressions that use it (issue 14, item 8).
func TestValidateUnknownSensitive(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", sensitiveNoValue)

	in := testInputs()
	cfg, diags := Load(dir, in)
	if n := strings.Count(renderDiags(cfg, diags), "No value for required variable"); n != 2 || len(diags.Errs()) != 2 {
		t.Errorf("without Validate: want the two variables reported as missing, got:\n%s", renderDiags(cfg, diags))
	}

	in.Validate = true
	cfg, diags = Load(dir, in)
	if len(diags) > 0 {
		t.Fatalf("with Validate: unexpected diagnostics:\n%s", renderDiags(cfg, diags))
	}
	if c := cfg.Connections["main"]; c == nil || c.App == nil || c.App.Profile == nil {
		t.Fatalf("connection not resolved: %+v", c)
	}
	if v := cfg.Variables["secret"]; v.Value.IsKnown() {
		t.Errorf("var.secret = %#v, want unknown", v.Value)
	}

	t.Run("type still checked", func(t *testing.T) {
		dir := t.TempDir()
		src := strings.Replace(sensitiveNoValue, "variable \"secret\" {\n", "variable \"secret\" {\n  type = list(string)\n", 1)
		writeFile(t, dir, "main.oauth.hcl", src)
		cfg, diags := Load(dir, in)
		errs := diags.Errs()
		if len(errs) != 1 || diags[0].Summary != "Incorrect attribute value type" || diags[0].Subject.Start.Line != 19 {
			t.Errorf("want one type error at line 19 (client_secret), got:\n%s", renderDiags(cfg, diags))
		}
	})
	t.Run("sensitivity still checked", func(t *testing.T) {
		dir := t.TempDir()
		src := strings.Replace(sensitiveNoValue, `client_id     = "client"`, `client_id     = var.secret`, 1)
		writeFile(t, dir, "main.oauth.hcl", src)
		cfg, diags := Load(dir, in)
		if len(diags.Errs()) != 1 || diags[0].Summary != "Sensitive value not allowed" {
			t.Errorf("want Sensitive value not allowed, got:\n%s", renderDiags(cfg, diags))
		}
	})
	t.Run("non-sensitive still required", func(t *testing.T) {
		dir := t.TempDir()
		src := strings.Replace(sensitiveNoValue, "variable \"secret\" {\n  sensitive = true\n}", "variable \"secret\" {\n}", 1)
		writeFile(t, dir, "main.oauth.hcl", src)
		cfg, diags := Load(dir, in)
		if len(diags.Errs()) != 1 || diags[0].Summary != "No value for required variable" {
			t.Errorf("want No value for required variable, got:\n%s", renderDiags(cfg, diags))
		}
	})
}

// TestTokenLifetime: token_lifetime on a provider block sets the profile's
// assumed lifetime and on a connection block overrides it; a value that
// is not a positive duration is an error at the value, naming the
// attribute (issue 14, item 3).
func TestTokenLifetime(t *testing.T) {
	const tmpl = `provider "sms77" {
  token_lifetime = %s
}

app "sms" {
  provider      = "sms77"
  client_id     = "client"
  client_secret = "x"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "main" {
  app            = app.sms
  scopes         = ["sms"]
  token_lifetime = %s
}

connection "plain" {
  app    = app.sms
  scopes = ["sms"]
}
`
	load := func(t *testing.T, provider, conn string) (*Config, hcl.Diagnostics) {
		dir := t.TempDir()
		writeFile(t, dir, "main.oauth.hcl", fmt.Sprintf(tmpl, provider, conn))
		return Load(dir, testInputs())
	}
	cfg, diags := load(t, `"2h"`, `"45m"`)
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", renderDiags(cfg, diags))
	}
	if got := cfg.Providers["sms77"].TokenLifetime; got != 2*time.Hour {
		t.Errorf("provider token_lifetime = %v, want 2h", got)
	}
	if got := cfg.Connections["main"].TokenLifetime; got != 45*time.Minute {
		t.Errorf("connection token_lifetime = %v, want 45m", got)
	}
	if got := cfg.Connections["plain"].TokenLifetime; got != 0 {
		t.Errorf("unset connection token_lifetime = %v, want 0", got)
	}
	if b, _ := providers.Builtin("sms77"); b.TokenLifetime != 0 {
		t.Errorf("the built-in profile was modified: %v", b.TokenLifetime)
	}

	for _, tc := range []struct {
		name, provider, conn string
		line, col            int
		detail               string
	}{
		{"provider not a duration", `"an hour"`, `null`, 2, 20, `"an hour" is not`},
		{"provider zero", `"0s"`, `null`, 2, 20, "must be positive"},
		{"provider negative", `"-1h"`, `null`, 2, 20, "must be positive"},
		{"provider number", `3600`, `null`, 2, 20, `"3600" is not`},
		{"connection not a duration", `null`, `"1 day"`, 15, 20, `"1 day" is not`},
		{"connection negative", `null`, `"-5m"`, 15, 20, "must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := load(t, tc.provider, tc.conn)
			errs := diags.Errs()
			if len(errs) != 1 {
				t.Fatalf("want one error, got:\n%s", renderDiags(cfg, diags))
			}
			d := diags[0]
			if d.Summary != "Invalid token_lifetime" || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("got %q: %q; want Invalid token_lifetime with %q", d.Summary, d.Detail, tc.detail)
			}
			if d.Subject == nil || d.Subject.Start.Line != tc.line || d.Subject.Start.Column != tc.col {
				t.Errorf("subject %v, want main.oauth.hcl:%d:%d", d.Subject, tc.line, tc.col)
			}
		})
	}
}
