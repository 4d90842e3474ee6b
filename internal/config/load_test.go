package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// testEnviron is the environment of every test load, so that the
// process's own environment never changes a result.
var testEnviron = []string{
	"OAUTHFORM_VAR_sms_secret=s3cr3t-sms-value",
	"OAUTHFORM_PASSPHRASE=correct horse battery staple",
	"EMU_URL=http://127.0.0.1:9400",
}

func testInputs() Inputs { return Inputs{Environ: testEnviron} }

func globFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	return files
}

// renderDiags renders diags the way the CLI does, with source snippets.
func renderDiags(cfg *Config, diags hcl.Diagnostics) string {
	var buf bytes.Buffer
	var files map[string]*hcl.File
	if cfg != nil {
		files = cfg.Files()
	}
	w := hcl.NewDiagnosticTextWriter(&buf, files, 100, false)
	_ = w.WriteDiagnostics(diags)
	return buf.String()
}

func TestLoadValidFiles(t *testing.T) {
	for _, path := range globFiles(t, "testdata/valid/*"+FileSuffix) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, diags := LoadFiles("testdata/valid", []string{path}, testInputs())
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", renderDiags(cfg, diags))
			}
			for name, c := range cfg.Connections {
				if c.App == nil || c.App.Profile == nil {
					t.Errorf("connection %s: app or profile not resolved", name)
				}
				if c.Params == nil || c.Scopes == nil {
					t.Errorf("connection %s: nil Params or Scopes", name)
				}
			}
		})
	}
}

// markerRE matches an expected diagnostic written on the offending line.
var markerRE = regexp.MustCompile(`#\s*(ERROR|WARNING):\s*(.+?)\s*$`)

// wantMarkers reads the `# ERROR: <summary>` / `# WARNING: <summary>`
// markers of files as a "file:line" -> "SEVERITY: summary" map (several
// diagnostics on one line are joined with " | " in sorted order).
func wantMarkers(t *testing.T, files ...string) map[string]string {
	t.Helper()
	want := map[string][]string{}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			if m := markerRE.FindStringSubmatch(sc.Text()); m != nil {
				key := fmt.Sprintf("%s:%d", filepath.Base(path), line)
				want[key] = append(want[key], m[1]+": "+m[2])
			}
		}
		f.Close()
	}
	return joinMarkers(want)
}

// gotMarkers is wantMarkers for diagnostics; sourceless ones are keyed
// "-".
func gotMarkers(diags hcl.Diagnostics) map[string]string {
	got := map[string][]string{}
	for _, d := range diags {
		key := "-"
		if d.Subject != nil {
			key = fmt.Sprintf("%s:%d", filepath.Base(d.Subject.Filename), d.Subject.Start.Line)
		}
		sev := "ERROR"
		if d.Severity == hcl.DiagWarning {
			sev = "WARNING"
		}
		got[key] = append(got[key], sev+": "+d.Summary)
	}
	return joinMarkers(got)
}

func joinMarkers(m map[string][]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		slices.Sort(v)
		out[k] = strings.Join(v, " | ")
	}
	return out
}

// TestLoadInvalidFiles loads each file of testdata/invalid alone and
// compares its diagnostics with the markers on its lines, after
// terraform's configs.TestParserLoadConfigFileError.
func TestLoadInvalidFiles(t *testing.T) {
	for _, path := range globFiles(t, "testdata/invalid/*"+FileSuffix) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := wantMarkers(t, path)
			if len(want) == 0 {
				t.Fatal("file has no # ERROR: or # WARNING: marker")
			}
			cfg, diags := LoadFiles("testdata/invalid", []string{path}, testInputs())
			if cfg == nil {
				t.Fatal("nil Config")
			}
			if diff := cmp.Diff(want, gotMarkers(diags)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\n%s", diff, renderDiags(cfg, diags))
			}
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic without Subject: %s", d.Summary)
				}
				if d.Detail == "" {
					t.Errorf("diagnostic without Detail: %s", d.Summary)
				}
			}
		})
	}
}

