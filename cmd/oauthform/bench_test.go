package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// benchFixture writes a configuration of n connections over the four seed
// providers, in files of 1,000, and a state in which every one of them is
// up to date, and returns the directory.
func benchFixture(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	type app struct{ name, provider, clientID, body string }
	apps := []app{
		{"burner", "burner", "burner-client", "  app    = app.burner\n  scopes = [\"burners:read\", \"contacts:read\"]\n"},
		{"sms", "sms77", "sms-client", "  app            = app.sms\n  scopes         = [\"sms\", \"analytics\"]\n  refresh_before = \"10m\"\n"},
		{"buffer", "buffer", "buffer-client", "  app = app.buffer\n"},
		{"dialer", "phoneburner", "pb-client", "  app    = app.dialer\n  params = { owner_type = \"vendor\" }\n"},
	}
	var head strings.Builder
	for _, a := range apps {
		fmt.Fprintf(&head, "app %q {\n  provider      = %q\n  client_id     = %q\n  client_secret = \"bench-secret\"\n  redirect_uri  = \"http://127.0.0.1:8765/callback\"\n}\n",
			a.name, a.provider, a.clientID)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	write("apps.oauth.hcl", head.String())
	for f := 0; f*1000 < n; f++ {
		var sb strings.Builder
		for i := f * 1000; i < min(n, (f+1)*1000); i++ {
			fmt.Fprintf(&sb, "connection \"c%05d\" {\n%s}\n\n", i, apps[i%len(apps)].body)
		}
		write(fmt.Sprintf("conn%02d.oauth.hcl", f), sb.String())
	}

	st, err := bolt.Open(filepath.Join(dir, ".oauthform", "state.db"), state.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	lineage, err := st.Init(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Lock(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	hash := state.HashSecret(lineage, secret.New("bench-secret"))
	scopes := [][]string{{"burners:read", "contacts:read"}, {"sms", "analytics"}, {}, {}}
	params := []map[string]string{{}, {}, {}, {"owner_type": "vendor"}}
	for i := range n {
		k := i % len(apps)
		err := st.Put(ctx, &state.Record{Conn: fmt.Sprintf("c%05d", i), Provider: apps[k].provider, ClientID: apps[k].clientID,
			ClientSecretHash: hash, RedirectURI: "http://127.0.0.1:8765/callback", Scopes: scopes[k], Params: params[k],
			RefreshBefore: 10 * time.Minute, Access: secret.New(fmt.Sprintf("access-%d", i)), Refresh: secret.New(fmt.Sprintf("refresh-%d", i)),
			TokenType: "Bearer", Expiry: time.Now().Add(365 * 24 * time.Hour), Status: state.StatusActive})
		if err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkPlan10kFullState is `oauthform plan` of 10,000 connections with
// a full state and no changes, in-process (config load, state snapshot,
// diff, view).
func BenchmarkPlan10kFullState(b *testing.B) {
	dir := benchFixture(b, 10_000)
	b.Chdir(dir)
	b.ReportAllocs()
	for b.Loop() {
		code, out, errOut := runCLI("plan", "-detailed-exitcode")
		if code != 0 || !strings.Contains(out, "No changes.") {
			b.Fatalf("plan: exit %d\n%s%s", code, out[:min(len(out), 2000)], errOut)
		}
	}
}

// BenchmarkTokenFresh10k is `oauthform token` of a valid token in a
// configuration of 10,000 connections.
func BenchmarkTokenFresh10k(b *testing.B) {
	dir := benchFixture(b, 10_000)
	b.Chdir(dir)
	b.ReportAllocs()
	for b.Loop() {
		if code, out, errOut := runCLI("token", "c00042"); code != 0 || strings.TrimSpace(out) != "access-42" {
			b.Fatalf("token: exit %d %q %s", code, out, errOut)
		}
	}
}
