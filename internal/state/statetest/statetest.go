// Package statetest is the conformance suite every state.Store backend must
// pass; each backend (internal/state/bolt, internal/state/pg) runs it,
// plain and encrypted, from its tests. It also holds what those tests
// share (Main, CheapKDF, RecordsN).
package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/oauthform/oauthform/internal/seal"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/pgtest"
)

// CheapKDF gives cheap Argon2id parameters, so that tests derive keys in
// microseconds (Main installs them with state.SetKDFParams).
func CheapKDF() seal.Params {
	p := seal.NewParams()
	p.Time, p.MemoryKiB, p.Threads = 1, 64, 1
	return p
}

// Main is the TestMain of the state packages' tests: os.Exit(statetest.Main(m)).
// It installs CheapKDF, runs the tests and then stops the PostgreSQL test
// server if they started one (pgtest.Main).
func Main(m *testing.M) int {
	state.SetKDFParams(CheapKDF)
	return pgtest.Main(m)
}

// LockTimeoutSetter is implemented by stores whose lock timeout can be
// changed after Open. The suite needs it to test waiting for the lock; a
// store without it skips those checks.
type LockTimeoutSetter interface {
	SetLockTimeout(time.Duration)
}

// BackupReader is implemented by stores that can read back their backup.
// The suite needs it to check what the backup holds; a store without it
// skips those checks.
type BackupReader interface {
	ReadBackup(ctx context.Context) (*state.Snapshot, error)
}

// TestStore runs the conformance suite against the stores open returns.
//
// open is called with the suite's subtests' t. Each call must return a new
// Store (a separate client, as another process would have) on the state
// that belongs to that t: calls with the same t share one state, different
// t never do. The state must exist and hold no records (open with
// Options{Create: true}), and the stores must fail Lock at once when the
// lock is held (LockTimeout 0). The suite closes the stores it opens;
// Close may be called more than once.
func TestStore(t *testing.T, open func(t *testing.T) state.Store) {
	s := &suite{open: open}
	t.Run("RoundTrip", s.roundTrip)
	t.Run("GetMissing", s.getMissing)
	t.Run("InitIdempotent", s.initIdempotent)
	t.Run("SerialAndLineage", s.serialAndLineage)
	t.Run("SnapshotConsistent", s.snapshotConsistent)
	t.Run("WritesNeedLock", s.writesNeedLock)
	t.Run("LockContention", s.lockContention)
	t.Run("LockTimeout", s.lockTimeout)
	t.Run("ReadsWhileLocked", s.readsWhileLocked)
	t.Run("Backup", s.backup)
	t.Run("Purge", s.purge)
	t.Run("ConnLocks", s.connLocks)
	t.Run("ConnLockSingleFlight", s.connLockSingleFlight)
}

type suite struct {
	open func(t *testing.T) state.Store
}

