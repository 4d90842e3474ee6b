package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/providers"
)

// cacheFixture is a configuration whose connections depend on every input
// the cache must notice: a non-sensitive variable, env(), file(), and an
// app whose secret comes from a sensitive variable and another's from
// env().
func cacheFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", `variable "extra_scope" {
  type    = string
  default = "write"
}

variable "secret" {
  type      = string
  sensitive = true
}

provider "acme" {
  authorize_url = "https://auth.acme.example/authorize"
  token_url     = "https://auth.acme.example/token"
}

app "acme" {
  provider      = "acme"
  client_id     = "cid"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "other" {
  provider      = "acme"
  client_id     = "cid2"
  client_secret = env("OF_TEST_OTHER_SECRET")
  redirect_uri  = "http://127.0.0.1:8766/callback"
}
`)
	writeFile(t, dir, "conns.oauth.hcl", `connection "c1" {
  app    = app.acme
  scopes = ["read", var.extra_scope]
}

connection "c2" {
  app            = app.other
  params         = { audience = env("OF_TEST_AUDIENCE", "api") }
  refresh_before = "20m"
  username       = trimspace(file("user.txt"))
}
`)
	writeFile(t, dir, "user.txt", "x-token\n")
	return dir
}

// dumpConfig is every decoded value of cfg a command uses, secrets
// included, in a canonical order.
func dumpConfig(cfg *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state %s\n", cfg.Settings.StatePath)
	for _, name := range sortedKeys(cfg.Variables) {
		v := cfg.Variables[name]
		fmt.Fprintf(&b, "var %s %#v %s\n", name, v.Value, v.Source)
	}
	for _, name := range sortedKeys(cfg.Apps) {
		a := cfg.Apps[name]
		fmt.Fprintf(&b, "app %s %s %s %q %s %s\n", name, a.Provider, a.ClientID, a.ClientSecret.Reveal(), a.RedirectURI, a.Profile.TokenURL)
	}
	for _, name := range sortedKeys(cfg.Connections) {
		c := cfg.Connections[name]
		params := make([]string, 0, len(c.Params))
		for k, v := range c.Params {
			params = append(params, k+"="+v)
		}
		slices.Sort(params)
		fmt.Fprintf(&b, "conn %s app=%s scopes=%q params=%q refresh=%s lifetime=%s grant=%s keep=%s giveup=%s user=%s at %s %s\n",
			name, c.App.Name, c.Scopes, params, c.RefreshBefore, c.TokenLifetime, c.Grant, c.KeepAlive, c.GiveUpAfter, c.Username, c.DeclRange, c.NameRange)
	}
	return b.String()
}

// loadCached loads dir through the cache at cachePath (writing what it
// leaves), checks the result is exactly Load's, and says whether the
// cache was used.
func loadCached(t *testing.T, dir string, in Inputs, opts CacheOptions) (*Config, bool) {
	t.Helper()
	cfg, diags, pending, hit := LoadCached(dir, in, opts)
	if err := pending.Write(); err != nil {
		t.Fatal(err)
	}
	full, fullDiags := Load(dir, in)
	if diags.Error() != fullDiags.Error() {
		t.Fatalf("diagnostics with the cache (hit %v):\n%s\nwithout:\n%s", hit, diags.Error(), fullDiags.Error())
	}
	if got, want := dumpConfig(cfg), dumpConfig(full); got != want {
		t.Fatalf("configuration with the cache (hit %v):\n%s\nwithout:\n%s", hit, got, want)
	}
	return cfg, hit
}

func TestConfigCacheInvalidation(t *testing.T) {
	env := []string{"OAUTHFORM_VAR_secret=s1", "OF_TEST_OTHER_SECRET=o1"}
	const build = "v1 exe 1000 1"
	type step struct {
		name    string
		change  func(dir string, in *Inputs, opts *CacheOptions)
		wantHit bool
	}
	steps := []step{
		{"unchanged", func(string, *Inputs, *CacheOptions) {}, true},
		{"file edited", func(dir string, _ *Inputs, _ *CacheOptions) {
			b, _ := os.ReadFile(filepath.Join(dir, "conns.oauth.hcl"))
			writeFile(t, dir, "conns.oauth.hcl", strings.Replace(string(b), `"20m"`, `"30m"`, 1))
		}, false},
		{"unchanged after an edit", func(string, *Inputs, *CacheOptions) {}, true},
		{"file edited, same size", func(dir string, _ *Inputs, _ *CacheOptions) {
			b, _ := os.ReadFile(filepath.Join(dir, "conns.oauth.hcl"))
			writeFile(t, dir, "conns.oauth.hcl", strings.Replace(string(b), `"30m"`, `"40m"`, 1))
		}, false},
		{"file added", func(dir string, _ *Inputs, _ *CacheOptions) {
			writeFile(t, dir, "more.oauth.hcl", "connection \"c3\" {\n  app = app.acme\n}\n")
		}, false},
		{"file removed", func(dir string, _ *Inputs, _ *CacheOptions) {
			if err := os.Remove(filepath.Join(dir, "more.oauth.hcl")); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"variable changed by -var", func(_ string, in *Inputs, _ *CacheOptions) { in.Vars = []string{"extra_scope=admin"} }, false},
		{"variable changed by the environment", func(_ string, in *Inputs, _ *CacheOptions) {
			in.Vars = nil
			in.Environ = append(slices.Clone(in.Environ), "OAUTHFORM_VAR_extra_scope=delete")
		}, false},
		{"variable changed by -var-file", func(dir string, in *Inputs, _ *CacheOptions) {
			writeFile(t, dir, "vars.hcl", "extra_scope = \"from_file\"\n")
			in.VarFiles = []string{filepath.Join(dir, "vars.hcl")}
		}, false},
		{"-var-file edited", func(dir string, _ *Inputs, _ *CacheOptions) {
			writeFile(t, dir, "vars.hcl", "extra_scope = \"edited\"\n")
		}, false},
		{"env() value set", func(_ string, in *Inputs, _ *CacheOptions) {
			in.Environ = append(slices.Clone(in.Environ), "OF_TEST_AUDIENCE=first")
		}, false},
		{"env() value changed", func(_ string, in *Inputs, _ *CacheOptions) {
			in.Environ = append(slices.Clone(in.Environ), "OF_TEST_AUDIENCE=second")
		}, false},
		{"file() changed", func(dir string, _ *Inputs, _ *CacheOptions) { writeFile(t, dir, "user.txt", "y-token\n") }, false},
		{"version changed", func(_ string, _ *Inputs, opts *CacheOptions) { opts.Build = "v2 exe 1000 1" }, false},
		{"validate", func(_ string, in *Inputs, _ *CacheOptions) { in.Validate = true }, false},
		{"validate unchanged", func(string, *Inputs, *CacheOptions) {}, true},
		{"plan again", func(_ string, in *Inputs, _ *CacheOptions) { in.Validate = false }, false},
		// Secrets are decoded afresh on every load: changing one keeps
		// the cache and gives the new secret.
		{"sensitive variable changed", func(_ string, in *Inputs, _ *CacheOptions) {
			in.Environ = append(slices.Clone(in.Environ), "OAUTHFORM_VAR_secret=s2")
		}, true},
		{"env() secret changed", func(_ string, in *Inputs, _ *CacheOptions) {
			in.Environ = append(slices.Clone(in.Environ), "OF_TEST_OTHER_SECRET=o2")
		}, true},
	}
	dir := cacheFixture(t)
	in := Inputs{Environ: env}
	opts := CacheOptions{Path: filepath.Join(t.TempDir(), "cache"), Build: build}
	if _, hit := loadCached(t, dir, in, opts); hit {
		t.Fatal("the first load used a cache that was never written")
	}
	for _, s := range steps {
		s.change(dir, &in, &opts)
		cfg, hit := loadCached(t, dir, in, opts)
		if hit != s.wantHit {
			t.Errorf("%s: cache used = %v, want %v", s.name, hit, s.wantHit)
		}
		switch s.name {
		case "sensitive variable changed":
			if got := cfg.Apps["acme"].ClientSecret.Reveal(); got != "s2" {
				t.Errorf("%s: client_secret %q, want the new value", s.name, got)
			}
		case "env() secret changed":
			if got := cfg.Apps["other"].ClientSecret.Reveal(); got != "o2" {
				t.Errorf("%s: client_secret %q, want the new value", s.name, got)
			}
		}
	}
}

func TestConfigCacheHoldsNoSecret(t *testing.T) {
	dir := cacheFixture(t)
	in := Inputs{Environ: []string{"OAUTHFORM_VAR_secret=sensitive-value-1", "OF_TEST_OTHER_SECRET=env-secret-2"}}
	opts := CacheOptions{Path: filepath.Join(t.TempDir(), "cache"), Build: "b"}
	loadCached(t, dir, in, opts)
	data, err := os.ReadFile(opts.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sensitive-value-1", "env-secret-2", "OF_TEST_OTHER_SECRET", sum([]byte("sensitive-value-1")), sum([]byte("env-secret-2"))} {
		if strings.Contains(string(data), s) {
			t.Errorf("the cache holds %q", s)
		}
	}
	if fi, err := os.Stat(opts.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode: %v %v", fi.Mode(), err)
	}
}

func TestConfigCacheTornOrForeign(t *testing.T) {
	dir := cacheFixture(t)
	in := Inputs{Environ: []string{"OAUTHFORM_VAR_secret=s", "OF_TEST_OTHER_SECRET=o"}}
	opts := CacheOptions{Path: filepath.Join(t.TempDir(), "cache"), Build: "b"}
	loadCached(t, dir, in, opts)
	data, err := os.ReadFile(opts.Path)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"truncated":      data[:len(data)/2],
		"a flipped byte": append(append(slices.Clone(data[:len(data)-10]), data[len(data)-10]^1), data[len(data)-9:]...),
		"empty":          nil,
		"another format": append([]byte("oauthform-config-index 1\n"), data...),
	} {
		if err := os.WriteFile(opts.Path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, hit := loadCached(t, dir, in, CacheOptions{Path: opts.Path, Build: "b"}); hit {
			t.Errorf("%s cache was used", name)
		}
		// loadCached wrote a good cache again.
		if _, hit := loadCached(t, dir, in, opts); !hit {
			t.Errorf("after a %s cache: the rewritten cache was not used", name)
		}
	}
}

// A configuration with a warning is not cached: the warning must be
// reported by every load, with its snippet.
func TestConfigCacheSkipsDiagnostics(t *testing.T) {
	dir := cacheFixture(t)
	in := Inputs{Environ: []string{"OAUTHFORM_VAR_secret=s", "OF_TEST_OTHER_SECRET=o"}, Vars: []string{"undeclared=1"}}
	opts := CacheOptions{Path: filepath.Join(t.TempDir(), "cache"), Build: "b"}
	_, diags, pending, _ := LoadCached(dir, in, opts)
	if len(diags) == 0 || pending != nil {
		t.Fatalf("diagnostics %v, pending cache %v: want a warning and no cache", diags, pending != nil)
	}
}

func TestCacheCodec(t *testing.T) {
	rng := func(file string, line int) hcl.Range {
		return hcl.Range{Filename: file, Start: hcl.Pos{Line: line, Column: 1, Byte: 10 * line}, End: hcl.Pos{Line: line, Column: 9, Byte: 10*line + 8}}
	}
	c := &cacheFile{
		Format: cacheFormat, Build: "v1 exe", Validate: true, Vars: "abc",
		Env:   []cachedRead{{Name: "A", Sum: "1"}, {Name: "B"}},
		Files: []cachedRead{{Name: "user.txt", Sum: "2"}},
		Index: Index{Version: indexVersion, Files: []IndexFile{
			{Name: "a.oauth.hcl", Size: 100, SHA256: "ff", Blocks: []IndexBlock{{Type: "app", Name: "x", Start: 0, End: 50, Line: 1, Column: 1}, {Type: "oauthform", End: 9, Line: 7, Column: 1}}},
			{Name: "b.oauth.hcl", Size: 0, SHA256: "00", Blocks: []IndexBlock{}},
		}},
		Conns: []cachedConn{
			{Name: "c1", App: "x", Scopes: []string{"read", "write"}, Params: map[string]string{"a": "1", "b": ""},
				RefreshBefore: time.Minute, TokenLifetime: -time.Second, KeepAlive: time.Hour, GiveUpAfter: 96 * time.Hour,
				Grant: providers.GrantDeviceCode, Username: "u", DeclRange: rng("a.oauth.hcl", 3), NameRange: rng("a.oauth.hcl", 3)},
			{Name: "c2", App: "x", Scopes: []string{}, Params: map[string]string{}, DeclRange: rng("b.oauth.hcl", 1), NameRange: rng("a.oauth.hcl", 2)},
		},
	}
	data := encodeCacheFile(c)
	got, err := decodeCacheFile(data)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("decode(encode(c)) = %+v, %v; want %+v", got, err, c)
	}
	for n := range len(data) {
		if _, err := decodeCacheFile(data[:n]); err == nil {
			t.Fatalf("a payload cut to %d of %d bytes decoded", n, len(data))
		}
	}
	if _, err := decodeCacheFile(append(slices.Clone(data), 0)); err == nil {
		t.Error("a payload with a trailing byte decoded")
	}
}
