package bolt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