func (s *suite) store(t *testing.T) state.Store {
	t.Helper()
	st := s.open(t)
	if st == nil {
		t.Fatal("open returned a nil Store")
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func lock(t *testing.T, st state.Store, op string) {
	t.Helper()
	if _, err := st.Lock(context.Background(), op); err != nil {
		t.Fatalf("Lock(%q): %v", op, err)
	}
}

func unlock(t *testing.T, st state.Store) {
	t.Helper()
	if err := st.Unlock(context.Background()); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

func put(t *testing.T, st state.Store, r *state.Record) {
	t.Helper()
	if err := st.Put(context.Background(), r); err != nil {
		t.Fatalf("Put(%q): %v", r.Conn, err)
	}
}

func snapshot(t *testing.T, st state.Store) *state.Snapshot {
	t.Helper()
	snap, err := st.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if snap == nil || snap.Records == nil {
		t.Fatalf("Snapshot returned %#v: want a non-nil Records map", snap)
	}
	return snap
}

// RecordsN returns n records conn-00000, conn-00001, ... with tokens
// TOKEN-<i> and REFRESH, for setting up tests and benchmarks.
func RecordsN(n int) []*state.Record {
	recs := make([]*state.Record, n)
	for i := range recs {
		recs[i] = &state.Record{
			Conn: fmt.Sprintf("conn-%05d", i), Provider: "burner", ClientID: "client",
			Scopes: []string{"contacts:read", "messages:connect"}, Params: map[string]string{"owner_type": "vendor"},
			Access: secret.New(fmt.Sprintf("TOKEN-%d", i)), Refresh: secret.New("REFRESH"), TokenType: "Bearer",
			Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Status: state.StatusActive,
			Meta:    map[string]any{"connected_burners": []any{map[string]any{"id": i}}},
			Created: time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC),
		}
	}
	return recs
}

// FullRecord returns a record with every field set, for round-trip tests.
func FullRecord(conn string) *state.Record {
	loc := time.FixedZone("UTC+2", 2*3600)
	return &state.Record{
		Version:          state.RecordVersion,
		Conn:             conn,
		Provider:         "burner",
		ClientID:         "client-" + conn,
		ClientSecretHash: "hmac-sha256:00ff",
		RedirectURI:      "http://127.0.0.1:8765/callback",
		Grant:            "device_code",
		Scopes:           []string{"contacts:read", "messages:connect"},
		GrantedScopes:    []string{"contacts:read"},
		Params:           map[string]string{"owner_type": "vendor", "burner_id": "42"},
		RefreshBefore:    10*time.Minute + 30*time.Second,
		Access:           secret.New("access-" + conn + "-\u00e9\"\\"),
		Refresh:          secret.New("refresh-" + conn),
		TokenType:        "Bearer",
		Expiry:           time.Date(2031, 2, 3, 4, 5, 6, 789000000, loc),
		ExpiryAssumed:    true,
		Status:           state.StatusNeedsReconnect,
		LastError: &state.LastError{
			Kind:    "invalid_grant",
			Code:    "E42",
			Message: "refresh token revoked",
			At:      time.Date(2030, 1, 1, 0, 0, 0, 1, time.UTC),
		},
		Meta: map[string]any{
			"connected_burners": []any{
				map[string]any{"id": 9007199254740993, "name": "Work line"},
			},
			"flag":  true,
			"plain": "x",
			"none":  nil,
		},
		Created:   time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Refreshed: time.Date(2030, 6, 1, 12, 0, 0, 0, time.Local),
	}
}

// CompareRecords reports the differences between two records: secrets
// are compared with Reveal, times with Equal, Meta as JSON values, and a
// nil slice or map equals an empty one except GrantedScopes, where nil
// means "the provider did not say". It never prints a secret's value.
func CompareRecords(want, got *state.Record) string {
	if want == nil || got == nil {
		if want == got {
			return ""
		}
		return fmt.Sprintf("want %v, got %v", want, got)
	}
	var b strings.Builder
	w, g := *want, *got
	w.Meta, g.Meta = nil, nil
	// cmp would print a differing Secret's unexported value: compare the
	// secrets apart and say only which one differs.
	if d := cmp.Diff(&w, &g,
		cmpopts.IgnoreFields(state.Record{}, "Access", "Refresh"),
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
		cmpopts.EquateEmpty(),
	); d != "" {
		fmt.Fprintf(&b, "record %q (-want +got):\n%s", want.Conn, d)
	}
	for _, s := range []struct {
		name      string
		want, got secret.Secret
	}{{"Access", want.Access, got.Access}, {"Refresh", want.Refresh, got.Refresh}} {
		if s.want.Reveal() != s.got.Reveal() {
			fmt.Fprintf(&b, "record %q: %s differs (values not shown)\n", want.Conn, s.name)
		}
	}
	if (want.GrantedScopes == nil) != (got.GrantedScopes == nil) {
		fmt.Fprintf(&b, "record %q: GrantedScopes nil-ness: want nil=%v, got nil=%v\n",
			want.Conn, want.GrantedScopes == nil, got.GrantedScopes == nil)
	}
	wm, werr := jsonValue(want.Meta)
	gm, gerr := jsonValue(got.Meta)
	if werr != nil || gerr != nil {
		fmt.Fprintf(&b, "record %q: Meta is not JSON: want %v, got %v\n", want.Conn, werr, gerr)
	} else if d := cmp.Diff(wm, gm, cmpopts.EquateEmpty()); d != "" {
		fmt.Fprintf(&b, "record %q Meta (-want +got):\n%s", want.Conn, d)
	}
	return b.String()
}

// jsonValue normalizes v to the generic JSON value it encodes to, keeping
// numbers exact.
func jsonValue(v map[string]any) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

func (s *suite) roundTrip(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	lock(t, st, "apply")
	full := FullRecord("full")
	minimal := &state.Record{Conn: "minimal", Provider: "sms77", ClientID: "c", Status: state.StatusActive}
	emptyGranted := &state.Record{Conn: "granted-none", Provider: "buffer", GrantedScopes: []string{}, Scopes: []string{"a"}}
	for _, r := range []*state.Record{full, minimal, emptyGranted} {
		put(t, st, r)
	}
	// Writers always write RecordVersion, whatever the record says.
	for _, r := range []*state.Record{minimal, emptyGranted} {
		r.Version = state.RecordVersion
	}
	unlock(t, st)

	// Read back through the writer and through another store.
	for _, reader := range []state.Store{st, s.store(t)} {
		snap := snapshot(t, reader)
		if len(snap.Records) != 3 {
			t.Errorf("Snapshot has %d records, want 3", len(snap.Records))
		}
		for _, want := range []*state.Record{full, minimal, emptyGranted} {
			got, err := reader.Get(ctx, want.Conn)
			if err != nil {
				t.Fatalf("Get(%q): %v", want.Conn, err)
			}
			if d := CompareRecords(want, got); d != "" {
				t.Errorf("Get: %s", d)
			}
			if d := CompareRecords(want, snap.Records[want.Conn]); d != "" {
				t.Errorf("Snapshot: %s", d)
			}
		}
	}

	// Results are copies: changing one does not change the state.
	got, err := st.Get(ctx, "full")
	if err != nil {
		t.Fatal(err)
	}
	got.Scopes[0] = "changed"
	got.Params["owner_type"] = "changed"
	got.LastError.Kind = "changed"
	again, err := st.Get(ctx, "full")
	if err != nil {
		t.Fatal(err)
	}
	if d := CompareRecords(full, again); d != "" {
		t.Errorf("changing a Get result changed the state: %s", d)
	}
}

func (s *suite) getMissing(t *testing.T) {
	st := s.store(t)
	if _, err := st.Get(context.Background(), "nope"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func (s *suite) initIdempotent(t *testing.T) {
	ctx := context.Background()
	a, b := s.store(t), s.store(t)
	l1, err := a.Init(ctx)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if l1 == "" {
		t.Fatal("Init returned an empty lineage")
	}
	l2, err := b.Init(ctx)
	if err != nil {
		t.Fatalf("second Init: %v", err)
	}
	if l2 != l1 {
		t.Errorf("second Init returned lineage %q, want %q", l2, l1)
	}
	snap := snapshot(t, b)
	if snap.Lineage != l1 || snap.Serial != 0 || len(snap.Records) != 0 {
		t.Errorf("after Init: lineage %q serial %d records %d, want %q 0 0", snap.Lineage, snap.Serial, len(snap.Records), l1)
	}
	// Another state has another lineage.
	var other string
	t.Run("other", func(t *testing.T) {
		var err error
		if other, err = s.store(t).Init(ctx); err != nil {
			t.Fatalf("Init: %v", err)
		}
	})
	if other == l1 {
		t.Errorf("two states share the lineage %q", l1)
	}
}

func (s *suite) serialAndLineage(t *testing.T) {
	ctx := context.Background()
	st, reader := s.store(t), s.store(t)
	start := snapshot(t, st)
	if start.Empty() {
		t.Fatal("a created state has no lineage")
	}
	lineage, serial := start.Lineage, start.Serial
	check := func(step string, wantSerial uint64) {
		t.Helper()
		for _, r := range []state.Store{st, reader} {
			snap := snapshot(t, r)
			if snap.Lineage != lineage {
				t.Errorf("%s: lineage %q, want %q (fixed at creation)", step, snap.Lineage, lineage)
			}
			if snap.Serial != wantSerial {
				t.Errorf("%s: serial %d, want %d", step, snap.Serial, wantSerial)
			}
		}
	}
	lock(t, st, "apply")
	put(t, st, FullRecord("a"))
	check("put a", serial+1)
	put(t, st, FullRecord("a"))
	check("put a again", serial+2)
	put(t, st, FullRecord("b"))
	check("put b", serial+3)
	if err := st.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	check("delete a", serial+4)
	if err := st.Delete(ctx, "a"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Delete(missing) = %v, want ErrNotFound", err)
	}
	check("delete missing", serial+4)
	unlock(t, st)
	snap := snapshot(t, reader)
	if _, ok := snap.Records["a"]; ok {
		t.Error("deleted record a is still in the snapshot")
	}
	if _, ok := snap.Records["b"]; !ok {
		t.Error("record b is missing from the snapshot")
	}
}

func (s *suite) snapshotConsistent(t *testing.T) {
	ctx := context.Background()
	w, r := s.store(t), s.store(t)
	base := snapshot(t, r).Serial
	lock(t, w, "apply")
	const n = 20
	done := make(chan error, 1)
	go func() {
		for i := range n {
			rec := FullRecord("c" + strconv.Itoa(i))
			if err := w.Put(ctx, rec); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// Every snapshot taken while the writer runs holds exactly the records
	// of its serial: never half a write.
	var werr error
	for finished := false; !finished; {
		select {
		case werr = <-done:
			finished = true
		default:
		}
		snap := snapshot(t, r)
		k := int(snap.Serial - base)
		if len(snap.Records) != k {
			t.Fatalf("snapshot at serial %d has %d records, want %d", snap.Serial, len(snap.Records), k)
		}
		for i := range k {
			name := "c" + strconv.Itoa(i)
			rec, ok := snap.Records[name]
			if !ok {
				t.Fatalf("snapshot at serial %d lacks %q", snap.Serial, name)
			}
			if rec.Conn != name {
				t.Fatalf("Records[%q].Conn = %q", name, rec.Conn)
			}
		}
	}
	if werr != nil {
		t.Fatalf("Put: %v", werr)
	}
	snap := snapshot(t, r)
	if snap.Serial != base+n || len(snap.Records) != n {
		t.Errorf("final snapshot: serial %d, %d records; want %d, %d", snap.Serial, len(snap.Records), base+n, n)
	}
}

func (s *suite) writesNeedLock(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if err := st.Put(ctx, FullRecord("a")); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put without lock = %v, want ErrNotLocked", err)
	}
	if err := st.Delete(ctx, "a"); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Delete without lock = %v, want ErrNotLocked", err)
	}
	if err := st.Unlock(ctx); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Unlock without lock = %v, want ErrNotLocked", err)
	}
	lock(t, st, "apply")
	put(t, st, FullRecord("a"))
	unlock(t, st)
	if err := st.Put(ctx, FullRecord("b")); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put after Unlock = %v, want ErrNotLocked", err)
	}
	if snap := snapshot(t, st); len(snap.Records) != 1 {
		t.Errorf("%d records, want 1: a refused write wrote", len(snap.Records))
	}
}

// wantLockError checks that err is a LockError naming the holder.
func wantLockError(t *testing.T, err error, op string, pid int) {
	t.Helper()
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("Lock while held = %v, want ErrLocked", err)
	}
	var le *state.LockError
	if !errors.As(err, &le) {
		t.Fatalf("Lock while held = %T %v, want a *state.LockError", err, err)
	}
	if le.Info == nil {
		t.Fatalf("LockError has no holder info: %v", err)
	}
	if le.Info.Operation != op || le.Info.PID != pid || le.Info.ID == "" || le.Info.Created.IsZero() {
		t.Errorf("holder info = %+v, want operation %q, pid %d, an ID and a time", le.Info, op, pid)
	}
	msg := err.Error()
	for _, w := range []string{op, strconv.Itoa(pid)} {
		if !strings.Contains(msg, w) {
			t.Errorf("lock error %q does not mention %q", msg, w)
		}
	}
}

func (s *suite) lockContention(t *testing.T) {
	ctx := context.Background()
	a, b := s.store(t), s.store(t)
	info, err := a.Lock(ctx, "apply")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if info == nil || info.Operation != "apply" || info.ID == "" {
		t.Errorf("Lock returned %+v, want the holder's info", info)
	}
	_, err = b.Lock(ctx, "plan")
	wantLockError(t, err, "apply", os.Getpid())
	if err := b.Put(ctx, FullRecord("x")); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put by the store that failed to lock = %v, want ErrNotLocked", err)
	}
	unlock(t, a)
	lock(t, b, "plan")
	_, err = a.Lock(ctx, "refresh")
	wantLockError(t, err, "plan", os.Getpid())
	// Close releases the lock.
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	lock(t, a, "apply")
	unlock(t, a)
}

