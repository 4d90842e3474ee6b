package bolt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/statetest"
)

// forgetRecord is a record whose tokens are unique, to be searched for in
// raw bytes.
func forgetRecord(conn string) *state.Record {
	r := statetest.RecordsN(1)[0]
	r.Conn = conn
	r.Access = secret.New("AT-" + conn + "-b7f3e1")
	r.Refresh = secret.New("RT-" + conn + "-0c9d42")
	return r
}

// rawSealed returns the stored text of conn's sealed secrets in the bbolt
// file at path (base64 in the record's JSON): whole, and its first and
// last 24 characters, any of which found later is a copy of that record.
func rawSealed(t *testing.T, path, conn string) []string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var data []byte
	_ = db.View(func(tx *bbolt.Tx) error {
		data = bytes.Clone(tx.Bucket([]byte(bucketConns)).Get([]byte(conn)))
		return nil
	})
	var v struct {
		Sealed json.RawMessage `json:"sealed"`
	}
	var text string
	if err := json.Unmarshal(data, &v); err != nil || json.Unmarshal(v.Sealed, &text) != nil || len(text) < 48 {
		t.Fatalf("record %q has no sealed secrets", conn)
	}
	return []string{text, text[:24], text[len(text)-24:]}
}

// filesHolding returns the files under dir (every one: the state, its
// backup, lock files, leftovers) that hold any of secrets.
func filesHolding(t *testing.T, dir string, secrets []string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				out = append(out, filepath.Base(p))
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), st.Mode().Perm(), want)
	}
}

// TestForgottenMeansGone: after a command deletes records and purges, no
// file under the state's folder holds their tokens, nor on an encrypted
// state their sealed secrets, although the plain Delete left them both in
// the freed pages of the file and in the backup. The backup is the state
// as it was before the command (serial, the other records in their
// pre-command version), less the forgotten records.
func TestForgottenMeansGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		pass secret.Secret
	}{
		{"plain", secret.Secret{}},
		{"encrypted", passA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := statePath(t)
			dir := filepath.Dir(path)
			s := mustOpen(t, path, state.Options{Create: true, Passphrase: tc.pass})
			if _, err := s.Lock(ctx, "apply"); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"keep", "gone1", "gone2"} {
				if err := s.Put(ctx, forgetRecord(c)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			before, err := s.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			gone := []string{"AT-gone1-b7f3e1", "RT-gone1-0c9d42", "AT-gone2-b7f3e1", "RT-gone2-0c9d42"}
			if !tc.pass.IsZero() {
				gone = append(gone, rawSealed(t, path, "gone1")...)
				gone = append(gone, rawSealed(t, path, "gone2")...)
			}

			// The command: a refresh of keep, two deletes.
			if _, err := s.Lock(ctx, "destroy"); err != nil {
				t.Fatal(err)
			}
			k := forgetRecord("keep")
			k.Access = secret.New("AT-keep-refreshed")
			if err := s.Put(ctx, k); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"gone1", "gone2"} {
				if err := s.Delete(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if got := filesHolding(t, dir, gone); len(got) < 2 {
				t.Fatalf("after Delete the bytes are in %q: want them in the state and its backup, or the test shows nothing", got)
			}
			if err := s.Purge(ctx); err != nil {
				t.Fatalf("Purge: %v", err)
			}
			if got := filesHolding(t, dir, gone); len(got) > 0 {
				t.Errorf("after Purge the forgotten records' secrets are in %q", got)
			}
			if err := s.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			wantMode(t, dir, 0o700)
			wantMode(t, path, 0o600)
			wantMode(t, s.BackupPath(), 0o600)
			// No temporary file is left beside them.
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				switch e.Name() {
				case ".gitignore", "state.db", "state.db.backup", "state.db.lock", "state.db.locks", "state.db.serial":
				default:
					t.Errorf("left in the state's folder: %s", e.Name())
				}
			}

			// What was kept is intact, in the state and in the backup.
			r, err := s.Get(ctx, "keep")
			if err != nil || r.Access.Reveal() != "AT-keep-refreshed" {
				t.Errorf("keep after Purge: %v", err)
			}
			if n := len(filesHolding(t, dir, []string{"AT-keep-refreshed"})); tc.pass.IsZero() && n != 1 {
				t.Errorf("the kept token is in %d files, want the state", n)
			}
			bk, err := s.ReadBackup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if bk.Lineage != before.Lineage || bk.Serial != before.Serial || len(bk.Records) != 1 || bk.Records["keep"] == nil {
				t.Fatalf("backup: serial %d with %d records, want the pre-command serial %d with keep only", bk.Serial, len(bk.Records), before.Serial)
			}
			if !bk.Records["keep"].Access.Equal(secret.New("AT-keep-b7f3e1")) {
				t.Error("the backup's keep is not its pre-command version")
			}
		})
	}
}

