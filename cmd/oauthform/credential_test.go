//go:build linux || darwin

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// credWorld is a directory with one sms77 connection "c" (username
// x-token) whose tokens the emulator issued, expiring in expiresIn.
type credWorld struct {
	dir   string
	emu   *emulator.Server
	check *providers.Client
}

func newCredWorld(t *testing.T, expiresIn time.Duration) *credWorld {
	t.Helper()
	emu, err := emulator.New(emulator.Options{Provider: "sms77",
		Clients: []emulator.Client{{ID: "cid", Secret: "csecret", RedirectURIs: []string{"http://127.0.0.1:8765/cb"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	b, _ := providers.Builtin("sms77")
	p, _ := b.Rebase(srv.URL)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`provider "sms77" {
  authorize_url = %q
  token_url     = %q
  check_url     = %q
}
app "sms" {
  provider      = "sms77"
  client_id     = "cid"
  client_secret = "csecret"
  redirect_uri  = "http://127.0.0.1:8765/cb"
}
connection "c" {
  app            = app.sms
  scopes         = ["sms"]
  refresh_before = "1m"
  username       = "x-token"
}
`, p.AuthorizeURL, p.TokenURL, p.CheckURL)
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(dir, ".oauthform", "state.db"), state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	ts, err := emu.IssueTokens("cid", []string{"sms"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, &state.Record{Conn: "c", Provider: "sms77", ClientID: "cid", Scopes: []string{"sms"},
		RedirectURI: "http://127.0.0.1:8765/cb", RefreshBefore: time.Minute,
		Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken),
		TokenType: "Bearer", Expiry: time.Now().Add(expiresIn), Status: state.StatusActive}); err != nil {
		t.Fatal(err)
	}
	_ = st.Unlock(ctx)
	_ = st.Close()
	return &credWorld{dir: dir, emu: emu, check: &providers.Client{Profile: p, ClientID: "cid"}}
}

// run runs name with args and stdin; it returns stdout, and the exit
// status (-1 when it did not run).
func (w *credWorld) run(t *testing.T, stdin, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "HOME="+home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "KUBECONFIG="+filepath.Join(home, "none"))
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		t.Logf("%s %v: exit %d\n%s", name, args, ee.ExitCode(), stderr.String())
		return stdout.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	return stdout.String(), 0
}

func (w *credWorld) accepted(t *testing.T, tok string) {
	t.Helper()
	if _, err := w.check.Check(context.Background(), secret.New(tok)); err != nil {
		t.Errorf("the API refuses the token handed out: %v", err)
	}
}

// gitFields parses git's credential output.
func gitFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// git's own `credential fill` runs the helper: it answers the
// connection's username, a token the API accepts and its expiry; `git
// credential reject` (erase) marks the token refused, and the next fill
// refreshes it.
func TestGitCredentialHelper(t *testing.T) {
	w := newCredWorld(t, time.Hour)
	helper := "credential.helper=!oauthform -chdir " + w.dir + " credential git c"
	out, code := w.run(t, "protocol=https\nhost=example.test\n\n", "git", "-c", helper, "credential", "fill")
	if code != 0 {
		t.Fatalf("git credential fill: exit %d", code)
	}
	f := gitFields(out)
	if f["username"] != "x-token" || f["host"] != "example.test" {
		t.Errorf("git credential fill printed %q", out)
	}
	w.accepted(t, f["password"])
	// git 2.41 and later pass password_expiry_utc on; the test image's git
	// is older, so the helper's own answer is read.
	out, code = w.run(t, "protocol=https\nhost=example.test\nfuture_key=x\n\n", "oauthform", "-chdir", w.dir, "credential", "git", "c", "get")
	direct := gitFields(out)
	exp, err := strconv.ParseInt(direct["password_expiry_utc"], 10, 64)
	if code != 0 || direct["password"] != f["password"] || err != nil || time.Unix(exp, 0).Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("credential git c get: exit %d, %q; want the same token and an expiry about an hour ahead", code, out)
	}

	// The host refused it: git erases; the next fill gets a new token.
	reject := fmt.Sprintf("protocol=https\nhost=example.test\nusername=x-token\npassword=%s\n\n", f["password"])
	if _, code := w.run(t, reject, "git", "-c", helper, "credential", "reject"); code != 0 {
		t.Fatalf("git credential reject: exit %d", code)
	}
	out, code = w.run(t, "protocol=https\nhost=example.test\n\n", "git", "-c", helper, "credential", "fill")
	if code != 0 {
		t.Fatalf("git credential fill after reject: exit %d", code)
	}
	if again := gitFields(out)["password"]; again == f["password"] || again == "" {
		t.Errorf("after a reject, fill handed out the refused token again")
	} else {
		w.accepted(t, again)
	}
	if st := w.emu.Stats(); st.Refreshes != 1 || st.Rejections != 0 {
		t.Errorf("emulator: %d refreshes, %d rejections; want 1 and 0", st.Refreshes, st.Rejections)
	}
}

// 50 concurrent git helper calls on an expiring connection of a provider
// that rotates refresh tokens: one refresh at the provider, none rejected,
// and every answer carries the same token.
func TestGitCredentialHelperConcurrent(t *testing.T) {
	w := newCredWorld(t, 20*time.Second)
	const calls = 50
	outs := make([]string, calls)
	codes := make([]int, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], codes[i] = w.run(t, "protocol=https\nhost=example.test\n\n", "oauthform", "-chdir", w.dir, "credential", "git", "c", "get")
		}()
	}
	wg.Wait()
	tokens := map[string]bool{}
	for i := range calls {
		if codes[i] != 0 {
			t.Errorf("call %d: exit %d", i, codes[i])
		}
		tokens[gitFields(outs[i])["password"]] = true
	}
	if st := w.emu.Stats(); st.Refreshes != 1 || st.Rejections != 0 {
		t.Errorf("emulator: %d refreshes, %d rejections (%s); want 1 and 0", st.Refreshes, st.Rejections, st.LastRejection)
	}
	if len(tokens) != 1 {
		t.Errorf("the answers carry %d distinct tokens, want 1", len(tokens))
	}
	for tok := range tokens {
		w.accepted(t, tok)
	}
}