func (s *suite) lockTimeout(t *testing.T) {
	ctx := context.Background()
	a, b := s.store(t), s.store(t)
	setter, ok := b.(LockTimeoutSetter)
	if !ok {
		t.Skipf("%T does not implement LockTimeoutSetter", b)
	}
	lock(t, a, "apply")

	// The timeout runs out while the holder keeps the lock.
	const short = 150 * time.Millisecond
	setter.SetLockTimeout(short)
	start := time.Now()
	_, err := b.Lock(ctx, "plan")
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("Lock with a timeout while held = %v, want ErrLocked", err)
	}
	if el := time.Since(start); el < short {
		t.Errorf("Lock gave up after %s, before its %s timeout", el, short)
	}

	// Cancelling the context stops the wait.
	setter.SetLockTimeout(time.Minute)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = b.Lock(cctx, "plan")
	cancel()
	if !errors.Is(err, state.ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock with a cancelled context = %v, want ErrLocked and DeadlineExceeded", err)
	}

	// The holder releases inside the timeout: the waiter gets the lock.
	setter.SetLockTimeout(10 * time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(100 * time.Millisecond) // let b start waiting
		if err := a.Unlock(ctx); err != nil {
			t.Errorf("Unlock: %v", err)
		}
	}()
	if _, err := b.Lock(ctx, "plan"); err != nil {
		t.Errorf("Lock waiting for a holder that releases: %v", err)
	}
	wg.Wait()
	put(t, b, FullRecord("after-wait"))
	unlock(t, b)
}

