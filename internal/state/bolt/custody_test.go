package bolt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
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