// credential kubectl prints an ExecCredential in the apiVersion kubectl
// asks for in KUBERNETES_EXEC_INFO, with a token the API accepts and its
// expiry. (The kubectl on the test image does not run exec plugins, so the
// document is checked against client-go's schema here.)
func TestKubectlExecCredential(t *testing.T) {
	w := newCredWorld(t, time.Hour)
	for _, tc := range []struct{ execInfo, want string }{
		{"", "client.authentication.k8s.io/v1"},
		{`{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}`, "client.authentication.k8s.io/v1beta1"},
	} {
		t.Setenv("KUBERNETES_EXEC_INFO", tc.execInfo)
		out, code := w.run(t, "", "oauthform", "-chdir", w.dir, "credential", "kubectl", "c")
		if code != 0 {
			t.Fatalf("credential kubectl: exit %d", code)
		}
		var doc struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
			Status     struct {
				Token               string `json:"token"`
				ExpirationTimestamp string `json:"expirationTimestamp"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		exp, err := time.Parse(time.RFC3339, doc.Status.ExpirationTimestamp)
		if doc.Kind != "ExecCredential" || doc.APIVersion != tc.want || err != nil || exp.Before(time.Now().Add(50*time.Minute)) {
			t.Errorf("ExecCredential = %s; want kind ExecCredential, apiVersion %s, an expiry about an hour ahead", out, tc.want)
		}
		w.accepted(t, doc.Status.Token)
	}
	t.Setenv("KUBERNETES_EXEC_INFO", `{"apiVersion":"client.authentication.k8s.io/v1alpha1"}`)
	if out, code := w.run(t, "", "oauthform", "-chdir", w.dir, "credential", "kubectl", "c"); code != 1 || out != "" {
		t.Errorf("an unsupported apiVersion: exit %d, %q; want 1 and nothing on stdout", code, out)
	}
}

// curl reads the Authorization header from the config line; exec hands
// the token to a program in its environment and passes its status
// through.
func TestCurlAndExec(t *testing.T) {
	w := newCredWorld(t, time.Hour)
	url := w.check.Profile.CheckURL
	out, code := w.run(t, "", "bash", "-c", `curl -sf -K <(oauthform -chdir "$0" credential curl c) "$1"`, w.dir, url)
	if code != 0 {
		t.Errorf("curl -K <(oauthform credential curl c): exit %d, %q", code, out)
	}
	out, code = w.run(t, "", "oauthform", "-chdir", w.dir, "exec", "c", "--", "sh", "-c",
		`curl -sf -H "Authorization: Bearer $OAUTHFORM_TOKEN" "$0" && test -n "$OAUTHFORM_TOKEN_EXPIRY"`, url)
	if code != 0 {
		t.Errorf("exec with curl: exit %d, %q", code, out)
	}
	// curl's own status comes through: 22 for an HTTP error.
	_, code = w.run(t, "", "oauthform", "-chdir", w.dir, "exec", "-env", "API_TOKEN", "c", "--", "sh", "-c",
		`curl -sf -H "Authorization: Bearer $API_TOKEN" "$0"`, url+"/does-not-exist")
	if code != 22 {
		t.Errorf("exec passed status %d through, want curl's 22", code)
	}
	// A refused token: curl fails with the same status.
	_, code = w.run(t, "", "oauthform", "-chdir", w.dir, "exec", "c", "--", "sh", "-c",
		`curl -sf -H "Authorization: Bearer wrong$OAUTHFORM_TOKEN" "$0"`, url)
	if code != 22 {
		t.Errorf("exec with a refused token: status %d, want curl's 22", code)
	}
}
