//go:build linux || darwin

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// The custody fault tests run the oauthform program (the test binary's
// copy, with the real signal handling) against sms77's emulator, which
// rotates the refresh token on every refresh and rejects a reused one, and
// which carries out each refresh at once but answers only later
// (AnswerLatency): the window in which a client that gives up, or dies,
// loses the login for good. Each fault is injected at a point of the
// refresh protocol; afterwards the next `token` must succeed and the
// provider must never have seen a reused refresh token, except after a
// kill -9 between the send and the answer, which must be explained.

// custodyWorld is one state directory with one rotating connection.
type custodyWorld struct {
	t     *testing.T
	emu   *emulator.Server
	dir   string
	state string
	env   []string
}

const custodyConn = "sms_main"

func newCustodyWorld(t *testing.T, answer time.Duration) *custodyWorld {
	t.Helper()
	emu, _, cfg := crashProvider(t, "sms77", "cid", "cs+abc/secret", time.Now, emulator.Faults{AnswerLatency: answer})
	fmt.Fprintf(cfg, "connection %q {\n  app    = app.cid\n  scopes = [\"sms\"]\n}\n", custodyConn)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &custodyWorld{t: t, emu: emu, dir: dir, state: filepath.Join(dir, ".oauthform", "state.db"),
		env: append(os.Environ(), "GORACE=atexit_sleep_ms=0", "NO_COLOR=1", "OAUTHFORM_LOG=")}
	st, err := bolt.Open(w.state, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	lineage, err := st.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := emu.IssueTokens("cid", []string{"sms"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Unlock(ctx) }()
	err = st.Put(ctx, &state.Record{Conn: custodyConn, Provider: "sms77", ClientID: "cid",
		ClientSecretHash: state.HashSecret(lineage, secret.New("cs+abc/secret")), RedirectURI: "http://127.0.0.1:8765/cb",
		Scopes: []string{"sms"}, Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken), TokenType: "Bearer",
		Expiry: ts.ExpiresAt, Status: state.StatusActive, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// start runs oauthform in the world's directory.
func (w *custodyWorld) start(env []string, args ...string) (*exec.Cmd, *syncBuffer, chan error) {
	cmd := exec.Command("oauthform", append([]string{"-chdir", w.dir}, args...)...)
	cmd.Env = append(append([]string{}, w.env...), env...)
	// Read while the process writes (a test waits for a line): safe for
	// both.
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, &out, done
}

// run runs oauthform to its end.
func (w *custodyWorld) run(args ...string) (string, error) {
	_, out, done := w.start(nil, args...)
	err := <-done
	return out.String(), err
}

// waitRefreshes waits until the emulator has carried out n refreshes, or
// the process ended; it reports whether the count was reached.
func (w *custodyWorld) waitRefreshes(n int, done chan error) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if w.emu.Stats().Refreshes >= n {
			return true
		}
		select {
		case err := <-done:
			done <- err
			return w.emu.Stats().Refreshes >= n
		case <-time.After(time.Millisecond):
		}
	}
	w.t.Fatalf("the emulator never carried out refresh %d", n)
	return false
}

// mustNotReuse fails when the provider has seen a reused refresh token.
func (w *custodyWorld) mustNotReuse(when string) {
	w.t.Helper()
	if st := w.emu.Stats(); st.Rejections != 0 {
		w.t.Fatalf("%s: the provider rejected %d requests (last: %s): a spent refresh token was presented", when, st.Rejections, st.LastRejection)
	}
}

// nextTokenWorks runs `token -min-valid 2h` (a refresh every time) and
// requires it to succeed with a token the provider accepts.
func (w *custodyWorld) nextTokenWorks(when string) {
	w.t.Helper()
	out, err := w.run("token", custodyConn, "-min-valid", "2h")
	if err != nil {
		w.t.Fatalf("%s: the next token failed: %v\n%s", when, err, out)
	}
	w.mustNotReuse(when)
}

// TestCustodySignals sends SIGINT or SIGTERM to `token -min-valid 2h` at
// random points of the refresh: before the request, after the provider
// rotated and before its answer (0.5 s later), and around the answer and
// the state write. The first signal waits for the answer and stores it.
func TestCustodySignals(t *testing.T) {
	w := newCustodyWorld(t, 500*time.Millisecond)
	rnd := rand.New(rand.NewPCG(13, 8))
	waited := 0
	for i := range 8 {
		sig := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}[i%2]
		before := w.emu.Stats().Refreshes
		cmd, out, done := w.start(nil, "token", custodyConn, "-min-valid", "2h")
		switch i % 4 {
		case 0: // anywhere from the start (before sending, often)
			time.Sleep(time.Duration(rnd.IntN(150)) * time.Millisecond)
		default: // after the provider rotated, before or around its answer
			w.waitRefreshes(before+1, done)
			time.Sleep(time.Duration(rnd.IntN(550)) * time.Millisecond)
		}
		_ = cmd.Process.Signal(sig)
		err := <-done
		if strings.Contains(out.String(), "Waiting for the provider's answer") {
			waited++
			if err != nil {
				t.Fatalf("run %d: the answer was waited for but token failed: %v\n%s", i, err, out)
			}
		}
		t.Logf("run %d (%s): %v", i, sig, err)
		w.nextTokenWorks(fmt.Sprintf("run %d (%s)", i, sig))
	}
	if waited == 0 {
		t.Error("no signal landed while an answer was awaited: the test does not test the window")
	}
}

// TestCustodySecondSignalAbandonsAndNames: a second signal gives up the
// answer and names the connection whose login may be lost; the next call
// explains the interrupted refresh.
func TestCustodySecondSignalAbandonsAndNames(t *testing.T) {
	w := newCustodyWorld(t, 2*time.Second)
	cmd, out, done := w.start(nil, "token", custodyConn, "-min-valid", "2h")
	w.waitRefreshes(1, done)
	_ = cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := <-done; err == nil {
		t.Fatalf("an abandoned refresh succeeded:\n%s", out)
	}
	if !strings.Contains(out.String(), "abandoning the refresh of "+custodyConn) {
		t.Fatalf("the second signal did not name the connection:\n%s", out)
	}
	show, _ := w.run("show", custodyConn)
	if !strings.Contains(show, "refresh interrupted") {
		t.Fatalf("show does not say the refresh was interrupted:\n%s", show)
	}
	next, err := w.run("token", custodyConn, "-min-valid", "2h")
	if err == nil || !strings.Contains(next, "interrupted") {
		t.Fatalf("token after an abandoned rotation: %v, want an explanation\n%s", err, next)
	}
	show, _ = w.run("show", custodyConn)
	if !strings.Contains(show, "refresh_interrupted") {
		t.Fatalf("show after the failed retry does not explain it:\n%s", show)
	}
}

// TestCustodySuspended stops the process (SIGSTOP) after its request was
// sent for longer than the request timeout, as a closed laptop lid does,
// and a provider answers later than that timeout: the answer is read on
// waking and kept.
func TestCustodySuspended(t *testing.T) {
	t.Run("SIGSTOP", func(t *testing.T) {
		w := newCustodyWorld(t, 500*time.Millisecond)
		cmd, out, done := w.start([]string{"OAUTHFORM_REQUEST_TIMEOUT=1s"}, "token", custodyConn, "-min-valid", "2h")
		w.waitRefreshes(1, done)
		_ = cmd.Process.Signal(syscall.SIGSTOP)
		time.Sleep(2500 * time.Millisecond) // longer than the 1s request timeout
		_ = cmd.Process.Signal(syscall.SIGCONT)
		if err := <-done; err != nil {
			t.Fatalf("token suspended mid-refresh: %v\n%s", err, out)
		}
		w.nextTokenWorks("after the suspension")
	})
	t.Run("slow provider", func(t *testing.T) {
		w := newCustodyWorld(t, 2500*time.Millisecond)
		out, err := w.run2([]string{"OAUTHFORM_REQUEST_TIMEOUT=1s"}, "token", custodyConn, "-min-valid", "2h")
		if err != nil {
			t.Fatalf("token against a provider answering after the request timeout: %v\n%s", err, out)
		}
		w.nextTokenWorks("after the slow answer")
	})
}

func (w *custodyWorld) run2(env []string, args ...string) (string, error) {
	_, out, done := w.start(env, args...)
	err := <-done
	return out.String(), err
}

// TestCustodyKill9 kills the process between the send and the answer: the
// provider has rotated and the answer is gone. The login is lost, and
// token and show say why.
func TestCustodyKill9(t *testing.T) {
	w := newCustodyWorld(t, 500*time.Millisecond)
	cmd, _, done := w.start(nil, "token", custodyConn, "-min-valid", "2h")
	w.waitRefreshes(1, done)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	show, _ := w.run("show", custodyConn)
	if !strings.Contains(show, "refresh interrupted") || !strings.Contains(show, fmt.Sprintf("process %d", cmd.Process.Pid)) {
		t.Fatalf("show after kill -9 does not name the interrupted refresh:\n%s", show)
	}
	out, err := w.run("token", custodyConn, "-min-valid", "2h")
	if err == nil || !strings.Contains(out, "interrupted") || !strings.Contains(out, fmt.Sprintf("process %d", cmd.Process.Pid)) {
		t.Fatalf("token after kill -9 = %v, want the interrupted refresh explained\n%s", err, out)
	}
	// The next call says it again without presenting the spent token twice.
	rej := w.emu.Stats().Rejections
	if out, err := w.run("token", custodyConn); err == nil || !strings.Contains(out, "interrupted") {
		t.Fatalf("second token after kill -9 = %v\n%s", err, out)
	}
	if w.emu.Stats().Rejections != rej {
		t.Fatal("the spent refresh token was presented again")
	}
}

// flipActiveMeta flips one bit of the txid in the active bbolt meta page
// of path, so that bbolt falls back to the other meta page: the state goes
// back one transaction, silently, as a torn write or a bad sector can make
// it.
func flipActiveMeta(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const hdr = 16 // page header
	pageSize := int(binary.LittleEndian.Uint32(b[hdr+8:]))
	txidOff := hdr + 4 + 4 + 4 + 4 + 16 + 8 + 8 // magic, version, page size, flags, root, freelist, pgid
	tx0 := binary.LittleEndian.Uint64(b[txidOff:])
	tx1 := binary.LittleEndian.Uint64(b[pageSize+txidOff:])
	off := txidOff
	if tx1 > tx0 {
		off += pageSize
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCustodyStateGoesBack: a state that goes back in time never presents
// a rotated-out refresh token. Rolled back one transaction (a flipped bit
// in bbolt's active meta page), the answer kept in the custody journal is
// applied; restored from a backup, the refresh is refused with the file to
// restore, and restoring it makes the connection work again.
func TestCustodyStateGoesBack(t *testing.T) {
	w := newCustodyWorld(t, 100*time.Millisecond)
	w.nextTokenWorks("first refresh")
	flipActiveMeta(t, w.state)
	show, _ := w.run("show", custodyConn)
	if !strings.Contains(show, "pending tokens") || !strings.Contains(show, "The state went back in time") {
		t.Fatalf("show after the roll-back does not report the kept answer and the roll-back:\n%s", show)
	}
	w.nextTokenWorks("after a one-transaction roll-back")

	// A backup of the state (a copy, as a backup tool takes; a token's
	// refresh takes none of its own); refresh twice more, then put the
	// backup back.
	b, err := os.ReadFile(w.state)
	if err != nil {
		t.Fatal(err)
	}
	w.nextTokenWorks("refresh after the backup")
	if err := os.WriteFile(w.state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := w.run("token", custodyConn, "-min-valid", "2h")
	if err == nil || !strings.Contains(out, "state restore") {
		t.Fatalf("token on a restored backup = %v, want a refusal naming the file to restore\n%s", err, out)
	}
	w.mustNotReuse("token on a restored backup")
	plan, _ := w.run("plan")
	if !strings.Contains(plan, "The state is behind") || !strings.Contains(plan, "The state went back in time") {
		t.Fatalf("plan does not warn about the state behind its journal:\n%s", plan)
	}
	file := regexp.MustCompile("oauthform state restore (\\S+)`").FindStringSubmatch(strings.Join(strings.Fields(out), " "))
	if file == nil {
		t.Fatalf("no file named in:\n%s", out)
	}
	if out, err := w.run("state", "restore", file[1]); err != nil {
		t.Fatalf("state restore: %v\n%s", err, out)
	}
	w.nextTokenWorks("after restoring the custody file")
}

// TestCustodySignalDuringRefreshCommand: `oauthform refresh` (as apply)
// waits on the first SIGTERM for the answer on the wire, naming the
// connection, and stores it.
func TestCustodySignalDuringRefreshCommand(t *testing.T) {
	w := newCustodyWorld(t, 700*time.Millisecond)
	// sms77 tokens live an hour: a clock two hours on makes refresh due.
	env := []string{clockEnv + "=2h"}
	cmd, out, done := w.start(env, "refresh")
	w.waitRefreshes(1, done)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := <-done
	if !strings.Contains(out.String(), "Waiting for the provider's answer to the refresh of "+custodyConn) {
		t.Fatalf("the interrupt message does not name the refresh on the wire:\n%s", out)
	}
	if strings.Contains(out.String(), "Two interrupts") {
		t.Fatalf("one SIGTERM was counted as two (the signal also ends main's context):\n%s", out)
	}
	if err != nil || !strings.Contains(out.String(), "Refresh complete!") {
		t.Fatalf("refresh interrupted mid-flight = %v, want the answer stored\n%s", err, out)
	}
	w.nextTokenWorks("after the interrupted refresh command")
}