// TestLoadInputs covers values from outside the files: -var, -var-file
// and OAUTHFORM_VAR_*, each case with the diagnostics it must produce
// ("-" keys those without a source range).
func TestLoadInputs(t *testing.T) {
	const dir = "testdata/inputs"
	files := []string{dir + "/main.oauth.hcl"}
	noSecret := func(env ...string) []string { return env }
	withSecret := func(env ...string) []string { return append(env, "OAUTHFORM_VAR_secret=from-env") }
	tests := map[string]struct {
		in         Inputs
		want       map[string]string
		wantDetail string // a substring of some diagnostic's detail
		check      func(t *testing.T, cfg *Config)
	}{
		"environment": {
			in: Inputs{Environ: withSecret()},
			check: func(t *testing.T, cfg *Config) {
				if got := cfg.Apps["sms"].ClientSecret.Reveal(); got != "from-env" {
					t.Errorf("client_secret = %q", got)
				}
				if got := cfg.Apps["sms"].RedirectURI; got != "http://127.0.0.1:8765/callback" {
					t.Errorf("redirect_uri = %q", got)
				}
			},
		},
		"var file": {
			in: Inputs{VarFiles: []string{dir + "/good.vars.hcl"}, Environ: noSecret()},
			check: func(t *testing.T, cfg *Config) {
				if got := cfg.Apps["sms"].RedirectURI; got != "http://127.0.0.1:9000/callback" {
					t.Errorf("redirect_uri = %q", got)
				}
				if diff := cmp.Diff([]string{"lookup", "sms"}, cfg.Connections["sms"].Scopes); diff != "" {
					t.Errorf("scopes (-want +got):\n%s", diff)
				}
			},
			want: map[string]string{"main.oauth.hcl:25": "WARNING: Duplicate scope"},
		},
		"json var file": {
			in: Inputs{VarFiles: []string{dir + "/good.vars.json"}, Environ: noSecret()},
			check: func(t *testing.T, cfg *Config) {
				if got := cfg.Apps["sms"].RedirectURI; got != "http://127.0.0.1:9100/callback" {
					t.Errorf("redirect_uri = %q", got)
				}
				if cfg.Files()[dir+"/good.vars.json"] == nil {
					t.Errorf("Files() lacks the var file")
				}
			},
		},
		"var list and number": {
			in: Inputs{Vars: []string{"secret=x", `scopes=["lookup", "voice"]`, "port=1234"}, Environ: noSecret()},
			check: func(t *testing.T, cfg *Config) {
				if diff := cmp.Diff([]string{"lookup", "voice"}, cfg.Connections["sms"].Scopes); diff != "" {
					t.Errorf("scopes (-want +got):\n%s", diff)
				}
				if got := cfg.Apps["sms"].RedirectURI; got != "http://127.0.0.1:1234/callback" {
					t.Errorf("redirect_uri = %q", got)
				}
			},
		},
		"var value with equals sign": {
			in: Inputs{Vars: []string{"secret=a=b=c"}, Environ: noSecret()},
			check: func(t *testing.T, cfg *Config) {
				if got := cfg.Apps["sms"].ClientSecret.Reveal(); got != "a=b=c" {
					t.Errorf("client_secret = %q", got)
				}
			},
		},
		"undeclared -var": {
			in:         Inputs{Vars: []string{"secret=x", "sercet=y"}, Environ: noSecret()},
			want:       map[string]string{"-": "ERROR: Value for undeclared variable"},
			wantDetail: `Did you mean "secret"?`,
		},
		"malformed -var": {
			in: Inputs{Vars: []string{"secret"}, Environ: noSecret()},
			want: map[string]string{
				"-":                "ERROR: Invalid -var option",
				"main.oauth.hcl:6": "ERROR: No value for required variable",
			},
			wantDetail: "OAUTHFORM_VAR_secret",
		},
		"-var not a number": {
			in:         Inputs{Vars: []string{"secret=x", "port=eighty"}, Environ: noSecret()},
			want:       map[string]string{"-": "ERROR: Invalid value for variable"},
			wantDetail: "var.port from -var",
		},
		"-var not a list": {
			in:         Inputs{Vars: []string{"secret=x", "scopes=[sms"}, Environ: noSecret()},
			want:       map[string]string{"-": "ERROR: Invalid value for variable"},
			wantDetail: "var.scopes from -var",
		},
		"environment not a number": {
			in:         Inputs{Environ: withSecret("OAUTHFORM_VAR_port=eighty")},
			want:       map[string]string{"-": "ERROR: Invalid value for variable"},
			wantDetail: "the environment variable OAUTHFORM_VAR_port",
		},
		"undeclared in var file": {
			in:   Inputs{VarFiles: []string{dir + "/undeclared.vars.hcl"}, Environ: noSecret()},
			want: wantMarkers(t, dir+"/undeclared.vars.hcl"),
		},
		"var file not a number": {
			in:         Inputs{VarFiles: []string{dir + "/badtype.vars.hcl"}, Environ: noSecret()},
			want:       map[string]string{"badtype.vars.hcl:2": "ERROR: Invalid value for variable"},
			wantDetail: "the -var-file " + dir + "/badtype.vars.hcl",
		},
		"var file with a reference": {
			in: Inputs{VarFiles: []string{dir + "/reference.vars.hcl"}, Environ: noSecret()},
			want: map[string]string{
				"reference.vars.hcl:1": "ERROR: Variables not allowed",
			},
		},
		"var file syntax error": {
			in: Inputs{VarFiles: []string{dir + "/syntax.vars.hcl"}, Environ: noSecret()},
			want: map[string]string{
				"main.oauth.hcl:6":  "ERROR: No value for required variable",
				"syntax.vars.hcl:1": "ERROR: Invalid multi-line string | ERROR: Unterminated template string",
			},
		},
		"missing var file": {
			in: Inputs{VarFiles: []string{dir + "/nope.vars.hcl"}, Environ: withSecret()},
			want: map[string]string{
				"-": "ERROR: Failed to read variables file",
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, diags := LoadFiles(dir, files, tt.in)
			want := tt.want
			if want == nil {
				want = map[string]string{}
			}
			if diff := cmp.Diff(want, gotMarkers(diags)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\n%s", diff, renderDiags(cfg, diags))
			}
			var details strings.Builder
			for _, d := range diags {
				details.WriteString(d.Detail + "\n")
			}
			if tt.wantDetail != "" && !strings.Contains(details.String(), tt.wantDetail) {
				t.Errorf("no diagnostic mentions %q:\n%s", tt.wantDetail, renderDiags(cfg, diags))
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

// TestVariablePrecedence: -var beats -var-file beats the environment
// beats default; within -var and within -var-file, later wins.
func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", `
variable "v" {
  default = "default"
}
variable "n" {
  type = number
}
`)
	writeFile(t, dir, "one.vars.hcl", "v = \"file1\"\nn = 1\n")
	writeFile(t, dir, "two.vars.hcl", "v = \"file2\"\n")
	one, two := filepath.Join(dir, "one.vars.hcl"), filepath.Join(dir, "two.vars.hcl")
	tests := map[string]struct {
		in         Inputs
		want       string
		wantSource VariableSource
	}{
		"default":               {Inputs{}, "default", SourceDefault},
		"env beats default":     {Inputs{Environ: []string{"OAUTHFORM_VAR_v=env"}}, "env", SourceEnv},
		"file beats env":        {Inputs{VarFiles: []string{one}, Environ: []string{"OAUTHFORM_VAR_v=env"}}, "file1", SourceVarFile},
		"later file wins":       {Inputs{VarFiles: []string{one, two}}, "file2", SourceVarFile},
		"earlier file kept":     {Inputs{VarFiles: []string{two, one}}, "file1", SourceVarFile},
		"-var beats file":       {Inputs{Vars: []string{"v=cli"}, VarFiles: []string{one}, Environ: []string{"OAUTHFORM_VAR_v=env"}}, "cli", SourceCLI},
		"later -var wins":       {Inputs{Vars: []string{"v=cli1", "v=cli2"}}, "cli2", SourceCLI},
		"empty -var is a value": {Inputs{Vars: []string{"v="}, VarFiles: []string{one}}, "", SourceCLI},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			in := tt.in
			in.Vars = append(in.Vars, "n=7")
			if in.Environ == nil {
				in.Environ = []string{}
			}
			cfg, diags := Load(dir, in)
			if diags.HasErrors() {
				t.Fatalf("unexpected diagnostics:\n%s", renderDiags(cfg, diags))
			}
			v := cfg.Variables["v"]
			if got := v.Value.AsString(); got != tt.want || v.Source != tt.wantSource {
				t.Errorf("var.v = %q from %s, want %q from %s", got, v.Source, tt.want, tt.wantSource)
			}
			if n := cfg.Variables["n"]; !n.Value.RawEquals(cty.NumberIntVal(7)) || n.Source != SourceCLI {
				t.Errorf("var.n = %#v from %s", n.Value, n.Source)
			}
		})
	}
}

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSensitiveNeverRendered renders every diagnostic of a configuration
// full of mistakes around secrets, the way the CLI does, and checks that
// no secret appears: not a sensitive variable's value (hcl's writer would
// print the values an Expression refers to), not a function's message
// quoting one, not a client_secret.
func TestSensitiveNeverRendered(t *testing.T) {
	const (
		token      = "SuperSecretTokenValue-1"
		passphrase = "PassphraseValue-2"
		literal    = "literal-client-secret-3"
	)
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", `
variable "token" {
  sensitive = true
}
variable "pass" {
  type      = string
  sensitive = true
}
variable "port" {
  type      = number
  sensitive = true
}
oauthform {
  state_path = "${var.pass}.db"
  encryption {
    passphrase = var.pass
  }
}
app "a" {
  provider      = "sms7"
  client_id     = var.token
  client_secret = "`+literal+`"
  redirect_uri  = "http://127.0.0.1:1/cb"
}
app "b" {
  provider      = "sms77"
  client_id     = tonumber(var.token)
  client_secret = var.token
  redirect_uri  = "http://127.0.0.1:1/cb#${var.token}"
}
app "c" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = jsondecode(var.token)
  redirect_uri  = "http://127.0.0.1:1/cb"
}
connection "a" {
  app    = app.a
  params = { x = jsondecode(var.token) }
}
connection "b" {
  app            = app.b
  scopes         = [var.token, "sms"]
  refresh_before = var.token
}
connection "c" {
  app    = app.c
  scopes = [regex("[", var.token)]
}
`)
	cfg, diags := Load(dir, Inputs{
		Vars:    []string{"token=" + token, "port=" + token},
		Environ: []string{"OAUTHFORM_VAR_pass=" + passphrase},
	})
	if len(diags) < 9 {
		t.Errorf("got %d diagnostics, want at least 9:\n%s", len(diags), renderDiags(cfg, diags))
	}
	out := renderDiags(cfg, diags)
	for _, s := range []string{token, passphrase, literal, "SuperSecret"} {
		if strings.Contains(out, s) {
			t.Errorf("rendered diagnostics contain the secret %q:\n%s", s, out)
		}
	}
	for _, d := range diags {
		if d.Expression != nil || d.EvalContext != nil {
			t.Errorf("diagnostic %q keeps its Expression or EvalContext", d.Summary)
		}
	}
	// The secrets did arrive where they belong.
	if got := cfg.Settings.Encryption.Passphrase.Reveal(); got != passphrase {
		t.Errorf("passphrase = %q", got)
	}
	if got := cfg.Apps["b"].ClientSecret.Reveal(); got != token {
		t.Errorf("client_secret = %q", got)
	}
	if s := fmt.Sprintf("%v %+v", cfg.Apps["a"], cfg.Settings.Encryption); strings.Contains(s, literal) || strings.Contains(s, passphrase) {
		t.Errorf("printing the config reveals a secret: %s", s)
	}
}

// TestLoadFiveMistakes: five different mistakes in one file are all
// reported, each with its own line.
func TestLoadFiveMistakes(t *testing.T) {
	path := "testdata/invalid/five_mistakes.oauth.hcl"
	cfg, diags := LoadFiles("testdata/invalid", []string{path}, testInputs())
	errs := diags.Errs()
	if len(errs) != 5 {
		t.Fatalf("got %d errors, want 5:\n%s", len(errs), renderDiags(cfg, diags))
	}
	lines, summaries := map[int]bool{}, map[string]bool{}
	out := renderDiags(cfg, diags)
	for _, d := range diags {
		lines[d.Subject.Start.Line] = true
		summaries[d.Summary] = true
		if want := fmt.Sprintf("on %s line %d", path, d.Subject.Start.Line); !strings.Contains(out, want) {
			t.Errorf("rendered output lacks %q", want)
		}
	}
	if len(lines) != 5 || len(summaries) != 5 {
		t.Errorf("want 5 distinct lines and summaries, got %v and %v", lines, summaries)
	}
}

func TestLoadDuplicateAcrossFiles(t *testing.T) {
	cfg, diags := Load("testdata/duplicate_across", testInputs())
	want := map[string]string{"b.oauth.hcl:3": "ERROR: Duplicate app declaration"}
	if diff := cmp.Diff(want, gotMarkers(diags)); diff != "" {
		t.Fatalf("diagnostics (-want +got):\n%s", diff)
	}
	first := filepath.Join("testdata", "duplicate_across", "a.oauth.hcl") + ":1:1"
	if !strings.Contains(diags[0].Detail, "already declared at "+first) {
		t.Errorf("detail %q does not name %s", diags[0].Detail, first)
	}
	if got := cfg.Apps["sms"].ClientID; got != "a" {
		t.Errorf("the first declaration should win, got client_id %q", got)
	}
}

func TestLoadDirectory(t *testing.T) {
	cfg, diags := Load("testdata/multi", testInputs())
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", renderDiags(cfg, diags))
	}
	var names []string
	for name := range cfg.Files() {
		names = append(names, filepath.Base(name))
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"10_apps.oauth.hcl", "20_connections.oauth.hcl"}, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if c := cfg.Connections["sms"]; c.App != cfg.Apps["sms"] {
		t.Errorf("connection sms does not point at app sms")
	}
}

func TestLoadNoFiles(t *testing.T) {
	dir := t.TempDir()
	cfg, diags := Load(dir, Inputs{})
	if cfg == nil {
		t.Fatal("nil Config")
	}
	if len(diags) != 1 || diags[0].Summary != "No configuration files" || !strings.Contains(diags[0].Detail, dir) {
		t.Fatalf("diagnostics: %v", diags)
	}
	_, diags = Load(filepath.Join(dir, "missing"), Inputs{})
	if len(diags) != 1 || diags[0].Severity != hcl.DiagError {
		t.Fatalf("missing directory: %v", diags)
	}
}

// TestLoadResult checks the decoded values of the DESIGN.md example.
func TestLoadResult(t *testing.T) {
	cfg, diags := LoadFiles("testdata/valid", []string{"testdata/valid/design.oauth.hcl"}, testInputs())
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", renderDiags(cfg, diags))
	}
	if cfg.Settings.StatePath != DefaultStatePath || cfg.Settings.Encryption.Passphrase.Reveal() != "correct horse battery staple" {
		t.Errorf("settings: %+v", cfg.Settings)
	}
	for _, name := range []string{"burner", "sms77", "seven", "buffer", "buffer_v2", "phoneburner", "oauth2", "acme"} {
		if cfg.Providers[name] == nil {
			t.Errorf("provider %s missing", name)
		}
	}
	pb := cfg.Providers["phoneburner"]
	if pb.TokenURL != "http://127.0.0.1:9400/oauth/accesstoken" || !pb.Builtin || pb.Params["owner_type"].Values[0] != "vendor" {
		t.Errorf("phoneburner override: %+v", pb)
	}
	acme := cfg.Providers["acme"]
	if acme.Builtin || acme.ClientAuth != "basic" || acme.RevokeURL != "https://auth.acme.example/revoke" || acme.Params != nil {
		t.Errorf("acme: %+v", acme)
	}
	app := cfg.Apps["sms"]
	if app.Profile != cfg.Providers["sms77"] || app.ClientSecret.Reveal() != "s3cr3t-sms-value" || app.NameRange.Start.Line != 31 {
		t.Errorf("app: %+v", app)
	}
	v := cfg.Variables["sms_secret"]
	if !v.Sensitive || v.Source != SourceEnv {
		t.Errorf("variable: %+v", v)
	}
	c := cfg.Connections["sms_main"]
	want := &Connection{
		Name: "sms_main", App: app, Scopes: []string{"sms", "analytics", "lookup"},
		Params: map[string]string{}, RefreshBefore: 10 * time.Minute, Username: "oauth2", Grant: "authorization_code",
	}
	if diff := cmp.Diff(want, c, cmp.Comparer(func(a, b *App) bool { return a == b }),
		cmp.FilterPath(func(p cmp.Path) bool { return strings.HasSuffix(p.String(), "Range") }, cmp.Ignore())); diff != "" {
		t.Errorf("connection (-want +got):\n%s", diff)
	}
	if c.DeclRange.Filename != "testdata/valid/design.oauth.hcl" || c.DeclRange.Start.Line != 38 {
		t.Errorf("DeclRange = %s", c.DeclRange)
	}

	cfg, diags = LoadFiles("testdata/valid", []string{"testdata/valid/functions.oauth.hcl"}, testInputs())
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", renderDiags(cfg, diags))
	}
	c = cfg.Connections["sms"]
	if diff := cmp.Diff([]string{"sms", "analytics", "lookup", "voice"}, c.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if c.RefreshBefore != 10*time.Minute || c.App.ClientID != "client-staging" || c.App.RedirectURI != "http://127.0.0.1:8765/callback" {
		t.Errorf("connection: %+v, app %+v", c, c.App)
	}
	if cfg.Settings.StatePath != ".oauthform/tokens.db" || cfg.Settings.Encryption.Passphrase.Reveal() != "correct horse battery staple" {
		t.Errorf("settings: %+v", cfg.Settings)
	}
	if got := cfg.Variables["nothing"].Value; !got.IsNull() {
		t.Errorf("var.nothing = %#v, want null", got)
	}
}

// TestSanitize shows why sanitize exists: hcl's text writer prints the
// values an Expression refers to, which sanitize drops, and it scrubs a
// known secret from a message.
func TestSanitize(t *testing.T) {
	const value = "hunter2-secret"
	expr, _ := hclsyntax.ParseExpression([]byte("var.token"), "x.hcl", hcl.InitialPos)
	mk := func() hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity:   hcl.DiagError,
			Summary:    "Bad",
			Detail:     "the value " + value + " is bad",
			Subject:    expr.Range().Ptr(),
			Expression: expr,
			EvalContext: &hcl.EvalContext{Variables: map[string]cty.Value{
				"var": cty.ObjectVal(map[string]cty.Value{"token": cty.StringVal(value)}),
			}},
		}}
	}
	if raw := renderDiags(nil, mk()); strings.Count(raw, value) < 2 {
		t.Fatalf("expected the unsanitized rendering to show the value twice:\n%s", raw)
	}
	diags := mk()
	sanitize(diags, []string{value, "abc"})
	if out := renderDiags(nil, diags); strings.Contains(out, value) || !strings.Contains(out, "the value (sensitive) is bad") {
		t.Errorf("sanitized rendering:\n%s", out)
	}
}

// TestTokenTypeKnob: token_type is Bearer unless a provider block
// declares another.
func TestTokenTypeKnob(t *testing.T) {
	cfg, diags := LoadFiles("testdata/valid", []string{"testdata/valid/generic.oauth.hcl"}, testInputs())
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", renderDiags(cfg, diags))
	}
	for name, want := range map[string]string{"acme": "DPoP", "public": "Bearer", "oauth2": "Bearer", "sms77": "Bearer", "phoneburner": "Bearer"} {
		if got := cfg.Providers[name].TokenType; got != want {
			t.Errorf("provider %s: token_type %q, want %q", name, got, want)
		}
	}
}

// A connection's username (git's credential helper) defaults to oauth2 and
// must be one non-empty line.
func TestConnectionUsername(t *testing.T) {
	dir := t.TempDir()
	write := func(username string) {
		body := `app "a" {
  provider      = "sms77"
  client_id     = "id"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
connection "c" {
  app = app.a
` + username + `}
`
		if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`  username = "x-access-token"` + "\n")
	cfg, diags := Load(dir, Inputs{Environ: []string{}})
	if diags.HasErrors() || cfg.Connections["c"].Username != "x-access-token" {
		t.Fatalf("username = %q, %v", cfg.Connections["c"].Username, diags)
	}
	write(`  username = ""` + "\n")
	if _, diags := Load(dir, Inputs{Environ: []string{}}); !diags.HasErrors() || !strings.Contains(diags.Error(), "main.oauth.hcl:9") {
		t.Errorf("an empty username: %v", diags)
	}
}
