package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/config"
)

// syncBuffer is a goroutine-safe bytes.Buffer for a command's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEmulate runs `oauthform emulate` for every provider on a free port,
// checks that it answers, that the provider block it prints is a valid
// configuration, and that it stops cleanly when cancelled.
func TestEmulate(t *testing.T) {
	for _, name := range []string{"burner", "sms77", "seven", "buffer", "buffer_v2", "phoneburner", "oauth2"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out, errOut := &syncBuffer{}, &syncBuffer{}
			done := make(chan int, 1)
			go func() {
				done <- realMain(ctx, []string{"emulate", name, "-addr=127.0.0.1:0", "-auto-approve", "-client-id=cli"},
					&streams{In: strings.NewReader(""), Out: out, Err: errOut})
			}()
			base := waitFor(t, out, regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`), done)
			resp, err := http.Get(base + "/_emulator/stats")
			if err != nil {
				t.Fatal(err)
			}
			var stats map[string]any
			err = json.NewDecoder(resp.Body).Decode(&stats)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("stats: HTTP %d, %v", resp.StatusCode, err)
			}
			block := out.String()[strings.Index(out.String(), "provider \""):]
			dir := t.TempDir()
			src := block + `
app "a" {
  provider     = "` + name + `"
  client_id     = "cli"
  client_secret = "demo-secret"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
`
			if err := os.WriteFile(filepath.Join(dir, "e.oauth.hcl"), []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, diags := config.Load(dir, config.Inputs{})
			if diags.HasErrors() {
				t.Fatalf("the printed block does not load:\n%s\n%s", block, diags.Error())
			}
			if p := cfg.Providers[name]; !strings.HasPrefix(p.TokenURL, base) || !strings.HasPrefix(p.AuthorizeURL, base) {
				t.Errorf("profile after the block: %+v", p)
			}
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit %d, stderr %s", code, errOut.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("emulate did not stop after cancel")
			}
			if strings.Contains(out.String(), "demo-secret") {
				t.Error("the banner shows the client secret")
			}
		})
	}
}

// waitFor polls out until re matches and returns its first group.
func waitFor(t *testing.T, out *syncBuffer, re *regexp.Regexp, done chan int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				return m[1]
			}
		}
		select {
		case code := <-done:
			t.Fatalf("emulate exited %d early: %s", code, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no match for %s in %q", re, out.String())
	return ""
}
