package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

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
