package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/seal"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/statetest"
)

var (
	passA = secret.New("correct horse battery staple")
	passB = secret.New("rotated: tr0ub4dor&3")
)

const clientSecret = "client-secret-value"

// secretRecords returns statetest.RecordsN(n) with client secret fingerprints for
// lineage, and the last one without a refresh token.
func secretRecords(lineage string, n int) []*state.Record {
	recs := statetest.RecordsN(n)
	for _, r := range recs {
		r.ClientSecretHash = state.HashSecret(lineage, secret.New(clientSecret))
		r.RefreshBefore = 5 * time.Minute
	}
	recs[n-1].Refresh = secret.Secret{}
	return recs
}

// encryptedState creates a state sealed with pass holding secretRecords(n)
// and returns its lineage.
func encryptedState(t *testing.T, path string, pass secret.Secret, n int) string {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, state.Options{Create: true, Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lineage, err := s.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.putMany(secretRecords(lineage, n)); err != nil {
		t.Fatal(err)
	}
	return lineage
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noSecretsIn fails when the file at path holds a token, the client
// secret's fingerprint or a passphrase in the clear.
func noSecretsIn(t *testing.T, path, lineage string) {
	t.Helper()
	b := readBytes(t, path)
	hash := strings.TrimPrefix(state.HashSecret(lineage, secret.New(clientSecret)), "hmac-sha256:")
	for _, s := range []string{"TOKEN-", "REFRESH", hash, clientSecret, passA.Reveal(), passB.Reveal()} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds %q in the clear", path, s)
		}
	}
}

func metaOf(t *testing.T, path string) map[string]string {
	t.Helper()
	got := map[string]string{}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	})
	return got
}

func TestEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	lineage := encryptedState(t, path, passA, 4)
	noSecretsIn(t, path, lineage)
	raw := readBytes(t, path)
	for _, want := range []string{`"sealed":"`, `"has_access_token":true`, `"has_refresh_token":true`, `"expiry":"2030-01-01T00:00:00Z"`, `"provider":"burner"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the state lacks %s in the clear", want)
		}
	}
	m := metaOf(t, path)
	if m[state.MetaFormat] != "2" {
		t.Errorf("format_version = %q, want 2 for an encrypted state", m[state.MetaFormat])
	}
	e, err := state.ParseEncryption([]byte(m[state.MetaEncryption]))
	if err != nil || e.KDF != seal.KDFArgon2id || len(e.Salt) != seal.SaltSize || e.Cipher != seal.CipherXChaCha20Poly1305 {
		t.Errorf("encryption meta = %s (%v)", m[state.MetaEncryption], err)
	}

	// Another store with the passphrase reads everything back.
	s := mustOpen(t, path, state.Options{Passphrase: passA})
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Encrypted || len(snap.Records) != 4 {
		t.Fatalf("snapshot: encrypted %v, %d records", snap.Encrypted, len(snap.Records))
	}
	for i, want := range secretRecords(lineage, 4) {
		got := snap.Records[want.Conn]
		if got.Sealed || !got.Access.Equal(want.Access) || !got.Refresh.Equal(want.Refresh) || got.ClientSecretHash != want.ClientSecretHash {
			t.Errorf("record %d: sealed %v, secrets differ (values not shown)", i, got.Sealed)
		}
	}
	r, err := s.Get(ctx, "conn-00001")
	if err != nil || r.Access.Reveal() != "TOKEN-1" || r.Refresh.Reveal() != "REFRESH" {
		t.Errorf("Get = %v", err)
	}

	// Writes stay sealed, and so does the backup taken before them.
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	r.Access = secret.New("TOKEN-rotated")
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	noSecretsIn(t, path, lineage)
	noSecretsIn(t, s.BackupPath(), lineage)
	if bytes.Contains(readBytes(t, path), []byte("TOKEN-rotated")) {
		t.Error("the written token is in the clear")
	}
	if r, err := s.Get(ctx, "conn-00001"); err != nil || r.Access.Reveal() != "TOKEN-rotated" {
		t.Errorf("Get after Put = %v", err)
	}
}

func TestSealedWithoutPassphrase(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	lineage := encryptedState(t, path, passA, 3)
	s := mustOpen(t, path, state.Options{})
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot without the passphrase: %v", err)
	}
	if !snap.Encrypted || snap.Lineage != lineage || len(snap.Records) != 3 {
		t.Fatalf("snapshot = %+v", snap)
	}
	for _, want := range secretRecords(lineage, 3) {
		got := snap.Records[want.Conn]
		if !got.Sealed {
			t.Errorf("%s: not Sealed", want.Conn)
		}
		// What plan and show need is all there.
		if got.Provider != want.Provider || got.ClientID != want.ClientID || !got.Expiry.Equal(want.Expiry) ||
			got.Status != want.Status || got.RefreshBefore != want.RefreshBefore || len(got.Scopes) != 2 ||
			got.Params["owner_type"] != "vendor" || got.Meta["connected_burners"] == nil {
			t.Errorf("%s: metadata lost: %+v", want.Conn, got)
		}
		// The secrets are not: stand-ins say which tokens exist.
		if got.Access.Reveal() != state.SealedToken || got.ClientSecretHash != "" {
			t.Errorf("%s: Access %q, hash %q", want.Conn, got.Access.Reveal(), got.ClientSecretHash)
		}
		if got.Refresh.IsZero() != want.Refresh.IsZero() || (!got.Refresh.IsZero() && got.Refresh.Reveal() != state.SealedToken) {
			t.Errorf("%s: Refresh stand-in wrong (has refresh: want %v)", want.Conn, !want.Refresh.IsZero())
		}
	}
	if _, err := s.Get(ctx, "conn-00001"); !errors.Is(err, state.ErrSealed) || !strings.Contains(err.Error(), "no passphrase") {
		t.Errorf("Get without the passphrase = %v, want ErrSealed", err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get of a missing record = %v, want ErrNotFound", err)
	}

	// Nothing that needs the secrets writes.
	orig := readBytes(t, path)
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, &state.Record{Conn: "new", Access: secret.New("TOKEN-new")}); !errors.Is(err, state.ErrSealed) {
		t.Errorf("Put without the passphrase = %v, want ErrSealed", err)
	}
	if err := s.Put(ctx, snap.Records["conn-00000"]); !errors.Is(err, state.ErrSealed) {
		t.Errorf("Put of a Sealed record = %v, want ErrSealed", err)
	}
	if _, err := s.Rekey(ctx, passB); !errors.Is(err, state.ErrSealed) {
		t.Errorf("Rekey without the passphrase = %v, want ErrSealed", err)
	}
	if !bytes.Equal(orig, readBytes(t, path)) {
		t.Fatal("a refused write changed the state")
	}
	// A Sealed record cannot reach a store that has the passphrase either.
	w := mustOpen(t, path, state.Options{Passphrase: passA})
	if _, err := w.LockConn(ctx, "conn-00000", 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, snap.Records["conn-00000"]); !errors.Is(err, state.ErrSealed) {
		t.Errorf("Put of a Sealed record with the passphrase = %v, want ErrSealed", err)
	}
	if _, err := state.EncodeRecord(snap.Records["conn-00000"]); !errors.Is(err, state.ErrSealed) {
		t.Errorf("EncodeRecord of a Sealed record = %v, want ErrSealed", err)
	}
	if !bytes.Equal(orig, readBytes(t, path)) {
		t.Fatal("a refused write changed the state")
	}
	// Removing a record seals nothing and needs no passphrase.
	if err := s.Delete(ctx, "conn-00002"); err != nil {
		t.Errorf("Delete without the passphrase: %v", err)
	}
	if snap, err := w.Snapshot(ctx); err != nil || len(snap.Records) != 2 || snap.Records["conn-00001"].Access.Reveal() != "TOKEN-1" {
		t.Errorf("after Delete: %v", err)
	}
}

func TestWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	encryptedState(t, path, passA, 3)
	_ = os.Remove(path + ".backup")
	orig := readBytes(t, path)
	s := mustOpen(t, path, state.Options{Passphrase: passB})
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, state.ErrWrongPassphrase) || !strings.Contains(err.Error(), "the passphrase does not open this state") ||
			!strings.Contains(err.Error(), path) {
			t.Errorf("%s with a wrong passphrase = %v, want ErrWrongPassphrase naming the file", op, err)
		}
		for _, p := range []secret.Secret{passA, passB} {
			if err != nil && strings.Contains(err.Error(), p.Reveal()) {
				t.Errorf("%s: the error shows a passphrase", op)
			}
		}
		if !bytes.Equal(orig, readBytes(t, path)) {
			t.Fatalf("%s with a wrong passphrase changed the state", op)
		}
		if _, err := os.Stat(path + ".backup"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s with a wrong passphrase wrote a backup", op)
		}
	}
	_, err := s.Snapshot(ctx)
	check("Snapshot", err)
	_, err = s.Get(ctx, "conn-00001")
	check("Get", err)
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	check("Put", s.Put(ctx, &state.Record{Conn: "x", Access: secret.New("TOKEN-x")}))
	check("Delete", s.Delete(ctx, "conn-00001"))
	_, err = s.Rekey(ctx, passA)
	check("Rekey", err)
	if got := metaOf(t, path)[state.MetaSerial]; got != "1" {
		t.Errorf("serial = %s, want 1", got)
	}
}

// TestPlainStateStaysPlainOnRead: a passphrase alone changes nothing until
// something is written (plan shows nothing for it).
func TestPlainStateStaysPlainOnRead(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	validState(t, path, 3)
	orig := readBytes(t, path)
	s := mustOpen(t, path, state.Options{Passphrase: passA, Notify: func(string) { t.Error("notified on a read") }})
	snap, err := s.Snapshot(ctx)
	if err != nil || snap.Encrypted || snap.Records["conn-00001"].Access.Reveal() != "TOKEN-1" {
		t.Fatalf("Snapshot = %+v, %v", snap, err)
	}
	if _, err := s.Get(ctx, "conn-00001"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "plan"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, readBytes(t, path)) {
		t.Error("reading with a passphrase changed an unencrypted state")
	}
}

// TestEnableOnFirstWrite: the first write of a store with a passphrase on
// an unencrypted state seals every record in one transaction, backs up the
// sealed result, says so, and then writes.
func TestEnableOnFirstWrite(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	validState(t, path, 5)
	// An earlier command's backup holds tokens in the clear.
	plain := mustOpen(t, path, state.Options{})
	if err := plain.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	// Under a connection lock only (`token`), the file cannot be replaced:
	// the write is not sealed, and the store says so once.
	var notes []string
	tok := mustOpen(t, path, state.Options{Passphrase: passA, Notify: func(m string) { notes = append(notes, m) }})
	release, err := tok.LockConn(ctx, "conn-00000", 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := tok.Put(ctx, statetest.RecordsN(1)[0]); err != nil {
			t.Fatal(err)
		}
	}
	_ = release()
	if len(notes) != 1 || !strings.Contains(notes[0], "not encrypted yet") {
		t.Errorf("notes = %q", notes)
	}
	if m := metaOf(t, path); m[state.MetaFormat] != "1" || m[state.MetaSerial] != "3" {
		t.Errorf("meta after a write under a connection lock = %v", m)
	}

	// Under the operation lock (apply), the first write seals everything.
	notes = nil
	s := mustOpen(t, path, state.Options{Passphrase: passA, Notify: func(m string) { notes = append(notes, m) }})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	// A `token` elsewhere is refreshing another connection: the
	// migration waits for it.
	other := mustOpen(t, path, state.Options{})
	release, err = other.LockConn(ctx, "conn-00004", 0)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { _ = release() })
	if _, err := s.LockConn(ctx, "conn-00002", 0); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, "conn-00002")
	if err != nil {
		t.Fatal(err)
	}
	r.Access = secret.New("TOKEN-new")
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "5 connection(s) were sealed in one transaction") || !strings.Contains(notes[0], path) {
		t.Errorf("notes = %q", notes)
	}
	for _, n := range notes {
		if strings.Contains(n, passA.Reveal()) {
			t.Error("the note shows the passphrase")
		}
	}
	m := metaOf(t, path)
	// One transaction for the migration, one for the write.
	if m[state.MetaSerial] != "5" || m[state.MetaFormat] != "2" || m[state.MetaEncryption] == "" {
		t.Errorf("meta = %v, want serial 5 (3 + migration + write), format 2", m)
	}
	lineage := m[state.MetaLineage]
	noSecretsIn(t, path, lineage)
	noSecretsIn(t, s.BackupPath(), lineage)
	if bytes.Contains(readBytes(t, path), []byte("TOKEN-new")) {
		t.Error("the written token is in the clear")
	}
	bk, err := s.ReadBackup(ctx)
	if err != nil || !bk.Encrypted || bk.Serial != 4 || bk.Records["conn-00001"].Access.Reveal() != "TOKEN-1" {
		t.Errorf("backup after the migration: %+v, %v", bk, err)
	}
	snap, err := mustOpen(t, path, state.Options{Passphrase: passA}).Snapshot(ctx)
	if err != nil || len(snap.Records) != 5 || snap.Records["conn-00002"].Access.Reveal() != "TOKEN-new" ||
		snap.Records["conn-00004"].Access.Reveal() != "TOKEN-4" {
		t.Errorf("after the migration: %v", err)
	}
	// The next write does not migrate again.
	r.Access = secret.New("TOKEN-newer")
	if err := s.Put(ctx, r); err != nil || len(notes) != 1 {
		t.Errorf("second Put: %v, %d notes", err, len(notes))
	}
}

// TestMigrationsAreAtomic fails every migration half-way and checks that the
// state file is byte for byte what it was.
func TestMigrationsAreAtomic(t *testing.T) {
	injected := errors.New("injected failure")
	cases := map[string]struct {
		setup func(t *testing.T, path string)
		pass  secret.Secret
		run   func(ctx context.Context, s *Store) error
	}{
		"turn on at a write": {
			setup: func(t *testing.T, path string) { validState(t, path, 5) },
			pass:  passA,
			run: func(ctx context.Context, s *Store) error {
				return s.Put(ctx, &state.Record{Conn: "x", Access: secret.New("TOKEN-x")})
			},
		},
		"turn on with Rekey": {
			setup: func(t *testing.T, path string) { validState(t, path, 5) },
			run:   func(ctx context.Context, s *Store) error { _, err := s.Rekey(ctx, passA); return err },
		},
		"change the passphrase": {
			setup: func(t *testing.T, path string) { encryptedState(t, path, passA, 5) },
			pass:  passA,
			run:   func(ctx context.Context, s *Store) error { _, err := s.Rekey(ctx, passB); return err },
		},
		"turn off": {
			setup: func(t *testing.T, path string) { encryptedState(t, path, passA, 5) },
			pass:  passA,
			run:   func(ctx context.Context, s *Store) error { _, err := s.Rekey(ctx, secret.Secret{}); return err },
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := statePath(t)
			c.setup(t, path)
			orig := readBytes(t, path)
			calls := 0
			restore := state.SetRewriteHook(func(i int) error {
				calls++
				if i == 3 {
					return injected
				}
				return nil
			})
			defer restore()
			s := mustOpen(t, path, state.Options{Passphrase: c.pass, Notify: func(string) { t.Error("notified of a failed migration") }})
			if _, err := s.Lock(ctx, "state rekey"); err != nil {
				t.Fatal(err)
			}
			if err := c.run(ctx, s); !errors.Is(err, injected) {
				t.Fatalf("run = %v, want the injected failure", err)
			}
			if calls != 4 {
				t.Errorf("the hook ran %d times, want 4 (3 records rewritten, then the failure)", calls)
			}
			if !bytes.Equal(orig, readBytes(t, path)) {
				t.Fatal("a failed migration changed the state")
			}
			restore()
			// The state reads as before.
			snap, err := mustOpen(t, path, state.Options{Passphrase: c.pass}).Snapshot(ctx)
			if err != nil || len(snap.Records) != 5 || snap.Records["conn-00003"].Access.Reveal() != "TOKEN-3" {
				t.Errorf("after the failed migration: %v", err)
			}
		})
	}
}

func TestRekey(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	lineage := encryptedState(t, path, passA, 4)
	before := metaOf(t, path)
	s := mustOpen(t, path, state.Options{Passphrase: passA})
	if _, err := s.Rekey(ctx, passB); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Rekey without the lock = %v, want ErrNotLocked", err)
	}
	if _, err := s.Lock(ctx, "state rekey"); err != nil {
		t.Fatal(err)
	}

	// A refresh in flight (another process holding a connection lock) is
	// waited for.
	other := mustOpen(t, path, state.Options{Passphrase: passA})
	release, err := other.LockConn(ctx, "conn-00001", 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(100 * time.Millisecond)
		r, err := other.Get(ctx, "conn-00001")
		if err == nil {
			r.Access = secret.New("TOKEN-refreshed")
			err = other.Put(ctx, r)
		}
		if err != nil {
			t.Errorf("the refresh in flight: %v", err)
		}
		_ = release()
	}()
	start := time.Now()
	res, err := s.Rekey(ctx, passB)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 90*time.Millisecond {
		t.Error("Rekey did not wait for the connection lock")
	}
	after := metaOf(t, path)
	if res.Records != 4 || !res.WasEncrypted || !res.Encrypted || fmt.Sprint(res.Serial) != after[state.MetaSerial] {
		t.Errorf("result = %+v, meta serial %s", res, after[state.MetaSerial])
	}
	// One transaction for the rewrite, one for the refresh in flight.
	if before[state.MetaSerial] != "1" || after[state.MetaSerial] != "3" {
		t.Errorf("serial %s -> %s, want 1 -> 3", before[state.MetaSerial], after[state.MetaSerial])
	}
	if after[state.MetaEncryption] == before[state.MetaEncryption] {
		t.Error("the encryption meta (salt, check) did not change")
	}
	noSecretsIn(t, path, lineage)
	if _, err := mustOpen(t, path, state.Options{Passphrase: passA}).Snapshot(ctx); !errors.Is(err, state.ErrWrongPassphrase) {
		t.Errorf("the old passphrase after Rekey = %v, want ErrWrongPassphrase", err)
	}
	snap, err := mustOpen(t, path, state.Options{Passphrase: passB}).Snapshot(ctx)
	if err != nil || snap.Records["conn-00001"].Access.Reveal() != "TOKEN-refreshed" || snap.Records["conn-00002"].Access.Reveal() != "TOKEN-2" {
		t.Fatalf("the new passphrase: %v", err)
	}
	// The backup was replaced by the re-keyed state: the old passphrase
	// opens no copy of it.
	if bk, err := s.ReadBackup(ctx); err != nil || bk.Records["conn-00002"].Access.Reveal() != "TOKEN-2" {
		t.Errorf("backup after Rekey: %v", err)
	}
	// The store goes on with the new passphrase.
	if err := s.Put(ctx, &state.Record{Conn: "after", Access: secret.New("TOKEN-after")}); err != nil {
		t.Errorf("Put after Rekey: %v", err)
	}

	// Turn encryption off: the secrets are stored unsealed again.
	res, err = s.Rekey(ctx, secret.Secret{})
	if err != nil || res.Records != 5 || res.Encrypted || !res.WasEncrypted {
		t.Fatalf("Rekey to none = %+v, %v", res, err)
	}
	m := metaOf(t, path)
	if m[state.MetaFormat] != "1" || m[state.MetaEncryption] != "" {
		t.Errorf("meta after turning encryption off = %v", m)
	}
	if !bytes.Contains(readBytes(t, path), []byte("TOKEN-after")) {
		t.Error("the tokens are not stored unsealed")
	}
	snap, err = mustOpen(t, path, state.Options{}).Snapshot(ctx)
	if err != nil || snap.Encrypted || snap.Records["conn-00002"].Access.Reveal() != "TOKEN-2" || snap.Records["conn-00002"].ClientSecretHash == "" {
		t.Fatalf("after turning encryption off: %v", err)
	}

	// And on again.
	res, err = s.Rekey(ctx, passA)
	if err != nil || res.Records != 5 || !res.Encrypted || res.WasEncrypted {
		t.Fatalf("Rekey of an unencrypted state = %+v, %v", res, err)
	}
	noSecretsIn(t, path, lineage)
	if snap, err := mustOpen(t, path, state.Options{Passphrase: passA}).Snapshot(ctx); err != nil || snap.Records["after"].Access.Reveal() != "TOKEN-after" {
		t.Errorf("after turning encryption on: %v", err)
	}
}

// TestSwappedSeals: a sealed value moved to another record, or to the same
// connection in another state, does not open.
func TestSwappedSeals(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	encryptedState(t, path, passA, 3)
	// Swap the "sealed" fields of two records, keeping everything else.
	writeBolt(t, path, func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketConns))
		var a, b map[string]any
		if err := json.Unmarshal(c.Get([]byte("conn-00000")), &a); err != nil {
			return err
		}
		if err := json.Unmarshal(c.Get([]byte("conn-00001")), &b); err != nil {
			return err
		}
		a["sealed"], b["sealed"] = b["sealed"], a["sealed"]
		for k, v := range map[string]map[string]any{"conn-00000": a, "conn-00001": b} {
			raw, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := c.Put([]byte(k), raw); err != nil {
				return err
			}
		}
		return nil
	})
	s := mustOpen(t, path, state.Options{Passphrase: passA})
	_, err := s.Snapshot(ctx)
	if !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), "copied from another connection") {
		t.Errorf("Snapshot with swapped seals = %v, want ErrCorrupt", err)
	}
	for _, conn := range []string{"conn-00000", "conn-00001"} {
		if _, err := s.Get(ctx, conn); !errors.Is(err, state.ErrCorrupt) {
			t.Errorf("Get(%s) = %v, want ErrCorrupt", conn, err)
		}
	}
	if r, err := s.Get(ctx, "conn-00002"); err != nil || r.Access.Reveal() != "TOKEN-2" {
		t.Errorf("Get of an intact record: %v", err)
	}

}

// TestMixedEncodings: a state is all sealed or all unsealed.
func TestMixedEncodings(t *testing.T) {
	ctx := context.Background()
	t.Run("unsealed record in an encrypted state", func(t *testing.T) {
		path := statePath(t)
		encryptedState(t, path, passA, 2)
		plain, err := state.EncodeRecord(&state.Record{Conn: "conn-00001", Access: secret.New("TOKEN-planted")})
		if err != nil {
			t.Fatal(err)
		}
		writeBolt(t, path, func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketConns)).Put([]byte("conn-00001"), plain)
		})
		for _, pass := range []secret.Secret{passA, {}} {
			_, err := mustOpen(t, path, state.Options{Passphrase: pass}).Snapshot(ctx)
			if !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), "not sealed") || strings.Contains(err.Error(), "TOKEN-") {
				t.Errorf("Snapshot = %v, want ErrCorrupt", err)
			}
		}
	})
	t.Run("sealed record in an unencrypted state", func(t *testing.T) {
		path := statePath(t)
		validState(t, path, 2)
		writeBolt(t, path, func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketConns)).Put([]byte("conn-00001"), []byte(`{"version":1,"conn":"x","sealed":"AAAA"}`))
		})
		if _, err := mustOpen(t, path, state.Options{}).Snapshot(ctx); !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), "not encrypted") {
			t.Errorf("Snapshot = %v, want ErrCorrupt", err)
		}
	})
}

func TestBadEncryptionMeta(t *testing.T) {
	good := func(t *testing.T) map[string]any {
		path := statePath(t)
		encryptedState(t, path, passA, 1)
		var e map[string]any
		if err := json.Unmarshal([]byte(metaOf(t, path)[state.MetaEncryption]), &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	cases := []struct {
		name   string
		format string
		change func(e map[string]any)
		raw    string
		want   error
		say    string
	}{
		{"in a format 1 file", "1", nil, "", state.ErrCorrupt, "format 1 cannot hold an encrypted state"},
		{"not JSON", "2", nil, "{", state.ErrCorrupt, "invalid encryption entry"},
		{"newer", "2", func(e map[string]any) { e["version"] = 9 }, "", state.ErrNewerFormat, "encryption has version 9"},
		{"unknown cipher", "2", func(e map[string]any) { e["cipher"] = "rot13" }, "", state.ErrCorrupt, "unknown cipher"},
		{"unknown kdf", "2", func(e map[string]any) { e["kdf"] = "md5" }, "", state.ErrCorrupt, "unknown key derivation"},
		{"huge memory", "2", func(e map[string]any) { e["memory_kib"] = 1 << 30 }, "", state.ErrCorrupt, "memory"},
		{"short salt", "2", func(e map[string]any) { e["salt"] = "AAAA" }, "", state.ErrCorrupt, "salt"},
		{"no check", "2", func(e map[string]any) { delete(e, "check") }, "", state.ErrCorrupt, "check value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.raw
			if raw == "" {
				e := good(t)
				if c.change != nil {
					c.change(e)
				}
				b, _ := json.Marshal(e)
				raw = string(b)
			}
			path := statePath(t)
			encryptedState(t, path, passA, 1)
			writeBolt(t, path, func(tx *bbolt.Tx) error {
				mb := tx.Bucket([]byte(bucketMeta))
				if err := mb.Put([]byte(state.MetaFormat), []byte(c.format)); err != nil {
					return err
				}
				return mb.Put([]byte(state.MetaEncryption), []byte(raw))
			})
			for _, pass := range []secret.Secret{passA, {}} {
				_, err := mustOpen(t, path, state.Options{Passphrase: pass}).Snapshot(context.Background())
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.say) {
					t.Errorf("Snapshot = %v, want %v saying %q", err, c.want, c.say)
				}
			}
		})
	}
}

// TestCreateEncrypted: a state created by a store with a passphrase is
// encrypted from the start.
func TestCreateEncrypted(t *testing.T) {
	path := statePath(t)
	s := mustOpen(t, path, state.Options{Create: true, Passphrase: passA})
	snap, err := s.Snapshot(context.Background())
	if err != nil || !snap.Encrypted || snap.Serial != 0 {
		t.Fatalf("new state: %+v, %v", snap, err)
	}
	if _, err := mustOpen(t, path, state.Options{Passphrase: passB}).Snapshot(context.Background()); !errors.Is(err, state.ErrWrongPassphrase) {
		t.Errorf("another passphrase on a new state = %v", err)
	}
}

// TestDefaultKDF: the binary's parameters are the strong ones.
func TestDefaultKDF(t *testing.T) {
	defer state.SetKDFParams(seal.NewParams)()
	path := statePath(t)
	mustOpen(t, path, state.Options{Create: true, Passphrase: passA})
	e, err := state.ParseEncryption([]byte(metaOf(t, path)[state.MetaEncryption]))
	if err != nil {
		t.Fatal(err)
	}
	if e.KDF != "argon2id" || e.Time != 1 || e.MemoryKiB != 64*1024 || e.Threads != 2 || len(e.Salt) != 16 {
		t.Errorf("default parameters = %+v", e.Params)
	}
	if _, err := mustOpen(t, path, state.Options{Passphrase: passA}).Snapshot(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestEnableBlockedByBrokenRecord: a record that cannot be read stops
// encryption from being turned on, but not the write that removes it.
func TestEnableBlockedByBrokenRecord(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	setRecord("conn-00001", `{"version":1,"access_token":"TOKEN-1`)(t, path)
	var notes []string
	s := mustOpen(t, path, state.Options{Passphrase: passA, Notify: func(m string) { notes = append(notes, m) }})
	if _, err := s.Lock(ctx, "state rm"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "conn-00001"); err != nil {
		t.Fatalf("Delete of the broken record: %v", err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "could not be turned on") || !strings.Contains(notes[0], `"conn-00001"`) ||
		strings.Contains(notes[0], "TOKEN-") {
		t.Errorf("notes = %q", notes)
	}
	if m := metaOf(t, path); m[state.MetaFormat] != "1" {
		t.Errorf("meta = %v, want the state still unencrypted", m)
	}
	// With the broken record gone, the next write seals the state.
	if err := s.Put(ctx, &state.Record{Conn: "new", Access: secret.New("TOKEN-new")}); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || !strings.Contains(notes[1], "2 connection(s) were sealed") {
		t.Errorf("notes = %q", notes)
	}
	noSecretsIn(t, path, metaOf(t, path)[state.MetaLineage])
}
