package command

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cacheConfig = `variable "extra" {
  type    = string
  default = "analytics"
}

app "dialer" {
  provider      = "phoneburner"
  client_id     = "id"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "sms" {
  provider      = "sms77"
  client_id     = "id"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8766/callback"
}
`

const cacheConnections = `connection "pb" {
  app            = app.dialer
  refresh_before = env("OF_TEST_REFRESH_BEFORE", "15m")
  params         = { owner_type = "vendor" }
}

connection "sms_main" {
  app    = app.sms
  scopes = ["sms", var.extra]
}
`

// planWith runs plan with version and the cache on or off, and returns
// its output (and, with the cache, whether it was used).
func planWith(t *testing.T, version string, cache bool, args ...string) (out string, hit bool) {
	t.Helper()
	if cache {
		t.Setenv(ConfigCacheEnv, "on")
	} else {
		t.Setenv(ConfigCacheEnv, "off")
	}
	var stdout, stderr strings.Builder
	args = append([]string{"-log-level=debug", "plan", "-no-color"}, args...)
	code := Run(context.Background(), args, &Streams{In: strings.NewReader(""), Out: &stdout, Err: &stderr}, Meta{Version: version})
	if code != 2 && code != 0 {
		t.Fatalf("plan %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	}
	return stdout.String(), strings.Contains(stderr.String(), "connections taken from the cache")
}

// TestPlanSameWithConfigCache changes each input the configuration cache
// depends on and checks that plan then prints exactly what it prints
// without the cache, and that the cache is used only when nothing
// changed.
func TestPlanSameWithConfigCache(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("main.oauth.hcl", cacheConfig)
	write("connections.oauth.hcl", cacheConnections)
	t.Setenv("OF_TEST_REFRESH_BEFORE", "15m")

	version := "1.0.0"
	var args []string
	steps := []struct {
		name    string
		change  func()
		wantHit bool
	}{
		{"first plan", func() {}, false},
		{"unchanged", func() {}, true},
		{"file edited", func() {
			write("connections.oauth.hcl", strings.Replace(cacheConnections, `["sms", var.extra]`, `["sms"]`, 1))
		}, false},
		{"file added", func() { write("more.oauth.hcl", "connection \"sms_2\" {\n  app = app.sms\n}\n") }, false},
		{"unchanged after adding", func() {}, true},
		{"file removed", func() {
			if err := os.Remove("more.oauth.hcl"); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"variable changed", func() { args = []string{"-var", "extra=voice"} }, false},
		{"variable changed in the environment", func() { args = nil; t.Setenv("OAUTHFORM_VAR_extra", "contacts") }, false},
		{"environment value changed", func() { t.Setenv("OF_TEST_REFRESH_BEFORE", "25m") }, false},
		{"version changed", func() { version = "1.0.1" }, false},
		{"unchanged at the end", func() {}, true},
	}
	for _, s := range steps {
		s.change()
		without, _ := planWith(t, version, false, args...)
		with, hit := planWith(t, version, true, args...)
		if with != without {
			t.Errorf("%s: plan with the cache:\n%s\nwithout:\n%s", s.name, with, without)
		}
		if hit != s.wantHit {
			t.Errorf("%s: cache used = %v, want %v", s.name, hit, s.wantHit)
		}
		if s.name == "environment value changed" && !strings.Contains(with, `refresh_before = "25m"`) {
			t.Errorf("%s: the plan does not show the new value:\n%s", s.name, with)
		}
	}
	if _, err := os.Stat(filepath.Join(".oauthform", "config-cache")); err != nil {
		t.Errorf("no cache file: %v", err)
	}
}

func TestConfigCacheEnvInvalid(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("main.oauth.hcl", []byte(cacheConfig+cacheConnections), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ConfigCacheEnv, "no")
	code, out, errOut := runCLI("plan", "-json")
	var j struct {
		Diagnostics []struct{ Summary, Detail string }
	}
	if code != 1 || json.Unmarshal([]byte(out), &j) != nil || len(j.Diagnostics) != 1 || !strings.Contains(j.Diagnostics[0].Detail, ConfigCacheEnv) {
		t.Errorf("plan with %s=no: exit %d\n%s%s", ConfigCacheEnv, code, out, errOut)
	}
}
