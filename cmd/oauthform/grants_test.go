package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// TestClientCredentialsHeadless is issue 17's client credentials
// acceptance, across processes: `apply -auto-approve` with no terminal
// and no browser connects, then 20 concurrent `token -min-valid 2h`
// processes (the token has 90 minutes left) make one client credentials
// request under the connection lock and all print its token, which the
// provider's API accepts.
func TestClientCredentialsHeadless(t *testing.T) {
	const callers = 20
	// Tokens live 3h; once 90 minutes have passed (the emulator's clock
	// and the processes', through OAUTHFORM_TEST_CLOCK), the token has
	// less than 2h left and a new one has more.
	var offset atomic.Int64
	emu, err := emulator.New(emulator.Options{Provider: "oauth2", AccessTTL: 3 * time.Hour,
		Now:     func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
		Clients: []emulator.Client{{ID: "svc-id", Secret: "svc-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	block, err := views.ProviderBlock("oauth2", emu.Paths(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := string(block) + `
app "svc" {
  provider      = "oauth2"
  client_id     = "svc-id"
  client_secret = "svc-secret"
}
connection "svc" {
  app    = app.svc
  grant  = "client_credentials"
  scopes = ["read"]
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command("oauthform", append([]string{"-chdir", dir}, args...)...)
		// No terminal (standard input is /dev/null) and no browser.
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "OAUTHFORM_BROWSER=false", "BROWSER=false", "DISPLAY=",
			clockEnv+"="+time.Duration(offset.Load()).String())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	if out, errOut, err := run("apply", "-auto-approve"); err != nil || !strings.Contains(out, "svc: Connected") {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := run("token", "svc"); err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("token: %v\n%s%s", err, out, errOut)
	}

	offset.Store(int64(90 * time.Minute))
	printed := make(chan string, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errOut, err := run("token", "-min-valid", "2h", "svc")
			if err != nil {
				t.Errorf("token -min-valid 2h: %v\n%s%s", err, out, errOut)
				return
			}
			printed <- strings.TrimSpace(out)
		}()
	}
	wg.Wait()
	close(printed)
	tokens := map[string]bool{}
	for tok := range printed {
		tokens[tok] = true
	}
	if s := emu.Stats(); s.ClientCredentials != 2 || s.Rejections != 0 {
		t.Errorf("emulator issued %d client credentials tokens with %d rejections (%s), want 2 (apply, then one for all %d callers) and 0",
			s.ClientCredentials, s.Rejections, s.LastRejection, callers)
	}
	st, err := bolt.Open(filepath.Join(dir, ".oauthform", "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Get(context.Background(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 || !tokens[rec.Access.Reveal()] {
		t.Errorf("callers printed %d distinct tokens, want only the stored one", len(tokens))
	}
	p := providers.Generic("oauth2")
	p.CheckURL = srv.URL + emu.Paths()["check"]
	if _, err := (&providers.Client{Profile: p, ClientID: "svc-id"}).Check(context.Background(), rec.Access); err != nil {
		t.Errorf("the provider's API refuses the token: %v", err)
	}
}
