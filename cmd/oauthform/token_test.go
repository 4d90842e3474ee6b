package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// tokenFixture is a configuration with one sms77 connection pointed at an
// emulator, and a state holding tokens the emulator issued that expire in
// expiresIn.
func tokenFixture(t *testing.T, expiresIn time.Duration) (*emulator.Server, string) {
	t.Helper()
	emu, dir, _ := tokenFixtureSecret(t, expiresIn, "csecret")
	return emu, dir
}

// tokenFixtureSecret is tokenFixture with the app's client secret, and the
// tokens it stored.
func tokenFixtureSecret(t *testing.T, expiresIn time.Duration, clientSecret string) (*emulator.Server, string, emulator.TokenSet) {
	t.Helper()
	emu, err := emulator.New(emulator.Options{Provider: "sms77",
		Clients: []emulator.Client{{ID: "cid", Secret: clientSecret, RedirectURIs: []string{"http://127.0.0.1:8765/cb"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	b, _ := providers.Builtin("sms77")
	p, _ := b.Rebase(srv.URL)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
provider "sms77" {
  authorize_url = %q
  token_url     = %q
}
app "sms" {
  provider      = "sms77"
  client_id     = "cid"
  client_secret = %q
  redirect_uri  = "http://127.0.0.1:8765/cb"
}
connection "sms_main" {
  app    = app.sms
  scopes = ["sms"]
}
`, p.AuthorizeURL, p.TokenURL, clientSecret)
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ts, err := emu.IssueTokens("cid", []string{"sms"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(dir, ".oauthform", "state.db"), state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	err = st.Put(ctx, &state.Record{Conn: "sms_main", Provider: "sms77", ClientID: "cid", Scopes: []string{"sms"},
		RedirectURI: "http://127.0.0.1:8765/cb", Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken),
		TokenType: "Bearer", Expiry: time.Now().Add(expiresIn), Status: state.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	return emu, dir, ts
}

func runCLI(args ...string) (int, string, string) {
	var out, errOut strings.Builder
	code := realMain(context.Background(), args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestTokenCommand(t *testing.T) {
	emu, dir := tokenFixture(t, time.Hour)
	t.Chdir(dir)
	code, out, errOut := runCLI("token", "sms_main")
	if code != 0 || strings.TrimSpace(out) == "" || emu.Stats().Refreshes != 0 {
		t.Fatalf("token: exit %d, out %q, err %q, stats %+v", code, out, errOut, emu.Stats())
	}
	tok := strings.TrimSpace(out)
	if code, out, _ := runCLI("token", "-header", "sms_main"); code != 0 || out != "Authorization: Bearer "+tok+"\n" {
		t.Errorf("-header: %d %q", code, out)
	}
	code, out, _ = runCLI("token", "sms_main", "-json")
	var j map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || j["format_version"] != "1.0" || j["access_token"] != tok || j["token_type"] != "Bearer" || j["expiry"] == nil {
		t.Errorf("-json: %d %s", code, out)
	}
	// -min-valid beyond the expiry forces a refresh.
	code, out, _ = runCLI("token", "-min-valid=2h", "sms_main")
	if code != 0 || strings.TrimSpace(out) == tok || emu.Stats().Refreshes != 1 {
		t.Errorf("-min-valid=2h: %d %q, stats %+v", code, out, emu.Stats())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "Missing connection"},
		{[]string{"token", "sms_mian"}, `Did you mean "sms_main"`},
		{[]string{"token", "-header", "-json", "sms_main"}, "Incompatible options"},
		{[]string{"token", "a", "b"}, "Unexpected argument"},
	} {
		if code, _, errOut := runCLI(tc.args...); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	emu.SetFaults(emulator.Faults{InvalidGrant: true})
	code, _, errOut = runCLI("token", "-min-valid=2h", "sms_main")
	if code != 1 || !strings.Contains(errOut, "oauthform apply") || strings.Contains(errOut, tok) {
		t.Errorf("invalid_grant: exit %d, stderr %q", code, errOut)
	}
}

// TestTokenConcurrent: 20 concurrent token calls on an expiring connection
// make one refresh and print the same token.
func TestTokenConcurrent(t *testing.T) {
	emu, dir := tokenFixture(t, 10*time.Second)
	t.Chdir(dir)
	const n = 20
	outs := make([]string, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], outs[i], _ = runCLI("token", "sms_main")
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if codes[i] != 0 || outs[i] != outs[0] {
			t.Errorf("call %d: exit %d, %q vs %q", i, codes[i], outs[i], outs[0])
		}
	}
	if got := emu.Stats().Refreshes; got != 1 {
		t.Errorf("%d refreshes at the emulator, want 1", got)
	}
}

// The fast path must not read a state the configuration moved elsewhere:
// with an oauthform block, token loads the configuration.
func TestTokenFastPathHonoursStatePath(t *testing.T) {
	_, dir := tokenFixture(t, time.Hour)
	t.Chdir(dir)
	if code, out, _ := runCLI("token", "sms_main"); code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("token with the default state: exit %d %q", code, out)
	}
	if err := os.WriteFile("settings.oauth.hcl", []byte("oauthform {\n  state_path = \"elsewhere/state.db\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("token", "sms_main")
	if code != 1 || !strings.Contains(errOut, "no tokens yet") {
		t.Errorf("token with state_path elsewhere: exit %d, stderr %q; want the (empty) configured state to be read", code, errOut)
	}
}

// TestTokenExpiresInZeroRefreshesAgain: a provider answering expires_in 0
// gave a token that is already expired, not one that never expires: the
// next `token` refreshes again.
func TestTokenExpiresInZeroRefreshesAgain(t *testing.T) {
	_, dir := tokenFixture(t, -time.Minute)
	t.Chdir(dir)
	var n atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","expires_in":0,"refresh_token":"rt-%d"}`, i, i)
	}))
	t.Cleanup(fake.Close)
	cfg, err := os.ReadFile("main.oauth.hcl")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`token_url\s*=\s*"[^"]*"`)
	if err := os.WriteFile("main.oauth.hcl", re.ReplaceAll(cfg, []byte(`token_url = "`+fake.URL+`/token"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"at-1", "at-2"} {
		code, out, errOut := runCLI("token", "sms_main")
		if code != 0 || strings.TrimSpace(out) != want {
			t.Fatalf("token #%d: exit %d, %q (stderr %q), want %s", i+1, code, out, errOut, want)
		}
	}
	if got := n.Load(); got != 2 {
		t.Errorf("%d refreshes, want 2", got)
	}
}
