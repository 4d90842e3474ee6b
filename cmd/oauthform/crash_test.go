package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// TestCrashDuringApply kill -9s an apply of many refreshes at random
// points, 50 times. After each kill the state opens, every connection holds
// either its tokens from before the run or a complete new set that the
// provider accepts (never a torn record), the backup is a valid state, and
// the next apply finishes the work.
//
// PhoneBurner does not rotate refresh tokens, so a kill costs nothing: the
// old refresh token still works. TestCrashDuringApplyRotating is the same
// against a provider that rotates on every refresh.
func TestCrashDuringApply(t *testing.T) {
	const conns, iterations = 30, 50
	var offset atomic.Int64 // the shared clock, advanced a month per iteration
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	emu, p, cfg := crashProvider(t, "phoneburner", "pb", "pb-secret", now, emulator.Faults{Latency: 15 * time.Millisecond})
	dir := t.TempDir()
	for i := range conns {
		fmt.Fprintf(cfg, "connection \"c%02d\" {\n  app = app.pb\n  refresh_before = \"1h\"\n}\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, ".oauthform", "state.db")
	ctx := context.Background()
	seedTokens(t, emu, statePath, conns, now)

	start := func(args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command("oauthform", append([]string{"-chdir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", fmt.Sprintf("%s=%s", clockEnv, time.Duration(offset.Load())))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	check := &providers.Client{Profile: p, ClientID: "pb"}
	killedMidRun, partial := 0, 0 // kills before the end; of those, kills with some refreshes written
	for it := range iterations {
		// 31 days later (PhoneBurner's refreshed tokens live 31 days) every
		// token is within refresh_before.
		offset.Add(int64(31 * 24 * time.Hour))
		before := snapshot(t, statePath)
		cmd, out := start("apply", "-auto-approve", "-parallelism=2")
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill after a random number of refreshes has reached the
		// provider, so the kills spread over the run however loaded the
		// machine is.
		target := emu.Stats().Refreshes + rnd.IntN(conns)
		var err error
	wait:
		for {
			select {
			case err = <-exited:
				break wait
			default:
			}
			if emu.Stats().Refreshes >= target {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err = <-exited
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !strings.Contains(out.String(), "Apply complete!") {
			killedMidRun++
		} else if err != nil {
			t.Fatalf("iteration %d: apply finished but failed: %v\n%s", it, err, out)
		}

		after := snapshot(t, statePath) // the state opens after a kill -9
		changed := 0
		for name, rec := range after.Records {
			if rec.Access.Reveal() != before.Records[name].Access.Reveal() {
				changed++
			}
			old := before.Records[name]
			switch {
			case rec.Access.Reveal() == old.Access.Reveal():
				if rec.Refresh.Reveal() != old.Refresh.Reveal() || !rec.Expiry.Equal(old.Expiry) {
					t.Fatalf("iteration %d: %s is torn: old access token with other fields", it, name)
				}
			case rec.Refresh.IsZero() || !rec.Expiry.After(old.Expiry) || rec.Status != state.StatusActive:
				t.Fatalf("iteration %d: %s holds a new access token but an incomplete record: %+v", it, name, rec)
			default:
				if _, err := check.Check(ctx, rec.Access); err != nil {
					t.Fatalf("iteration %d: %s: the new token is refused: %v", it, name, err)
				}
			}
		}
		if changed > 0 && changed < conns {
			partial++
		}
		if len(after.Records) != conns {
			t.Fatalf("iteration %d: %d records, want %d", it, len(after.Records), conns)
		}
		if bk := statePath + ".backup"; fileExists(bk) {
			if s := snapshot(t, bk); len(s.Records) != conns {
				t.Fatalf("iteration %d: the backup holds %d records", it, len(s.Records))
			}
		}

		// The next apply finishes the work; then there is nothing left.
		cmd, out = start("apply", "-auto-approve", "-parallelism=30", "-lock-timeout=10s")
		if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "Apply complete!") {
			t.Fatalf("iteration %d: apply after the kill: %v\n%s", it, err, out)
		}
		for name, rec := range snapshot(t, statePath).Records {
			if !rec.Expiry.After(now().Add(time.Hour)) {
				t.Fatalf("iteration %d: %s still expires within refresh_before after the recovery apply", it, name)
			}
		}
	}
	cmd, out := start("plan", "-detailed-exitcode")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("plan after the last recovery shows changes or fails: %v\n%s", err, out)
	}
	stats := emu.Stats()
	t.Logf("%d kill -9s (%d mid-run, %d with part of the refreshes written); %d refreshes at the emulator, %d rejections", iterations, killedMidRun, partial, stats.Refreshes, stats.Rejections)
	if killedMidRun < iterations/2 || partial < iterations/4 {
		t.Errorf("only %d of %d kills landed while apply was running (%d mid-write); the test is not testing crashes", killedMidRun, iterations, partial)
	}
	if stats.Rejections != 0 {
		t.Errorf("the emulator rejected %d requests (last: %s)", stats.Rejections, stats.LastRejection)
	}
}

// seedTokens writes conns records holding tokens the emulator issued.
func seedTokens(t *testing.T, emu *emulator.Server, path string, conns int, now func() time.Time) {
	t.Helper()
	st, err := bolt.Open(path, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	lineage, err := st.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Unlock(ctx) }()
	for i := range conns {
		ts, err := emu.IssueTokens("pb", nil)
		if err != nil {
			t.Fatal(err)
		}
		err = st.Put(ctx, &state.Record{Conn: fmt.Sprintf("c%02d", i), Provider: "phoneburner", ClientID: "pb",
			ClientSecretHash: state.HashSecret(lineage, secret.New("pb-secret")), RedirectURI: "http://127.0.0.1:8765/cb", RefreshBefore: time.Hour, Scopes: []string{},
			Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken), TokenType: "Bearer",
			Expiry: ts.ExpiresAt, Status: state.StatusActive, Created: now()})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func snapshot(t *testing.T, path string) *state.Snapshot {
	t.Helper()
	st, err := bolt.Open(path, state.Options{})
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer st.Close()
	s, err := st.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return s
}

// TestCrashDuringApplyRotating is TestCrashDuringApply against sms77,
// which rotates the refresh token on every refresh and rejects a reused
// one, answering 80 ms after it rotated. A kill -9 can then lose only the
// logins whose answer was on the wire (at most -parallelism of them); each
// of those is presented once more, rejected, and explained as an
// interrupted refresh; every other connection keeps working.
func TestCrashDuringApplyRotating(t *testing.T) {
	const conns, iterations, parallelism = 12, 15, 3
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	emu, _, cfg := crashProvider(t, "sms77", "cid", "csecret", now, emulator.Faults{AnswerLatency: 80 * time.Millisecond})
	dir := t.TempDir()
	for i := range conns {
		fmt.Fprintf(cfg, "connection \"c%02d\" {\n  app = app.cid\n  scopes = [\"sms\"]\n  refresh_before = \"2h\"\n}\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, ".oauthform", "state.db")
	ctx := context.Background()
	st, err := bolt.Open(statePath, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	lineage, err := st.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	// seed (re)issues the tokens of the named connections, as a new grant.
	seed := func(names ...string) {
		st, err := bolt.Open(statePath, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Lock(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = st.Unlock(ctx) }()
		for _, n := range names {
			ts, err := emu.IssueTokens("cid", []string{"sms"})
			if err != nil {
				t.Fatal(err)
			}
			err = st.Put(ctx, &state.Record{Conn: n, Provider: "sms77", ClientID: "cid",
				ClientSecretHash: state.HashSecret(lineage, secret.New("csecret")), RedirectURI: "http://127.0.0.1:8765/cb",
				RefreshBefore: 2 * time.Hour, Scopes: []string{"sms"}, GrantedScopes: []string{"sms"},
				Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken), TokenType: "Bearer",
				Expiry: ts.ExpiresAt, Status: state.StatusActive, Created: now()})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	all := make([]string, conns)
	for i := range all {
		all[i] = fmt.Sprintf("c%02d", i)
	}
	seed(all...)
	start := func(args ...string) (*exec.Cmd, *bytes.Buffer, chan error) {
		cmd := exec.Command("oauthform", append([]string{"-chdir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "NO_COLOR=1", fmt.Sprintf("%s=%s", clockEnv, time.Duration(offset.Load())))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, &out, done
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	lostTotal, killed := 0, 0
	for it := range iterations {
		offset.Add(int64(time.Hour)) // sms77 tokens live 1 h: all within refresh_before
		cmd, out, done := start("apply", "-auto-approve", fmt.Sprintf("-parallelism=%d", parallelism))
		target := emu.Stats().Refreshes + 1 + rnd.IntN(conns)
		var exitErr error
	wait:
		for {
			select {
			case exitErr = <-done:
				break wait
			default:
			}
			if emu.Stats().Refreshes >= target {
				time.Sleep(time.Duration(rnd.IntN(90)) * time.Millisecond)
				_ = cmd.Process.Signal(syscall.SIGKILL)
				exitErr = <-done
				killed++
				break
			}
			time.Sleep(time.Millisecond)
		}
		_ = exitErr
		rejBefore := emu.Stats().Rejections
		// The next refresh finishes the work; lost logins are explained.
		_, rout, rdone := start("refresh", "-lock-timeout=10s")
		<-rdone
		snap := snapshot(t, statePath)
		var lost []string
		for name, rec := range snap.Records {
			switch {
			case rec.Status == state.StatusNeedsReconnect:
				if rec.LastError == nil || rec.LastError.Kind != "refresh_interrupted" || !strings.Contains(rec.LastError.Message, "interrupted") {
					t.Fatalf("iteration %d: %s needs a reconnect without the interrupted refresh explained: %+v\n%s", it, name, rec.LastError, rout)
				}
				lost = append(lost, name)
			case !rec.Expiry.After(now().Add(50 * time.Minute)):
				t.Fatalf("iteration %d: %s was not refreshed by the recovery run:\n%s\n%s", it, name, out, rout)
			case rec.InFlight != nil:
				t.Fatalf("iteration %d: %s keeps an intent after a finished refresh", it, name)
			}
		}
		if len(lost) > parallelism {
			t.Fatalf("iteration %d: %d logins lost by one kill, but at most %d answers can be on the wire", it, len(lost), parallelism)
		}
		if rej := emu.Stats().Rejections - rejBefore; rej != len(lost) {
			t.Fatalf("iteration %d: %d rejections for %d lost logins: a spent token was presented more than once, or a live one was refused", it, rej, len(lost))
		}
		lostTotal += len(lost)
		seed(lost...) // a person reconnects them
	}
	t.Logf("%d kill -9s, %d logins lost in all (each one the answer on the wire when the process died)", killed, lostTotal)
	if killed < iterations/2 {
		t.Errorf("only %d of %d kills landed while apply was running", killed, iterations)
	}
}

// crashProvider starts provider's emulator with one registered client and
// faults, and returns it, its rebased profile and the start of a
// configuration: the provider block pointing at it and an app named after
// the client.
func crashProvider(t *testing.T, provider, clientID, clientSecret string, now func() time.Time, faults emulator.Faults) (*emulator.Server, *providers.Profile, *strings.Builder) {
	t.Helper()
	emu, err := emulator.New(emulator.Options{Provider: provider, Now: now,
		Clients: []emulator.Client{{ID: clientID, Secret: clientSecret, RedirectURIs: []string{"http://127.0.0.1:8765/cb"}}}})
	if err != nil {
		t.Fatal(err)
	}
	emu.SetFaults(faults)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	b, _ := providers.Builtin(provider)
	p, err := b.Rebase(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "provider %q {\n  authorize_url = %q\n  token_url = %q\n", provider, p.AuthorizeURL, p.TokenURL)
	for k, v := range map[string]string{"refresh_url": p.RefreshURL, "revoke_url": p.RevokeURL, "check_url": p.CheckURL} {
		if v != "" {
			fmt.Fprintf(&cfg, "  %s = %q\n", k, v)
		}
	}
	fmt.Fprintf(&cfg, "}\napp %q {\n  provider = %q\n  client_id = %q\n  client_secret = %q\n  redirect_uri = \"http://127.0.0.1:8765/cb\"\n}\n",
		clientID, provider, clientID, clientSecret)
	return emu, p, &cfg
}