func (s *suite) readsWhileLocked(t *testing.T) {
	ctx := context.Background()
	w, r := s.store(t), s.store(t)
	lock(t, w, "apply")
	put(t, w, FullRecord("a"))
	// The holder keeps the lock; another store reads freely.
	snap := snapshot(t, r)
	if _, ok := snap.Records["a"]; !ok {
		t.Error("a reader does not see a write made under a held lock")
	}
	if _, err := r.Get(ctx, "a"); err != nil {
		t.Errorf("Get while another store holds the lock: %v", err)
	}
	if _, err := r.Init(ctx); err != nil {
		t.Errorf("Init of an existing state while locked: %v", err)
	}
	unlock(t, w)
}

func (s *suite) backup(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	br, ok := st.(BackupReader)
	if !ok {
		t.Skipf("%T does not implement BackupReader", st)
	}
	lock(t, st, "apply")
	put(t, st, FullRecord("a"))
	unlock(t, st)
	before := snapshot(t, st)

	lock(t, st, "apply")
	put(t, st, FullRecord("b")) // first write after Lock: backup first
	check := func(step string) {
		t.Helper()
		bk, err := br.ReadBackup(ctx)
		if err != nil {
			t.Fatalf("%s: ReadBackup: %v", step, err)
		}
		if bk.Lineage != before.Lineage || bk.Serial != before.Serial {
			t.Errorf("%s: backup at lineage %q serial %d, want the pre-write %q %d", step, bk.Lineage, bk.Serial, before.Lineage, before.Serial)
		}
		if len(bk.Records) != 1 || CompareRecords(FullRecord("a"), bk.Records["a"]) != "" {
			t.Errorf("%s: backup records = %d, want exactly the pre-write record a", step, len(bk.Records))
		}
	}
	check("after the first write")
	put(t, st, FullRecord("c")) // a later write keeps the first backup
	check("after the second write")
	unlock(t, st)

	if err := st.Backup(ctx); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	bk, err := br.ReadBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := snapshot(t, st)
	if bk.Serial != now.Serial || len(bk.Records) != 3 {
		t.Errorf("Backup: serial %d with %d records, want %d with 3", bk.Serial, len(bk.Records), now.Serial)
	}
}

