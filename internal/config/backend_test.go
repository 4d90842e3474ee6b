package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oauthform/oauthform/internal/keys"
	"github.com/oauthform/oauthform/internal/secret"
)

// backendApp is an app and a connection after the oauthform block, so that
// each case is a whole configuration.
const backendApp = `
app "sms" {
  provider      = "sms77"
  client_id     = "cid"
  client_secret = "csecret"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
connection "sms_main" {
  app    = app.sms
  scopes = ["sms"]
}
`

// TestBackendBlock decodes the oauthform block's backend forms: each case
// is an oauthform block (line 1 of main.oauth.hcl is its first line), the
// diagnostics it gives by "file:line", and a check of the Settings.
func TestBackendBlock(t *testing.T) {
	const pgURL = "postgres://team@db.example:5432/oauth?sslmode=verify-full"
	env := []string{"OAUTHFORM_PG=" + pgURL, "EMPTY="}
	tests := map[string]struct {
		src   string
		vars  []string
		want  map[string]string
		check func(t *testing.T, s Settings)
	}{
		"no backend is local at the default path": {
			src: "oauthform {\n}\n",
			check: func(t *testing.T, s Settings) {
				if s.Backend != nil || s.StatePath != DefaultStatePath {
					t.Errorf("Backend = %+v, StatePath = %q", s.Backend, s.StatePath)
				}
			},
		},
		"pg from the environment, default schema": {
			src: "oauthform {\n  backend \"pg\" {\n    conn_str = env(\"OAUTHFORM_PG\")\n  }\n}\n",
			check: func(t *testing.T, s Settings) {
				b := s.Backend
				if b == nil || b.Type != BackendPG || b.ConnStr.Reveal() != pgURL || b.Schema != DefaultPGSchema {
					t.Fatalf("Backend = %+v", b)
				}
				if b.DeclRange.Start.Line != 2 || b.TypeRange.Start.Line != 2 {
					t.Errorf("ranges: %v %v", b.DeclRange, b.TypeRange)
				}
				if strings.Contains(fmt.Sprintf("%v %+v", b.ConnStr, b), "team@") {
					t.Errorf("the connection string is printed: %+v", b)
				}
			},
		},
		"pg with schema_name": {
			src: "oauthform {\n  backend \"pg\" {\n    conn_str    = env(\"OAUTHFORM_PG\")\n    schema_name = \"team_oauth\"\n  }\n}\n",
			check: func(t *testing.T, s Settings) {
				if s.Backend == nil || s.Backend.Schema != "team_oauth" {
					t.Errorf("Backend = %+v", s.Backend)
				}
			},
		},
		"pg from a sensitive variable": {
			src:  "variable \"pg\" {\n  sensitive = true\n}\noauthform {\n  backend \"pg\" {\n    conn_str = var.pg\n  }\n}\n",
			vars: []string{"pg=host=db user=team password=hunter2 dbname=oauth"},
			check: func(t *testing.T, s Settings) {
				if s.Backend == nil || s.Backend.ConnStr.Reveal() != "host=db user=team password=hunter2 dbname=oauth" {
					t.Errorf("Backend = %+v", s.Backend)
				}
			},
		},
		"pg with encryption": {
			src: "oauthform {\n  backend \"pg\" {\n    conn_str = env(\"OAUTHFORM_PG\")\n  }\n  encryption {\n    passphrase = \"p\"\n  }\n}\n",
			check: func(t *testing.T, s Settings) {
				if s.Backend == nil || s.Encryption == nil {
					t.Errorf("Backend = %+v, Encryption = %+v", s.Backend, s.Encryption)
				}
			},
		},
		"key providers, enforced and a fallback": {
			src: "oauthform {\n  encryption {\n    passphrase_command = [\"pass\", \"show\", \"oauthform/prod\"]\n    enforced = true\n" +
				"    fallback {\n      key_file = \"old.key\"\n    }\n  }\n}\n",
			check: func(t *testing.T, s Settings) {
				e := s.Encryption
				if e == nil || strings.Join(e.Key.Command, " ") != "pass show oauthform/prod" || !e.Enforced ||
					e.Fallback == nil || e.Fallback.KeyFile != "old.key" || !e.Passphrase.IsZero() {
					t.Fatalf("Encryption = %+v", e)
				}
				// Resolved once: later calls return what the first found.
				calls := 0
				for range 2 {
					if err := e.Resolve(func(src keys.Source) (secret.Secret, error) { calls++; return secret.New("k-" + src.Kind()), nil }); err != nil {
						t.Fatal(err)
					}
				}
				if calls != 2 || e.Passphrase.Reveal() != "k-passphrase_command" || e.FallbackPassphrase.Reveal() != "k-key_file" {
					t.Errorf("resolved %d times: %v, %v", calls, e.Passphrase, e.FallbackPassphrase)
				}
			},
		},
		"enforced without a key provider": {
			src: "oauthform {\n  encryption {\n    enforced = true\n  }\n}\n",
			check: func(t *testing.T, s Settings) {
				if e := s.Encryption; e == nil || !e.Enforced || !e.Key.IsZero() || !strings.HasSuffix(e.EnforcedAt(), "main.oauth.hcl line 3") {
					t.Errorf("Encryption = %+v", e)
				}
			},
		},
		"keyring": {
			src: "oauthform {\n  encryption {\n    keyring = \"oauthform-prod\"\n  }\n}\n",
			check: func(t *testing.T, s Settings) {
				if e := s.Encryption; e == nil || e.Key.Keyring != "oauthform-prod" || e.Enforced {
					t.Errorf("Encryption = %+v", e)
				}
			},
		},
		"explicit local backend": {
			src: "oauthform {\n  backend \"local\" {\n    path = \"state/oauth.db\"\n  }\n}\n",
			check: func(t *testing.T, s Settings) {
				if s.Backend == nil || s.Backend.Type != BackendLocal || s.Backend.Path != "state/oauth.db" || s.StatePath != "state/oauth.db" {
					t.Errorf("Backend = %+v, StatePath = %q", s.Backend, s.StatePath)
				}
			},
		},
		"local backend without path": {
			src: "oauthform {\n  backend \"local\" {\n  }\n}\n",
			check: func(t *testing.T, s Settings) {
				if s.Backend == nil || s.Backend.Type != BackendLocal || s.StatePath != DefaultStatePath {
					t.Errorf("Backend = %+v, StatePath = %q", s.Backend, s.StatePath)
				}
			},
		},
		"unknown type": {
			src:  "oauthform {\n  backend \"postgres\" {\n    conn_str = \"x\"\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:2": "ERROR: Unknown backend type"},
		},
		"typo in type": {
			src:  "oauthform {\n  backend \"locl\" {\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:2": "ERROR: Unknown backend type"},
		},
		"no label": {
			src:  "oauthform {\n  backend {\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:2": "ERROR: Missing type for backend"},
		},
		"missing conn_str": {
			src:  "oauthform {\n  backend \"pg\" {\n    schema_name = \"x\"\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:2": "ERROR: Missing required argument"},
			check: func(t *testing.T, s Settings) {
				if s.Backend != nil {
					t.Errorf("Backend = %+v, want nil after an error", s.Backend)
				}
			},
		},
		"empty conn_str": {
			src:  "oauthform {\n  backend \"pg\" {\n    conn_str = env(\"EMPTY\")\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:3": "ERROR: Invalid value"},
		},
		"unset environment variable": {
			src:  "oauthform {\n  backend \"pg\" {\n    conn_str = env(\"NOT_SET_ANYWHERE\")\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:3": "ERROR: Invalid function argument"},
		},
		"not a connection string": {
			src:  "oauthform {\n  backend \"pg\" {\n    conn_str = \"db.example\"\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:3": "ERROR: Invalid conn_str"},
		},
		"literal password": {
			src:  "oauthform {\n  backend \"pg\" {\n    conn_str = \"postgres://team:hunter2@db.example/oauth\"\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:2": "WARNING: Password in the configuration"},
			check: func(t *testing.T, s Settings) {
				if s.Backend == nil {
					t.Error("a warning must not drop the backend")
				}
			},
		},
		"literal without password": {
			src: "oauthform {\n  backend \"pg\" {\n    conn_str = \"postgres://team@db.example/oauth?sslmode=require\"\n  }\n}\n",
		},
		"invalid schema_name": {
			src:  "oauthform {\n  backend \"pg\" {\n    conn_str    = env(\"OAUTHFORM_PG\")\n    schema_name = \"Team-OAuth\"\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:4": "ERROR: Invalid schema_name"},
		},
		"reserved schema_name": {
			src:  "oauthform {\n  backend \"pg\" {\n    conn_str    = env(\"OAUTHFORM_PG\")\n    schema_name = \"pg_catalog\"\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:4": "ERROR: Invalid schema_name"},
		},
		"local argument in pg": {
			src:  "oauthform {\n  backend \"pg\" {\n    conn_str = env(\"OAUTHFORM_PG\")\n    path     = \"x\"\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:4": "ERROR: Unsupported argument"},
		},
		"two backends": {
			src:  "oauthform {\n  backend \"pg\" {\n    conn_str = env(\"OAUTHFORM_PG\")\n  }\n  backend \"local\" {\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:5": "ERROR: Duplicate backend block"},
			check: func(t *testing.T, s Settings) {
				if s.Backend == nil || s.Backend.Type != BackendPG {
					t.Errorf("Backend = %+v, want the first block's", s.Backend)
				}
			},
		},
		"pg and state_path": {
			src:  "oauthform {\n  state_path = \"s.db\"\n  backend \"pg\" {\n    conn_str = env(\"OAUTHFORM_PG\")\n  }\n}\n",
			want: map[string]string{"main.oauth.hcl:2": "ERROR: Conflicting state settings"},
		},
		"local and state_path": {
			src:  "oauthform {\n  backend \"local\" {\n    path = \"a.db\"\n  }\n  state_path = \"s.db\"\n}\n",
			want: map[string]string{"main.oauth.hcl:5": "ERROR: Conflicting state settings"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "main.oauth.hcl", tt.src+backendApp)
			cfg, diags := Load(dir, Inputs{Vars: tt.vars, Environ: env})
			want := tt.want
			if want == nil {
				want = map[string]string{}
			}
			if diff := cmp.Diff(want, gotMarkers(diags)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\n%s", diff, renderDiags(cfg, diags))
			}
			for _, d := range diags {
				if d.Subject == nil || d.Detail == "" {
					t.Errorf("diagnostic without Subject or Detail: %s", d.Summary)
				}
			}
			if out := renderDiags(cfg, diags); strings.Contains(out, "hunter2") || strings.Contains(out, "team@db") {
				t.Errorf("a diagnostic shows the connection string:\n%s", out)
			}
			if tt.check != nil {
				tt.check(t, cfg.Settings)
			}
		})
	}
}

