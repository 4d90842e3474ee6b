package config

import (
	"strings"
	"testing"
	"time"
)

const healthApp = "app \"sms\" {\n  provider      = \"sms77\"\n  client_id     = \"client\"\n  client_secret = \"x\"\n  redirect_uri  = \"http://127.0.0.1:8765/cb\"\n}\n"

// TestGiveUpAfter: give_up_after in the oauthform block is the default of
// every connection, a connection's own wins, neither gives 96h; a value
// that is not a positive duration is an error at the value.
func TestGiveUpAfter(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", "oauthform {\n  give_up_after = \"2h\"\n  on_failure = [\"notify\", \"-x\"]\n}\n"+healthApp+
		"connection \"a\" {\n  app = app.sms\n}\nconnection \"b\" {\n  app = app.sms\n  give_up_after = \"30m\"\n}\n")
	cfg, diags := Load(dir, testInputs())
	if diags.HasErrors() {
		t.Fatalf("unexpected errors:\n%s", renderDiags(cfg, diags))
	}
	if got := cfg.EffectiveGiveUpAfter(cfg.Connections["a"]); got != 2*time.Hour {
		t.Errorf("a: %s, want the block's 2h", got)
	}
	if got := cfg.EffectiveGiveUpAfter(cfg.Connections["b"]); got != 30*time.Minute {
		t.Errorf("b: %s, want its own 30m", got)
	}
	if got := strings.Join(cfg.Settings.OnFailure, " "); got != "notify -x" {
		t.Errorf("on_failure %q", got)
	}
	if got := (&Config{}).EffectiveGiveUpAfter(&Connection{}); got != 96*time.Hour {
		t.Errorf("default %s", got)
	}

	for _, bad := range []struct {
		src, summary string
		line, col    int
	}{
		{"oauthform {\n  give_up_after = \"soon\"\n}\n" + healthApp, "Invalid give_up_after", 2, 19},
		{healthApp + "connection \"a\" {\n  app = app.sms\n  give_up_after = \"-1h\"\n}\n", "Invalid give_up_after", 9, 19},
		{"oauthform {\n  on_failure = []\n}\n" + healthApp, "Invalid on_failure", 2, 16},
	} {
		dir := t.TempDir()
		writeFile(t, dir, "main.oauth.hcl", bad.src)
		cfg, diags := Load(dir, testInputs())
		errs := diags.Errs()
		if len(errs) != 1 {
			t.Fatalf("want one error, got:\n%s", renderDiags(cfg, diags))
		}
		d := diags[0]
		if d.Summary != bad.summary || d.Subject == nil || d.Subject.Start.Line != bad.line || d.Subject.Start.Column != bad.col {
			t.Errorf("got %q at %v, want %q at %d:%d", d.Summary, d.Subject, bad.summary, bad.line, bad.col)
		}
	}
}
