package bolt

import (
	"context"
	"errors"
	"testing"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// TestFallbackRotation: a store whose passphrase does not open the state
// and whose fallback does reads and writes under the fallback (the state
// keeps one key) and says so (UnderFallback); Rekey under its passphrase
// reseals every record, after which the fallback alone no longer opens
// the state.
func TestFallbackRotation(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	lineage := encryptedState(t, path, passA, 3)

	s := mustOpen(t, path, state.Options{Passphrase: passB, Fallback: passA})
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.UnderFallback || !snap.Encrypted {
		t.Fatalf("snapshot: under fallback %v, encrypted %v", snap.UnderFallback, snap.Encrypted)
	}
	if r, err := s.Get(ctx, "conn-00001"); err != nil || r.Access.Reveal() != "TOKEN-1" {
		t.Fatalf("Get under the fallback: %v", err)
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	res, err := state.Rekey(ctx, s, passB)
	if err != nil || res.Records != 3 || !res.WasEncrypted || !res.Encrypted {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	_ = s.Unlock(ctx)
	if snap, err := s.Snapshot(ctx); err != nil || snap.UnderFallback {
		t.Fatalf("after the reseal: under fallback %v, %v", snap != nil && snap.UnderFallback, err)
	}
	noSecretsIn(t, path, lineage)
	noSecretsIn(t, s.BackupPath(), lineage)

	if _, err := mustOpen(t, path, state.Options{Passphrase: passA}).Get(ctx, "conn-00001"); !errors.Is(err, state.ErrWrongPassphrase) {
		t.Errorf("the old key after the reseal: %v", err)
	}
	nw := mustOpen(t, path, state.Options{Passphrase: passB})
	snap, err = nw.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range snap.Records {
		if r.Sealed || r.Access.IsZero() {
			t.Errorf("%s is not opened by the new key", name)
		}
	}
}

// TestEnforcedRecorded: a state sealed by a store with Enforced records
// it, and reading a token or writing without a key is then ErrEnforced
// (which is ErrSealed too), while reading what is not secret works.
func TestEnforcedRecorded(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s, err := Open(path, state.Options{Create: true, Passphrase: passA, Enforced: true})
	if err != nil {
		t.Fatal(err)
	}
	lineage, err := s.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.putMany(secretRecords(lineage, 2)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	plain := mustOpen(t, path, state.Options{})
	snap, err := plain.Snapshot(ctx)
	if err != nil || !snap.Enforced || len(snap.Records) != 2 {
		t.Fatalf("snapshot without a key: %+v, %v", snap, err)
	}
	if _, err := plain.Get(ctx, "conn-00000"); !errors.Is(err, state.ErrEnforced) || !errors.Is(err, state.ErrSealed) {
		t.Errorf("Get without a key: %v", err)
	}
	if _, err := plain.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	r := secretRecords(lineage, 1)[0]
	if err := plain.Put(ctx, r); !errors.Is(err, state.ErrEnforced) {
		t.Errorf("Put without a key: %v", err)
	}
	_ = plain.Unlock(ctx)

	// A rekey keeps it, even by a store whose configuration no longer
	// enforces; turning encryption off drops it.
	k := mustOpen(t, path, state.Options{Passphrase: passA})
	if _, err := k.Lock(ctx, "state rekey"); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Rekey(ctx, k, passB); err != nil {
		t.Fatal(err)
	}
	if snap, err := k.Snapshot(ctx); err != nil || !snap.Enforced {
		t.Errorf("after a rekey: enforced %v, %v", snap != nil && snap.Enforced, err)
	}
	if _, err := state.Rekey(ctx, k, secret.Secret{}); err != nil {
		t.Fatal(err)
	}
	if snap, err := k.Snapshot(ctx); err != nil || snap.Enforced || snap.Encrypted {
		t.Errorf("after -decrypt: %+v, %v", snap, err)
	}
}