// TestBackendDiagnosticDetails checks the advice the backend errors give.
func TestBackendDiagnosticDetails(t *testing.T) {
	tests := map[string]struct{ src, want string }{
		"postgres means pg": {"oauthform {\n  backend \"postgres\" {\n  }\n}\n", `backend is called "pg"`},
		"typo suggests":     {"oauthform {\n  backend \"locl\" {\n  }\n}\n", `Did you mean "local"?`},
		"missing conn_str":  {"oauthform {\n  backend \"pg\" {\n  }\n}\n", `env("OAUTHFORM_PG")`},
		"conflict names the block": {"oauthform {\n  state_path = \"s.db\"\n  backend \"pg\" {\n    conn_str = \"host=x\"\n  }\n}\n",
			"main.oauth.hcl:3:3"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "main.oauth.hcl", tt.src+backendApp)
			cfg, diags := Load(dir, Inputs{Environ: []string{}})
			if out := renderDiags(cfg, diags); !strings.Contains(out, tt.want) {
				t.Errorf("no diagnostic says %q:\n%s", tt.want, out)
			}
		})
	}
}

// TestConnStrNeverRendered: a conn_str that is refused is not quoted in
// the detail, and its diagnostic says that its source must not be shown
// (the CLI then prints the position without the line).
func TestConnStrNeverRendered(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", "oauthform {\n  backend \"pg\" {\n    conn_str = \"db:hunter2\"\n  }\n}\n"+backendApp)
	_, diags := Load(dir, Inputs{Environ: []string{}})
	if len(diags) != 1 || diags[0].Summary != "Invalid conn_str" {
		t.Fatalf("diagnostics: %v", diags)
	}
	if d := diags[0]; !SubjectIsSensitive(d) || strings.Contains(d.Detail, "hunter2") {
		t.Errorf("the conn_str may be shown: sensitive subject %v, detail %q", SubjectIsSensitive(d), d.Detail)
	}
}

func TestConnStrHasPassword(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://u:p@h/db":                    true,
		"postgresql://u:p@h:5432/db":             true,
		"postgres://u@h/db":                      false,
		"postgres://h:5432/db":                   false,
		"postgres://u@h/db?password=p":           true,
		"host=h user=u password=p":               true,
		"password=p host=h":                      true,
		"host=h user=u dbname=db":                false,
		"host=h user=u passfile=/home/u/.pgpass": false,
	} {
		if got := connStrHasPassword(s); got != want {
			t.Errorf("connStrHasPassword(%q) = %v, want %v", s, got, want)
		}
	}
}
