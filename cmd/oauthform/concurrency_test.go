package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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

// TestConcurrentTokenAndRefreshProcesses: 50 `token` processes across 10
// connections whose tokens expire in seconds, and a `refresh` process, all
// at once. sms77 rotates refresh tokens, so a refresh token used twice
// would be refused with invalid_grant: the emulator must see exactly one
// refresh per connection and no rejection, and every caller must print
// the connection's one new, valid token.
func TestConcurrentTokenAndRefreshProcesses(t *testing.T) {
	const conns, callsPerConn = 10, 5
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
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "provider \"sms77\" {\n  authorize_url = %q\n  token_url = %q\n  check_url = %q\n}\n", p.AuthorizeURL, p.TokenURL, p.CheckURL)
	cfg.WriteString("app \"sms\" {\n  provider = \"sms77\"\n  client_id = \"cid\"\n  client_secret = \"csecret\"\n  redirect_uri = \"http://127.0.0.1:8765/cb\"\n}\n")
	for i := range conns {
		fmt.Fprintf(&cfg, "connection \"c%d\" {\n  app = app.sms\n  scopes = [\"sms\"]\n  refresh_before = \"1m\"\n}\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(cfg.String()), 0o600); err != nil {
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
	for i := range conns {
		ts, err := emu.IssueTokens("cid", []string{"sms"})
		if err != nil {
			t.Fatal(err)
		}
		err = st.Put(ctx, &state.Record{Conn: fmt.Sprintf("c%d", i), Provider: "sms77", ClientID: "cid", Scopes: []string{"sms"},
			RedirectURI: "http://127.0.0.1:8765/cb", RefreshBefore: time.Minute,
			Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken),
			TokenType: "Bearer", Expiry: time.Now().Add(20 * time.Second), Status: state.StatusActive})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	type result struct {
		conn, out, errOut string
		err               error
	}
	results := make(chan result, conns*callsPerConn+1)
	run := func(conn string, args ...string) {
		cmd := exec.Command("oauthform", append([]string{"-chdir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		results <- result{conn, stdout.String(), stderr.String(), err}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); run("", "refresh", "-lock-timeout=60s") }()
	for i := range conns * callsPerConn {
		conn := fmt.Sprintf("c%d", i%conns)
		wg.Add(1)
		go func() { defer wg.Done(); run(conn, "token", conn) }()
	}
	wg.Wait()
	close(results)

	printed := map[string]map[string]bool{}
	for r := range results {
		if r.err != nil {
			t.Errorf("oauthform (%s): %v\n%s%s", r.conn, r.err, r.out, r.errOut)
			continue
		}
		if r.conn == "" {
			continue // refresh: its count depends on who got each lock first
		}
		if printed[r.conn] == nil {
			printed[r.conn] = map[string]bool{}
		}
		printed[r.conn][strings.TrimSpace(r.out)] = true
	}
	stats := emu.Stats()
	if stats.Refreshes != conns || stats.Rejections != 0 {
		t.Errorf("emulator saw %d refreshes and %d rejections (last: %s), want %d and 0",
			stats.Refreshes, stats.Rejections, stats.LastRejection, conns)
	}
	st, err = bolt.Open(filepath.Join(dir, ".oauthform", "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check := &providers.Client{Profile: p, ClientID: "cid"}
	for i := range conns {
		conn := fmt.Sprintf("c%d", i)
		rec := snap.Records[conn]
		want := rec.Access.Reveal()
		if len(printed[conn]) != 1 || !printed[conn][want] {
			t.Errorf("%s: callers printed %d distinct tokens, want only the stored one", conn, len(printed[conn]))
		}
		if _, err := check.Check(ctx, rec.Access); err != nil {
			t.Errorf("%s: the stored token is refused by the API: %v", conn, err)
		}
	}
	t.Logf("%d token processes and 1 refresh process: %d refreshes at the emulator, %d rejections",
		conns*callsPerConn, stats.Refreshes, stats.Rejections)
}
