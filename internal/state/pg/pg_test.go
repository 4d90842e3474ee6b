package pg_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/pg"
	"github.com/oauthform/oauthform/internal/state/pgtest"
	"github.com/oauthform/oauthform/internal/state/statetest"
)

var schemaSeq atomic.Int64

// newSchema returns a schema name no other test uses.
func newSchema() string { return "s" + strconv.FormatInt(schemaSeq.Add(1), 10) }

// openPG opens a store on connStr/schema, closed when t ends.
func openPG(t testing.TB, connStr, schema string, opts state.Options) *pg.Store {
	t.Helper()
	s, err := pg.Open(context.Background(), secret.New(connStr), schema, opts)
	if err != nil {
		t.Fatalf("OpenPG: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sqlConn is a plain connection to the test database, for looking under
// the store and breaking things.
func sqlConn(t testing.TB, connStr string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(ctx) })
	return c
}

func mustExec(t testing.TB, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pgConformance runs the store conformance suite on PostgreSQL, one
// schema per (sub)test.
func pgConformance(t *testing.T, opts state.Options) {
	t.Parallel()
	connStr := pgtest.Start(t)
	var mu sync.Mutex
	schemas := map[*testing.T]string{}
	statetest.TestStore(t, func(t *testing.T) state.Store {
		mu.Lock()
		sc, ok := schemas[t]
		if !ok {
			sc = newSchema()
			schemas[t] = sc
		}
		mu.Unlock()
		s, err := pg.Open(context.Background(), secret.New(connStr), sc, opts)
		if err != nil {
			t.Fatalf("OpenPG: %v", err)
		}
		return s
	})
}

// TestPGConformance runs the backend conformance suite on PostgreSQL.
func TestPGConformance(t *testing.T) {
	pgConformance(t, state.Options{Create: true})
}

// TestPGConformanceEncrypted runs the suite on an encrypted state: every
// store has the passphrase.
func TestPGConformanceEncrypted(t *testing.T) {
	pgConformance(t, state.Options{Create: true, Passphrase: secret.New("conformance passphrase")})
}

func rec(conn, access string) *state.Record {
	return &state.Record{Conn: conn, Provider: "burner", ClientID: "c", Access: secret.New(access), Refresh: secret.New("refresh-" + access), Status: state.StatusActive}
}

// TestPGCrashedHolder: a lock whose holder's session ends (its backend
// terminated, as when a client dies or its network goes) is released by
// PostgreSQL; the holder then can no longer write.
func TestPGCrashedHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	schema := newSchema()
	admin := sqlConn(t, connStr)
	a := openPG(t, connStr, schema, state.Options{Create: true})
	b := openPG(t, connStr, schema, state.Options{Create: true, LockTimeout: 5 * time.Second})
	if _, err := a.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	releaseA, err := a.LockConn(ctx, "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, rec("c", "t1")); err != nil {
		t.Fatal(err)
	}
	// b is refused while a lives, and told who holds the lock.
	b.SetLockTimeout(0)
	_, err = b.Lock(ctx, "apply")
	var le *state.LockError
	if !errors.As(err, &le) || le.Info == nil || le.Info.Operation != "apply" || le.Info.PID != os.Getpid() {
		t.Fatalf("Lock while held = %v, want a LockError naming the apply", err)
	}

	// "Crash" a: its backend is terminated.
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM (SELECT DISTINCT backend_pid AS pid FROM `+pgx.Identifier{schema, "locks"}.Sanitize()+`) p`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminating the holder's backend: %d, %v", n, err)
	}
	b.SetLockTimeout(5 * time.Second)
	start := time.Now()
	if _, err := b.Lock(ctx, "apply"); err != nil {
		t.Fatalf("Lock after the holder's session ended: %v", err)
	}
	relB, err := b.LockConn(ctx, "c", 5*time.Second)
	if err != nil {
		t.Fatalf("LockConn after the holder's session ended: %v", err)
	}
	t.Logf("got the locks %v after the holder's backend was terminated", time.Since(start))
	if err := b.Put(ctx, rec("c", "t2")); err != nil {
		t.Fatal(err)
	}
	// a's locks went with its session: its writes are refused.
	if err := a.Put(ctx, rec("c", "t-stale")); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put by the holder whose session ended = %v, want ErrNotLocked", err)
	}
	if err := a.Delete(ctx, "c"); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Delete by the holder whose session ended = %v, want ErrNotLocked", err)
	}
	got, err := b.Get(ctx, "c")
	if err != nil || got.Access.Reveal() != "t2" {
		t.Errorf("Get = %v, %v; want b's write", got, err)
	}
	// a can still read, release what it thinks it holds, and lock again
	// once b is done.
	if err := releaseA(); err != nil {
		t.Errorf("releasing a lost connection lock: %v", err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Errorf("Unlock of a lost lock: %v", err)
	}
	if _, err := a.Snapshot(ctx); err != nil {
		t.Errorf("Snapshot after the session ended: %v", err)
	}
	_ = relB()
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lock(ctx, "apply"); err != nil {
		t.Fatalf("Lock again after the loss: %v", err)
	}
	if err := a.Put(ctx, rec("c", "t3")); err != nil {
		t.Errorf("Put under a new lock: %v", err)
	}
}

// TestPGTwoClientsConnLock: two stores on one schema (two laptops) contend
// for a connection lock: the second waits and gets it when the first
// releases, or fails after its wait naming the holder.
func TestPGTwoClientsConnLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	schema := newSchema()
	a := openPG(t, connStr, schema, state.Options{Create: true, Version: "laptop-a"})
	b := openPG(t, connStr, schema, state.Options{Create: true, Version: "laptop-b"})

	relA, err := a.LockConn(ctx, "gmail", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The wait runs out: the holder is named.
	start := time.Now()
	_, err = b.LockConn(ctx, "gmail", 150*time.Millisecond)
	waited := time.Since(start)
	var le *state.LockError
	if !errors.As(err, &le) || !errors.Is(err, state.ErrLocked) || le.Conn != "gmail" {
		t.Fatalf("contended LockConn = %v, want a LockError for gmail", err)
	}
	if le.Info == nil || le.Info.Operation != "refresh gmail" || le.Info.Version != "laptop-a" || le.Info.PID != os.Getpid() {
		t.Errorf("holder = %+v, want laptop-a's refresh of gmail", le.Info)
	}
	if !strings.Contains(err.Error(), `connection "gmail" is locked by`) {
		t.Errorf("error %q does not name the holder", err)
	}
	if waited < 150*time.Millisecond || waited > 2*time.Second {
		t.Errorf("LockConn gave up after %v, want about 150ms", waited)
	}
	// Other connections and the operation lock are independent.
	relOther, err := b.LockConn(ctx, "slack", 0)
	if err != nil {
		t.Fatalf("LockConn of another connection: %v", err)
	}
	_ = relOther()
	if _, err := b.Lock(ctx, "apply"); err != nil {
		t.Fatalf("Lock while another store holds a connection lock: %v", err)
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	// The holder releases while the second waits: it gets the lock soon
	// after.
	var released atomic.Int64
	go func() {
		time.Sleep(200 * time.Millisecond)
		released.Store(time.Now().UnixNano())
		if err := relA(); err != nil {
			t.Errorf("release: %v", err)
		}
	}()
	relB, err := b.LockConn(ctx, "gmail", 10*time.Second)
	if err != nil {
		t.Fatalf("LockConn waiting for a release: %v", err)
	}
	got := time.Now()
	if r := released.Load(); r == 0 {
		t.Fatal("the waiter got the lock before the holder released it")
	} else if lag := got.Sub(time.Unix(0, r)); lag > 100*time.Millisecond {
		t.Errorf("the waiter took %v after the release to get the lock", lag)
	}
	if err := b.Put(ctx, rec("gmail", "from-b")); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, rec("gmail", "from-a")); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put by the former holder = %v, want ErrNotLocked", err)
	}
	_ = relB()
}

// TestPGConcurrentWriters: stores on several "machines" write records
// under their connection locks at once, bumping counters: no update is
// lost and the serial counts every write.
func TestPGConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	schema := newSchema()
	setup := openPG(t, connStr, schema, state.Options{Create: true})
	conns := []string{"a", "b", "c"}
	if _, err := setup.Lock(ctx, "setup"); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		r := rec(c, "0")
		r.TokenType = "0"
		if err := setup.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	base, err := setup.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := setup.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	const stores, rounds = 4, 6
	var wg sync.WaitGroup
	for i := range stores {
		st := openPG(t, connStr, schema, state.Options{})
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					release, err := st.LockConn(ctx, c, 10*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					r, err := st.Get(ctx, c)
					if err == nil {
						n, _ := strconv.Atoi(r.TokenType)
						r.TokenType = strconv.Itoa(n + 1)
						r.Access = secret.New(fmt.Sprintf("store%d-%d", i, n+1))
						err = st.Put(ctx, r)
					}
					if rerr := release(); err == nil {
						err = rerr
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	snap, err := setup.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if got := snap.Records[c].TokenType; got != strconv.Itoa(stores*rounds) {
			t.Errorf("counter %s = %s, want %d: an update was lost", c, got, stores*rounds)
		}
	}
	if want := base.Serial + uint64(stores*rounds*len(conns)); snap.Serial != want {
		t.Errorf("serial %d after %d writes from %d, want %d", snap.Serial, stores*rounds*len(conns), base.Serial, want)
	}
}

// TestPGCorrupt: a state whose meta or records oauthform cannot read is
// reported (ErrCorrupt, ErrNewerFormat) and never modified.
func TestPGCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	admin := sqlConn(t, connStr)
	cases := []struct {
		name  string
		sql   string
		want  error
		write bool // a write is refused too (reads of records aside)
	}{
		{"serial not a number", `UPDATE %s.meta SET value = 'x' WHERE key = 'serial'`, state.ErrCorrupt, true},
		{"serial missing", `DELETE FROM %s.meta WHERE key = 'serial'`, state.ErrCorrupt, true},
		{"lineage missing", `DELETE FROM %s.meta WHERE key = 'lineage'`, state.ErrCorrupt, true},
		{"format missing", `DELETE FROM %s.meta WHERE key = 'format_version'`, state.ErrCorrupt, true},
		{"format not a number", `UPDATE %s.meta SET value = 'two' WHERE key = 'format_version'`, state.ErrCorrupt, true},
		{"newer format", `UPDATE %s.meta SET value = '99' WHERE key = 'format_version'`, state.ErrNewerFormat, true},
		{"meta empty", `DELETE FROM %s.meta`, state.ErrCorrupt, true},
		{"encryption not JSON", `INSERT INTO %s.meta VALUES ('encryption', '{nope'); UPDATE %[1]s.meta SET value = '2' WHERE key = 'format_version'`, state.ErrCorrupt, true},
		{"encryption in format 1", `INSERT INTO %s.meta VALUES ('encryption', '{"version":1}')`, state.ErrCorrupt, true},
		{"connections table gone", `DROP TABLE %s.connections`, state.ErrCorrupt, true},
		{"someone else's meta table", `DROP TABLE %s.meta; CREATE TABLE %[1]s.meta (id int, note text)`, state.ErrCorrupt, true},
		{"record not JSON", `UPDATE %s.connections SET data = '\x7b6e6f7065'::bytea`, state.ErrCorrupt, false},
		{"record from the future", `UPDATE %s.connections SET data = convert_to('{"version":7}', 'UTF8')`, state.ErrNewerFormat, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schema := newSchema()
			st := openPG(t, connStr, schema, state.Options{Create: true})
			if _, err := st.Lock(ctx, "setup"); err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, rec("x", "tok")); err != nil {
				t.Fatal(err)
			}
			if err := st.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			q := pgx.Identifier{schema}.Sanitize()
			mustExec(t, admin, fmt.Sprintf(tc.sql, q))
			dump := func() string {
				var b bytes.Buffer
				rows, err := admin.Query(ctx, `SELECT row_to_json(m)::text FROM `+q+`.meta m ORDER BY 1`)
				if err != nil {
					t.Fatal(err)
				}
				all, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&b, all)
				rows, err = admin.Query(ctx, `SELECT name || ':' || encode(data, 'hex') FROM `+q+`.connections ORDER BY name`)
				if err == nil {
					all, err = pgx.CollectRows(rows, pgx.RowTo[string])
				}
				fmt.Fprintln(&b, all, err != nil)
				return b.String()
			}
			before := dump()

			if _, err := st.Snapshot(ctx); !errors.Is(err, tc.want) {
				t.Errorf("Snapshot = %v, want %v", err, tc.want)
			} else if !strings.Contains(err.Error(), "did not modify") && errors.Is(err, state.ErrCorrupt) {
				t.Errorf("Snapshot error %q gives no advice", err)
			}
			if _, err := st.Get(ctx, "x"); !errors.Is(err, tc.want) {
				t.Errorf("Get = %v, want %v", err, tc.want)
			}
			if _, err := st.Init(ctx); tc.write && !errors.Is(err, tc.want) {
				t.Errorf("Init = %v, want %v", err, tc.want)
			}
			// Lock works (a repair goes through it), writes are refused.
			if _, err := st.Lock(ctx, "apply"); err != nil {
				t.Fatalf("Lock of a corrupt state: %v", err)
			}
			err := st.Put(ctx, rec("y", "tok2"))
			if tc.write && !errors.Is(err, tc.want) {
				t.Errorf("Put = %v, want %v", err, tc.want)
			}
			if tc.write {
				if err := st.Backup(ctx); !errors.Is(err, tc.want) {
					t.Errorf("Backup = %v, want %v", err, tc.want)
				}
				if after := dump(); after != before {
					t.Errorf("the state changed:\n%s\nbecame\n%s", before, after)
				}
			}
			if err := st.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPGNoState: without Create, a missing state reads as empty, refuses
// Lock and writes with ErrNoState, and Init creates it.
func TestPGNoState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	st := openPG(t, connStr, `we"ird Schema`, state.Options{})
	snap, err := st.Snapshot(ctx)
	if err != nil || !snap.Empty() || snap.Records == nil {
		t.Fatalf("Snapshot of a missing state = %+v, %v; want empty", snap, err)
	}
	if _, err := st.Get(ctx, "x"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	if _, err := st.Lock(ctx, "apply"); !errors.Is(err, state.ErrNoState) {
		t.Errorf("Lock = %v, want ErrNoState", err)
	}
	if err := st.Backup(ctx); !errors.Is(err, state.ErrNoState) {
		t.Errorf("Backup = %v, want ErrNoState", err)
	}
	if _, err := st.ReadBackup(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadBackup = %v, want fs.ErrNotExist", err)
	}
	rel, err := st.LockConn(ctx, "x", 0)
	if err != nil {
		t.Fatalf("LockConn on a missing state: %v", err)
	}
	if err := st.Put(ctx, rec("x", "t")); !errors.Is(err, state.ErrNoState) {
		t.Errorf("Put = %v, want ErrNoState", err)
	}
	_ = rel()
	lineage, err := st.Init(ctx)
	if err != nil || lineage == "" {
		t.Fatalf("Init = %q, %v", lineage, err)
	}
	if _, err := st.Lock(ctx, "apply"); err != nil {
		t.Fatalf("Lock after Init: %v", err)
	}
	if err := st.Put(ctx, rec("x", "t")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadBackup(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadBackup before any backup = %v, want fs.ErrNotExist", err)
	}
	// Two schemas are two states, with their own locks.
	other := openPG(t, connStr, "other", state.Options{Create: true})
	if _, err := other.Lock(ctx, "apply"); err != nil {
		t.Errorf("Lock of another schema while this one is locked: %v", err)
	}
	if l2, err := other.Init(ctx); err != nil || l2 == lineage {
		t.Errorf("other schema's lineage %q (%v), want a new one", l2, err)
	}
	// Concurrent Inits agree on one lineage.
	var wg sync.WaitGroup
	lineages := make([]string, 6)
	for i := range lineages {
		s := openPG(t, connStr, "concurrent", state.Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if lineages[i], err = s.Init(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, l := range lineages {
		if l != lineages[0] || l == "" {
			t.Fatalf("concurrent Inits returned lineages %q", lineages)
		}
	}
}

// TestPGPath: the state is named without credentials.
func TestPGPath(t *testing.T) {
	ctx := context.Background()
	st, err := pg.Open(ctx, secret.New("postgres://alice:s3cret@db.example.com:6543/team?sslmode=require"), "oauthform", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if p := st.Path(); strings.Contains(p, "s3cret") || strings.Contains(p, "alice") || p != "postgres://db.example.com:6543/team?schema=oauthform" {
		t.Errorf("Path = %q", p)
	}
	if _, err := pg.Open(ctx, secret.New("postgres://alice:s3cret@db.example.com:bad/x"), "", state.Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("OpenPG of a bad connection string = %v, want an error without the password", err)
	}
	if _, err := pg.Open(ctx, secret.New("postgres://localhost/x"), strings.Repeat("s", 64), state.Options{}); err == nil {
		t.Error("OpenPG accepted a schema name PostgreSQL would truncate")
	}
}

// TestPGEncryption: encryption at rest works as on bbolt: the first write
// under the operation lock with a passphrase seals every record in one
// transaction, the backup holds no unsealed copy, a store without the
// passphrase reads Sealed records, and Rekey changes or removes it.
func TestPGEncryption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	schema := newSchema()
	q := pgx.Identifier{schema}.Sanitize()
	admin := sqlConn(t, connStr)
	plain := openPG(t, connStr, schema, state.Options{Create: true})
	if _, err := plain.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := plain.Put(ctx, rec("c"+strconv.Itoa(i), "secret-token-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := plain.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	leaks := func(step string) {
		t.Helper()
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT data FROM `+q+`.connections UNION ALL SELECT data FROM `+q+`.backup_connections) d
			WHERE position('secret-token' IN convert_from(data, 'UTF8')) > 0`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d stored records hold a token in the clear", step, n)
		}
	}

	pass := secret.New("team passphrase")
	var notes []string
	enc := openPG(t, connStr, schema, state.Options{Passphrase: pass, Notify: func(m string) { notes = append(notes, m) }})
	// A write under a connection lock only cannot turn it on.
	rel, err := enc.LockConn(ctx, "c0", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Put(ctx, rec("c0", "secret-token-0b")); err != nil {
		t.Fatal(err)
	}
	_ = rel()
	if snap, _ := enc.Snapshot(ctx); snap.Encrypted || len(notes) != 1 || !strings.Contains(notes[0], "not encrypted yet") {
		t.Fatalf("after a write under a connection lock: encrypted %v, notes %q", snap.Encrypted, notes)
	}
	before, _ := enc.Snapshot(ctx)
	if _, err := enc.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := enc.Put(ctx, rec("c3", "secret-token-3")); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || !strings.Contains(notes[1], "sealed in one transaction") || !strings.Contains(notes[1], "3 connection(s)") {
		t.Errorf("notes = %q, want one saying 3 records were sealed", notes)
	}
	snap, err := enc.Snapshot(ctx)
	if err != nil || !snap.Encrypted || len(snap.Records) != 4 || snap.Serial != before.Serial+2 {
		t.Fatalf("after turning encryption on: %+v, %v; want 4 records, encrypted, serial %d", snap, err, before.Serial+2)
	}
	leaks("after turning encryption on")
	if bk, err := enc.ReadBackup(ctx); err != nil || !bk.Encrypted || bk.Serial != before.Serial+1 || len(bk.Records) != 3 {
		t.Errorf("backup after turning encryption on = %+v, %v; want the sealed state at serial %d", bk, err, before.Serial+1)
	}
	if err := enc.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	// Without the passphrase: Sealed records, Get and Put refused,
	// Delete allowed.
	if snap, err := plain.Snapshot(ctx); err != nil || !snap.Records["c1"].Sealed || snap.Records["c1"].Access.Reveal() != state.SealedToken {
		t.Errorf("Snapshot without the passphrase = %v, %v; want Sealed records", snap, err)
	}
	if _, err := plain.Get(ctx, "c1"); !errors.Is(err, state.ErrSealed) {
		t.Errorf("Get without the passphrase = %v, want ErrSealed", err)
	}
	if _, err := plain.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := plain.Put(ctx, rec("c1", "x")); !errors.Is(err, state.ErrSealed) {
		t.Errorf("Put without the passphrase = %v, want ErrSealed", err)
	}
	if err := plain.Delete(ctx, "c2"); err != nil {
		t.Errorf("Delete without the passphrase: %v", err)
	}
	if err := plain.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	wrong := openPG(t, connStr, schema, state.Options{Passphrase: secret.New("wrong")})
	if _, err := wrong.Snapshot(ctx); !errors.Is(err, state.ErrWrongPassphrase) {
		t.Errorf("Snapshot with a wrong passphrase = %v, want ErrWrongPassphrase", err)
	}
	if got, err := enc.Get(ctx, "c0"); err != nil || got.Access.Reveal() != "secret-token-0b" {
		t.Errorf("Get with the passphrase = %v, %v", got, err)
	}

	// Rekey: needs the operation lock; a new passphrase, then none.
	if _, err := enc.Rekey(ctx, secret.New("new pass")); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Rekey without the lock = %v, want ErrNotLocked", err)
	}
	if _, err := enc.Lock(ctx, "rekey"); err != nil {
		t.Fatal(err)
	}
	res, err := enc.Rekey(ctx, secret.New("new pass"))
	if err != nil || res.Records != 3 || !res.WasEncrypted || !res.Encrypted {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	if _, err := wrong.Snapshot(ctx); !errors.Is(err, state.ErrWrongPassphrase) {
		t.Errorf("the old passphrase after Rekey: %v, want ErrWrongPassphrase", err)
	}
	newPass := openPG(t, connStr, schema, state.Options{Passphrase: secret.New("new pass")})
	if got, err := newPass.Get(ctx, "c3"); err != nil || got.Access.Reveal() != "secret-token-3" {
		t.Errorf("Get with the new passphrase = %v, %v", got, err)
	}
	leaks("after rekey")
	res, err = enc.Rekey(ctx, secret.Secret{})
	if err != nil || res.Encrypted || !res.WasEncrypted {
		t.Fatalf("Rekey to none = %+v, %v", res, err)
	}
	if snap, err := plain.Snapshot(ctx); err != nil || snap.Encrypted || snap.Records["c3"].Access.Reveal() != "secret-token-3" || snap.Serial != res.Serial {
		t.Errorf("after removing encryption: %+v, %v", snap, err)
	}
	if err := enc.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPGCreateEncrypted: a state created with a passphrase is encrypted
// from the start.
func TestPGCreateEncrypted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	st := openPG(t, connStr, "enc", state.Options{Create: true, Passphrase: secret.New("p")})
	snap, err := st.Snapshot(ctx)
	if err != nil || !snap.Encrypted || snap.Serial != 0 {
		t.Fatalf("new state with a passphrase = %+v, %v; want encrypted at serial 0", snap, err)
	}
}

// TestPGApplyAndToken: an apply (operation lock) on one machine and
// `token` runs on others refresh the same connections at once, each
// refresh consuming the record's refresh token and storing a rotated one:
// no refresh token is ever used twice, and none is lost.
func TestPGApplyAndToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	schema := newSchema()
	apply := openPG(t, connStr, schema, state.Options{Create: true, Version: "apply"})
	conns := []string{"a", "b", "c", "d"}
	if _, err := apply.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if err := apply.Put(ctx, rec(c, "0")); err != nil { // refresh token "refresh-0"
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	used := map[string]string{} // conn/refresh token -> who used it
	refreshes := 0
	refresh := func(st *pg.Store, who, c string) error {
		release, err := st.LockConn(ctx, c, 10*time.Second)
		if err != nil {
			return err
		}
		defer release()
		r, err := st.Get(ctx, c)
		if err != nil {
			return err
		}
		rt := c + "/" + r.Refresh.Reveal()
		mu.Lock()
		if prev, ok := used[rt]; ok {
			mu.Unlock()
			return fmt.Errorf("%s reused refresh token %s, already used by %s", who, rt, prev)
		}
		used[rt] = who
		refreshes++
		n := len(used)
		mu.Unlock()
		next := rec(c, strconv.Itoa(n))
		return st.Put(ctx, next)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	wg.Add(1)
	go func() { // the apply refreshes every connection, twice
		defer wg.Done()
		for range 2 {
			for _, c := range conns {
				if err := refresh(apply, "apply", c); err != nil {
					errs <- err
				}
			}
		}
	}()
	for i := range 3 { // three machines run `token` for each connection
		st := openPG(t, connStr, schema, state.Options{Version: "token"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				for _, c := range conns {
					if err := refresh(st, "token"+strconv.Itoa(i), c); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if want := len(conns) * (2 + 3*3); refreshes != want {
		t.Errorf("%d refreshes, want %d", refreshes, want)
	}
	// Every connection's stored refresh token is the last one issued, and
	// unused.
	snap, err := apply.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if rt := c + "/" + snap.Records[c].Refresh.Reveal(); used[rt] != "" {
			t.Errorf("the stored refresh token %s was already used: a refresh was lost", rt)
		}
	}
	if err := apply.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}
