package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/statetest"
)

// A custody copy of an encrypted state's record is sealed like the record
// itself: no token in it, it opens only with the passphrase, and only as
// the state and connection it was made for.
func TestCustodyCopySealed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	pass := secret.New("correct horse")
	lineage := encryptedState(t, path, pass, 2)
	s := mustOpen(t, path, state.Options{Passphrase: pass})
	recs := secretRecords(lineage, 2)
	rec := recs[0]
	gotLineage, data, err := s.SealRecord(ctx, rec)
	if err != nil || gotLineage != lineage {
		t.Fatalf("SealRecord = %q, %v", gotLineage, err)
	}
	for _, tok := range []string{rec.Access.Reveal(), rec.Refresh.Reveal()} {
		if bytes.Contains(data, []byte(tok)) {
			t.Fatal("the custody copy of an encrypted state holds a token in plain text")
		}
	}
	back, err := s.OpenRecord(ctx, rec.Conn, lineage, data)
	if err != nil || !back.Refresh.Equal(rec.Refresh) || !back.Access.Equal(rec.Access) {
		t.Fatalf("OpenRecord = %v", err)
	}
	if _, err := s.OpenRecord(ctx, recs[1].Conn, lineage, data); !errors.Is(err, state.ErrCorrupt) {
		t.Errorf("a copy opened as another connection: err = %v, want ErrCorrupt", err)
	}
	if _, err := s.OpenRecord(ctx, rec.Conn, "another-lineage", data); !errors.Is(err, state.ErrOtherState) {
		t.Errorf("a copy of another state: err = %v, want ErrOtherState", err)
	}
	noPass := mustOpen(t, path, state.Options{})
	if _, _, err := noPass.SealRecord(ctx, rec); !errors.Is(err, state.ErrSealed) {
		t.Errorf("SealRecord without the passphrase: err = %v, want ErrSealed", err)
	}
	if _, err := noPass.OpenRecord(ctx, rec.Conn, lineage, data); !errors.Is(err, state.ErrSealed) {
		t.Errorf("OpenRecord without the passphrase: err = %v, want ErrSealed", err)
	}
}

// Every commit records the serial beside the state; a state copied back
// from before (a backup) is behind it, and says so.
func TestWatermarkNoticesStateGoingBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	lineage := encryptedState(t, path, secret.New("pw"), 1)
	old := readBytes(t, path)
	s := mustOpen(t, path, state.Options{Passphrase: secret.New("pw")})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.putMany(secretRecords(lineage, 2)); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := state.CheckWatermark(path, snap); err != nil {
		t.Fatalf("a current state: %v", err)
	}
	_ = s.Unlock(ctx)
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := mustOpen(t, path, state.Options{}).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := state.CheckWatermark(path, back); !errors.Is(err, state.ErrBehind) {
		t.Fatalf("a state copied back: err = %v, want ErrBehind", err)
	}
	back.Lineage = "another"
	if err := state.CheckWatermark(path, back); err != nil {
		t.Fatalf("another state's watermark: %v", err)
	}
}

// readMark reads the watermark beside the state at path (serial 0: none).
func readMark(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path + ".serial")
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var m state.Watermark
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Serial
}

// The watermark is written at once after a quiet spell, at most every
// markEvery while commits follow each other (each write is a file renamed
// into place), and in any case by Unlock and Close: it is never ahead of
// the state, and a command leaves it at the state's serial.
func TestWatermarkFollowsCommits(t *testing.T) {
	ctx := context.Background()
	for _, end := range []string{"Unlock", "Close", "timer"} {
		t.Run(end, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			s := mustOpen(t, path, state.Options{Create: true})
			if _, err := s.Init(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Lock(ctx, "apply"); err != nil {
				t.Fatal(err)
			}
			recs := statetest.RecordsN(3)
			var serials []uint64
			for _, r := range recs {
				if err := s.Put(ctx, r); err != nil {
					t.Fatal(err)
				}
				snap, err := s.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				serials = append(serials, snap.Serial)
				if got := readMark(t, path); got > snap.Serial {
					t.Fatalf("watermark %d is ahead of the state's serial %d", got, snap.Serial)
				}
			}
			// The first commit's is written at once; the later ones
			// wait for the timer.
			if got := readMark(t, path); got < serials[0] {
				t.Fatalf("watermark %d after the first commit (serial %d): not written at once", got, serials[0])
			}
			last := serials[len(serials)-1]
			switch end {
			case "Unlock":
				if err := s.Unlock(ctx); err != nil {
					t.Fatal(err)
				}
			case "Close":
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			case "timer":
				deadline := time.Now().Add(5 * time.Second)
				for readMark(t, path) != last && time.Now().Before(deadline) {
					time.Sleep(markEvery / 10)
				}
			}
			if got := readMark(t, path); got != last {
				t.Errorf("after %s the watermark is %d, want the last commit's serial %d", end, got, last)
			}
		})
	}
}

// Under the operation lock, a custody copy is sealed with the meta of the
// store's own last commit, without opening the file (where it would wait
// for a commit in progress), and that meta follows every change of the
// encryption: a rekey in this store, or, between two locks, in another.
func TestCustodyMetaFollowsCommits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpen(t, path, state.Options{Create: true})
	lineage, err := s.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	rec := secretRecords(lineage, 2)[0]
	if err := s.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	token := []byte(rec.Refresh.Reveal())
	seal := func(what string, wantPlain bool) []byte {
		t.Helper()
		got, data, err := s.SealRecord(ctx, rec)
		if err != nil || got != lineage {
			t.Fatalf("%s: SealRecord = %q, %v", what, got, err)
		}
		if plain := bytes.Contains(data, token); plain != wantPlain {
			t.Fatalf("%s: the copy holds the token in plain text: %v, want %v", what, plain, wantPlain)
		}
		back, err := s.OpenRecord(ctx, rec.Conn, lineage, data)
		if err != nil || !back.Refresh.Equal(rec.Refresh) {
			t.Fatalf("%s: OpenRecord = %v", what, err)
		}
		return data
	}
	seal("plain state", true)

	// A commit in progress (another goroutine's group commit) holds the
	// file; sealing does not wait for it.
	fl := fileLock(path)
	fl.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		seal("while a commit holds the file", true)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fl.Unlock()
		<-done
		t.Fatal("sealing a custody copy waited for the commit in progress")
	}
	fl.Unlock()

	pass := secret.New("correct horse")
	if _, err := s.Rekey(ctx, pass); err != nil {
		t.Fatal(err)
	}
	seal("after turning encryption on", false)
	if _, err := s.Rekey(ctx, secret.Secret{}); err != nil {
		t.Fatal(err)
	}
	seal("after turning it off", true)
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	// Another process encrypts the state between this store's locks.
	other := mustOpen(t, path, state.Options{})
	if _, err := other.Lock(ctx, "state rekey"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Rekey(ctx, pass); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SealRecord(ctx, rec); !errors.Is(err, state.ErrSealed) {
		t.Fatalf("SealRecord without the passphrase of a state another process encrypted: err = %v, want ErrSealed", err)
	}
}
