package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/secret"
)

// TestRedactConnErr: an error that quotes a connection string loses it
// and its password, and still unwraps to the original.
func TestRedactConnErr(t *testing.T) {
	base := errors.New("base")
	tests := map[string]struct{ connStr, msg string }{
		"url":           {"postgres://team:hunter2@db:5432/oauth", "cannot use postgres://team:hunter2@db:5432/oauth (password hunter2)"},
		"url escaped":   {"postgres://team:p%40ss%2Fw0rd@db/oauth", "password p@ss/w0rd or p%40ss%2Fw0rd"},
		"url parameter": {"postgres://team@db/oauth?password=hunter2", "bad password=hunter2"},
		"keyword":       {"host=db user=team password=hunter2 dbname=oauth", "cannot parse host=db user=team password=hunter2: hunter2"},
		"quoted":        {"host=db password='hunter 2' dbname=oauth", "pw 'hunter 2' hunter 2"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := redactConnErr(errors.Join(base, errors.New(tt.msg)), secret.New(tt.connStr))
			for _, s := range []string{"hunter2", "hunter 2", "p@ss/w0rd", "p%40ss%2Fw0rd"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("%q still holds %q", err, s)
				}
			}
			if !errors.Is(err, base) {
				t.Error("the redacted error does not unwrap to the original")
			}
		})
	}
	if err := redactConnErr(base, secret.New("host=db")); err != base {
		t.Errorf("an error without a secret was changed: %v", err)
	}
}

// TestPGUnreachable: a pg backend whose server cannot be reached fails
// with advice, without showing the password, and writes nothing locally.
func TestPGUnreachable(t *testing.T) {
	dir := t.TempDir()
	src := "oauthform {\n  backend \"pg\" {\n    conn_str = env(\"OAUTHFORM_PG\")\n  }\n}\n" +
		"app \"sms\" {\n  provider = \"sms77\"\n  client_id = \"cid\"\n  client_secret = \"csecret\"\n  redirect_uri = \"http://127.0.0.1:8765/cb\"\n}\n" +
		"connection \"c\" {\n  app = app.sms\n  scopes = [\"sms\"]\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"plan"}, {"show"}, {"token", "c"}, {"init"}, {"state", "list"}} {
		cmd := exec.Command("oauthform", append([]string{"-chdir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "NO_COLOR=1",
			"OAUTHFORM_PG=postgres://team:hunter2-secret@127.0.0.1:1/oauth?connect_timeout=5")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err == nil {
			t.Errorf("%v succeeded without a database", args)
		}
		out := stdout.String() + stderr.String()
		if !strings.Contains(out, "Cannot connect to the state's database") || !strings.Contains(out, "postgres://127.0.0.1:1/oauth?schema=oauthform") {
			t.Errorf("%v:\n%s", args, out)
		}
		if strings.Contains(out, "hunter2") {
			t.Errorf("%v shows the password:\n%s", args, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".oauthform", "state.db")); err == nil {
		t.Error("a local state was created")
	}
}

// TestEmergencyDirIgnoredByGit: with a PostgreSQL state the tokens a
// failed state write leaves go to the local folder a local state would
// have, and that folder, created for them, ignores itself in git.
func TestEmergencyDirIgnoredByGit(t *testing.T) {
	cfg := &config.Config{Dir: t.TempDir()}
	cfg.Settings.Backend = &config.Backend{Type: config.BackendPG}
	dir := emergencyDir(cfg)
	if want := filepath.Join(cfg.Dir, ".oauthform"); dir != want {
		t.Fatalf("emergencyDir = %q, want %q", dir, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil || !strings.Contains(string(b), "\n*\n") {
		t.Errorf("%s/.gitignore: %q, %v; want it to ignore everything", dir, b, err)
	}
	// A local state's folder is made by the store, not here.
	if dir := emergencyDir(&config.Config{Dir: t.TempDir()}); dir != "" {
		t.Errorf("emergencyDir of a local state = %q, want \"\"", dir)
	}
}