// TestPurgeOncePerCommand: deletes do not rewrite the file, one Purge
// does, whatever the number of deletes; a Purge with nothing deleted, and
// a second one, rewrite nothing.
func TestPurgeOncePerCommand(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := mustOpen(t, path, state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.putMany(statetest.RecordsN(200)); err != nil {
		t.Fatal(err)
	}
	stat := func() os.FileInfo {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	orig := stat()
	if err := s.Purge(ctx); err != nil || !os.SameFile(orig, stat()) {
		t.Fatalf("Purge with nothing deleted: %v, file replaced: %v", err, !os.SameFile(orig, stat()))
	}
	for _, r := range statetest.RecordsN(200) {
		if err := s.Delete(ctx, r.Conn); err != nil {
			t.Fatal(err)
		}
	}
	if !os.SameFile(orig, stat()) {
		t.Fatal("a Delete replaced the file: the rewrite belongs to Purge, once per command")
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	purged := stat()
	if os.SameFile(orig, purged) {
		t.Fatal("Purge did not rewrite the file")
	}
	if purged.Size() >= orig.Size() {
		t.Errorf("the file is %d bytes after purging 200 records, %d before", purged.Size(), orig.Size())
	}
	if err := s.Purge(ctx); err != nil || !os.SameFile(purged, stat()) {
		t.Errorf("a second Purge: %v, file replaced: %v", err, !os.SameFile(purged, stat()))
	}
	if got := filesHolding(t, filepath.Dir(path), []string{"TOKEN-1", "REFRESH"}); len(got) > 0 {
		t.Errorf("tokens left in %q", got)
	}
}

// TestUnlockAndClosePurge: a caller that deletes and never calls Purge
// still leaves nothing behind: Unlock, or Close holding the lock, purges.
// withDeleted opens the state at path with opts, writes the records keep
// and gone under one operation, then deletes gone under a second one,
// whose lock the returned store still holds: a purge is pending.
func withDeleted(t *testing.T, path string, opts state.Options) *Store {
	t.Helper()
	ctx := context.Background()
	s := mustOpen(t, path, opts)
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"keep", "gone"} {
		if err := s.Put(ctx, forgetRecord(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "state rm"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnlockAndClosePurge(t *testing.T) {
	for _, how := range []string{"Unlock", "Close"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			path := statePath(t)
			s := withDeleted(t, path, state.Options{Create: true})
			var err error
			if how == "Unlock" {
				// A cancelled context does not stop the purge.
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				err = s.Unlock(cctx)
			} else {
				err = s.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := filesHolding(t, filepath.Dir(path), []string{"AT-gone-b7f3e1", "RT-gone-0c9d42"}); len(got) > 0 {
				t.Errorf("after %s the forgotten tokens are in %q", how, got)
			}
		})
	}
}

// TestPurgeUnreadableBackup: a backup oauthform cannot read is left as it
// is and named in a PurgeError (its bytes may hold anything); the state
// file is rewritten all the same.
func TestPurgeUnreadableBackup(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	var notes []string
	s := withDeleted(t, path, state.Options{Create: true, Notify: func(m string) { notes = append(notes, m) }})
	garbage := []byte("not a bbolt file, AT-gone-b7f3e1")
	if err := os.WriteFile(s.BackupPath(), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.Purge(ctx)
	var pe *state.PurgeError
	if !errors.As(err, &pe) || !errors.Is(err, state.ErrCorrupt) {
		t.Fatalf("Purge with a garbage backup = %v, want a PurgeError wrapping ErrCorrupt", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, s.BackupPath()) || strings.Contains(msg, "freed pages") || strings.Contains(msg, "AT-gone") {
		t.Errorf("the error should name the backup only, and no token: %v", err)
	}
	if len(pe.Conns) != 1 || pe.Conns[0] != "gone" {
		t.Errorf("PurgeError.Conns = %q", pe.Conns)
	}
	if b, _ := os.ReadFile(s.BackupPath()); !bytes.Equal(b, garbage) {
		t.Error("the unreadable backup was changed")
	}
	if got := filesHolding(t, filepath.Dir(path), []string{"AT-gone-b7f3e1"}); len(got) != 1 || got[0] != "state.db.backup" {
		t.Errorf("the forgotten token is in %q, want only the garbage backup", got)
	}
	// The purge was reported once: Unlock does not try again.
	if err := s.Unlock(ctx); err != nil {
		t.Errorf("Unlock after a failed Purge: %v", err)
	}
	if len(notes) != 0 {
		t.Errorf("Notify was told %q; Purge's caller reports its own error", notes)
	}
}

// TestPurgeNeedsTheLock: Purge is for the holder of the operation lock,
// which alone may replace the file. A record deleted under its connection
// lock alone is purged by the store's next holder of the operation lock.
func TestPurgeNeedsTheLock(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := mustOpen(t, path, state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, forgetRecord("gone")); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	release, err := s.LockConn(ctx, "gone", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Purge under a connection lock = %v, want ErrNotLocked", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"AT-gone-b7f3e1", "RT-gone-0c9d42"}
	if got := filesHolding(t, filepath.Dir(path), secrets); len(got) == 0 {
		t.Fatal("the deleted record's bytes are gone before any purge: the test shows nothing")
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if got := filesHolding(t, filepath.Dir(path), secrets); len(got) > 0 {
		t.Errorf("after the next Lock and Unlock the forgotten tokens are in %q", got)
	}
}

// purgerEnv makes the test binary a process that deletes half the records
// of the state named by the variable's value in one transaction, prints
// "purging", purges, prints "purged" and exits.
const purgerEnv = "OAUTHFORM_STATE_TEST_PURGER"

func purger(path string) int {
	ctx := context.Background()
	s, err := Open(path, state.Options{})
	if err == nil {
		_, err = s.Lock(ctx, "destroy")
	}
	if err == nil {
		err = s.update(ctx, "", "deleting", false, func(w *writer) error {
			for i, r := range statetest.RecordsN(crashRecords) {
				if i%2 == 0 {
					if err := w.conns.Delete([]byte(r.Conn)); err != nil {
						return err
					}
					s.base.Forget.Deleted(r.Conn)
				}
			}
			return nil
		})
	}
	if err == nil {
		fmt.Println("purging")
		err = s.Purge(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("purged")
	return 0
}

const crashRecords = 4000

// TestCrashDuringPurge kill -9s a process at random points of a Purge
// (while it compacts the state and rewrites the backup), and checks after
// each kill that the state and its backup open as complete states: the
// state holds either all its records or the half the process kept (its
// delete committed before the purge), the backup all of them (the
// pre-command state) or the kept half. A crash never loses the state.
func TestCrashDuringPurge(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const iterations = 12
	landed := 0
	for it := range iterations {
		path := statePath(t)
		s := mustOpen(t, path, state.Options{Create: true})
		ctx := context.Background()
		if _, err := s.Lock(ctx, "apply"); err != nil {
			t.Fatal(err)
		}
		if err := s.putMany(statetest.RecordsN(crashRecords)); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, forgetRecord("extra")); err != nil { // the backup: all the records
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), purgerEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(stdout)
		if line, _ := r.ReadString('\n'); line != "purging\n" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("iteration %d: the purger said %q; stderr: %s", it, line, stderr.String())
		}
		time.Sleep(time.Duration(it) * time.Millisecond * 8)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		rest, _ := io.ReadAll(r)
		_ = cmd.Wait()
		if !strings.Contains(string(rest), "purged") {
			landed++
		}

		check := func(file string, wantAny ...int) {
			t.Helper()
			snap, err := mustOpen(t, path, state.Options{}).snapshotOf(file, "reading", "")
			if err != nil {
				t.Fatalf("iteration %d: %s does not open after the kill: %v", it, filepath.Base(file), err)
			}
			for _, n := range wantAny {
				if len(snap.Records) == n {
					return
				}
			}
			t.Fatalf("iteration %d: %s holds %d records, want one of %v", it, filepath.Base(file), len(snap.Records), wantAny)
		}
		check(path, crashRecords/2+1)
		check(path+".backup", crashRecords+1, crashRecords/2+1)
	}
	t.Logf("%d of %d kills landed before the purge ended", landed, iterations)
	if landed == 0 {
		t.Error("no kill landed during a purge: the test is not testing crashes")
	}
}

// writerEnv makes the test binary a process that refreshes one connection
// ("busy") over and over as `token` does, under its connection lock alone,
// until its stdin closes, and prints how many writes it made. Each time it
// first checks that the record holds what it wrote last: a write that went
// into a file replaced meanwhile would be lost, and read back older.
const writerEnv = "OAUTHFORM_STATE_TEST_WRITER"

func refresher(path string) int {
	ctx := context.Background()
	s, err := Open(path, state.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	fmt.Println("writing")
	for n := 0; ; n++ {
		select {
		case <-stop:
			fmt.Println("wrote", n)
			return 0
		default:
		}
		release, err := s.LockConn(ctx, "busy", 10*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		r, err := s.Get(ctx, "busy")
		if err == nil && r.Access.Reveal() != fmt.Sprintf("AT-busy-%d", n) {
			err = fmt.Errorf("write %d: the record holds %s: a write was lost", n, r.Access.Reveal())
		}
		if err == nil {
			r.Access = secret.New(fmt.Sprintf("AT-busy-%d", n+1))
			err = s.Put(ctx, r)
		}
		_ = release()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
}

// TestPurgeWhileAnotherProcessRefreshes: purges (each replacing the state
// file) while another process writes a connection under its connection
// lock alone, as `token` does, lose none of its writes: the writer waits
// for bbolt's lock on the file being replaced and then writes the new one.
func TestPurgeWhileAnotherProcessRefreshes(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := mustOpen(t, path, state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	busy := forgetRecord("busy")
	busy.Access = secret.New("AT-busy-0")
	if err := s.putMany(append(statetest.RecordsN(300), busy)); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), writerEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r := bufio.NewReader(stdout)
	if line, _ := r.ReadString('\n'); line != "writing\n" {
		t.Fatalf("the writer said %q; stderr: %s", line, stderr.String())
	}
	const purges = 25
	for i := range purges {
		if _, err := s.Lock(ctx, "state rm"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, fmt.Sprintf("conn-%05d", i)); err != nil {
			t.Fatal(err)
		}
		if err := s.Purge(ctx); err != nil {
			t.Fatalf("Purge %d: %v", i, err)
		}
		if err := s.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_ = stdin.Close()
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the writer failed: %v: %s", err, stderr.String())
	}
	var n int
	if _, err := fmt.Sscanf(string(rest), "wrote %d", &n); err != nil {
		t.Fatalf("the writer said %q", rest)
	}
	got, err := s.Get(ctx, "busy")
	if err != nil || got.Access.Reveal() != fmt.Sprintf("AT-busy-%d", n) {
		t.Fatalf("after %d writes the record is %v (%v): a write was lost", n, got, err)
	}
	snap, err := s.Snapshot(ctx)
	if err != nil || len(snap.Records) != 300-purges+1 {
		t.Fatalf("the state holds %d records (%v), want %d", len(snap.Records), err, 300-purges+1)
	}
	t.Logf("%d purges while the other process wrote %d times", purges, n)
}