// purge: Purge needs the operation lock, does nothing when nothing was
// deleted, and after deletes leaves the state as it was and the backup as
// it was before the command less the deleted records, serial unchanged;
// Unlock purges what the caller did not, and a record deleted and written
// again keeps its backup copy.
func (s *suite) purge(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if err := st.Purge(ctx); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Purge without the lock = %v, want ErrNotLocked", err)
	}
	lock(t, st, "apply")
	for _, c := range []string{"a", "b", "c", "d"} {
		put(t, st, FullRecord(c))
	}
	if err := st.Purge(ctx); err != nil {
		t.Errorf("Purge with nothing deleted: %v", err)
	}
	unlock(t, st)
	before := snapshot(t, st)

	lock(t, st, "destroy")
	for _, c := range []string{"a", "b", "d"} {
		if err := st.Delete(ctx, c); err != nil {
			t.Fatalf("Delete(%q): %v", c, err)
		}
	}
	put(t, st, FullRecord("d")) // deleted and written again: not forgotten
	if err := st.Purge(ctx); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if err := st.Purge(ctx); err != nil {
		t.Errorf("a second Purge: %v", err)
	}
	after := snapshot(t, st)
	if after.Serial != before.Serial+4 || len(after.Records) != 2 || after.Records["c"] == nil || after.Records["d"] == nil {
		t.Errorf("after Purge: serial %d with %v, want serial %d with c and d", after.Serial, recordNames(after), before.Serial+4)
	}
	if d := CompareRecords(FullRecord("c"), after.Records["c"]); d != "" {
		t.Errorf("record c after Purge (-want +got):\n%s", d)
	}
	if br, ok := st.(BackupReader); ok {
		bk, err := br.ReadBackup(ctx)
		if err != nil {
			t.Fatalf("ReadBackup: %v", err)
		}
		if bk.Lineage != before.Lineage || bk.Serial != before.Serial {
			t.Errorf("backup at lineage %q serial %d, want the pre-command %q %d", bk.Lineage, bk.Serial, before.Lineage, before.Serial)
		}
		if got := recordNames(bk); got != "c d" {
			t.Errorf("backup holds %q, want the pre-command records less the forgotten ones: \"c d\"", got)
		}
	}
	unlock(t, st)

	// Unlock purges a delete nobody purged.
	lock(t, st, "state rm")
	if err := st.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	unlock(t, st)
	if br, ok := st.(BackupReader); ok {
		bk, err := br.ReadBackup(ctx)
		if err != nil {
			t.Fatalf("ReadBackup: %v", err)
		}
		if got := recordNames(bk); got != "d" {
			t.Errorf("backup after Unlock holds %q, want \"d\"", got)
		}
	}
}

