package backend

import (
	"errors"
	"os"
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
			err := RedactConnErr(errors.Join(base, errors.New(tt.msg)), secret.New(tt.connStr))
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
	if err := RedactConnErr(base, secret.New("host=db")); err != base {
		t.Errorf("an error without a secret was changed: %v", err)
	}
}

// TestEmergencyDirIgnoredByGit: with a PostgreSQL state the tokens a
// failed state write leaves go to the local folder a local state would
// have, and that folder, created for them, ignores itself in git.
func TestEmergencyDirIgnoredByGit(t *testing.T) {
	cfg := &config.Config{Dir: t.TempDir()}
	cfg.Settings.Backend = &config.Backend{Type: config.BackendPG}
	dir := EmergencyDir(cfg)
	if want := filepath.Join(cfg.Dir, ".oauthform"); dir != want {
		t.Fatalf("EmergencyDir = %q, want %q", dir, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil || !strings.Contains(string(b), "\n*\n") {
		t.Errorf("%s/.gitignore: %q, %v; want it to ignore everything", dir, b, err)
	}
	// A local state's folder is made by the store, not here.
	if dir := EmergencyDir(&config.Config{Dir: t.TempDir()}); dir != "" {
		t.Errorf("EmergencyDir of a local state = %q, want \"\"", dir)
	}
}