// recordNames lists a snapshot's records, sorted, space-separated.
func recordNames(snap *state.Snapshot) string {
	var names []string
	for n := range snap.Records {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// connLocks: a connection lock lets its holder write that connection's
// record, and only that one, without the operation lock; a second store
// waits for it and then fails naming the holder; it is independent of the
// operation lock.
func (s *suite) connLocks(t *testing.T) {
	ctx := context.Background()
	a, b := s.store(t), s.store(t)
	// The operation lock held elsewhere does not block a connection lock.
	lock(t, b, "apply")
	release, err := a.LockConn(ctx, "sms_main", 0)
	if err != nil {
		t.Fatalf("LockConn while another store holds the operation lock: %v", err)
	}
	put(t, a, FullRecord("sms_main"))
	if err := a.Put(ctx, FullRecord("other")); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put of another connection = %v, want ErrNotLocked", err)
	}
	start := time.Now()
	_, err = b.LockConn(ctx, "sms_main", 50*time.Millisecond)
	var le *state.LockError
	if !errors.As(err, &le) || !errors.Is(err, state.ErrLocked) || le.Conn != "sms_main" ||
		!strings.Contains(err.Error(), `connection "sms_main"`) {
		t.Errorf("contended LockConn = %v, want a LockError naming the connection", err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("LockConn gave up after %v, want it to wait about 50ms", waited)
	}
	if le != nil && (le.Info == nil || le.Info.PID != os.Getpid()) {
		t.Errorf("holder info = %+v", le.Info)
	}
	if err := release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := release(); err != nil {
		t.Errorf("a second release = %v, want nil", err)
	}
	if err := a.Put(ctx, FullRecord("sms_main")); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put after release = %v, want ErrNotLocked", err)
	}
	rb, err := b.LockConn(ctx, "sms_main", 0)
	if err != nil {
		t.Fatalf("LockConn after release: %v", err)
	}
	if err := b.Delete(ctx, "sms_main"); err != nil {
		t.Errorf("Delete under the connection lock: %v", err)
	}
	_ = rb()
	unlock(t, b)
	if _, err := a.LockConn(ctx, "../x", 0); err == nil {
		t.Error("LockConn accepted a path as a connection name")
	}
	// Close releases connection locks.
	if _, err := a.LockConn(ctx, "c", 0); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	if r, err := b.LockConn(ctx, "c", 0); err != nil {
		t.Errorf("LockConn after the holder closed: %v", err)
	} else {
		_ = r()
	}
}

// connLockSingleFlight: many stores (as many processes would) read, bump
// and write one record under its connection lock; no update is lost.
func (s *suite) connLockSingleFlight(t *testing.T) {
	ctx := context.Background()
	setup := s.store(t)
	lock(t, setup, "setup")
	rec := FullRecord("counter")
	rec.TokenType = "0"
	put(t, setup, rec)
	unlock(t, setup)
	const workers, rounds = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := 0; w < workers; w++ {
		st := s.store(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				release, err := st.LockConn(ctx, "counter", 10*time.Second)
				if err != nil {
					errs <- err
					return
				}
				r, err := st.Get(ctx, "counter")
				if err == nil {
					n, _ := strconv.Atoi(r.TokenType)
					r.TokenType = strconv.Itoa(n + 1)
					err = st.Put(ctx, r)
				}
				if rerr := release(); err == nil {
					err = rerr
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r, err := setup.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if r.TokenType != strconv.Itoa(workers*rounds) {
		t.Errorf("counter = %s, want %d: an update was lost", r.TokenType, workers*rounds)
	}
}
