package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/pgtest"
)

// transactions returns how many transactions wrote the rows of schema's
// connections whose names are like pattern (their distinct xmin).
func transactions(t *testing.T, connStr, schema, pattern string) int {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM `+pgx.Identifier{schema, "connections"}.Sanitize()+` WHERE name LIKE $1`, pattern).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func serialOf(t *testing.T, s *Store) uint64 {
	t.Helper()
	snap, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap.Serial
}

func rec(conn string) *state.Record {
	return &state.Record{Conn: conn, Provider: "sms77", Access: secret.New("a-" + conn), Status: state.StatusActive}
}

// Concurrent puts are group-committed: the puts that queue while one is
// being written are written in one transaction (one step of the serial),
// each is durable when it returns, and a put whose connection lock is not
// held fails alone while the others of its batch are written.
func TestPGPutGroupCommit(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			t.Parallel()
			const n = 40
			ctx := context.Background()
			connStr := pgtest.Start(t)
			opts := state.Options{Create: true}
			if encrypted {
				opts.Passphrase = secret.New("group commit passphrase")
			}
			s := openPGT(t, connStr, "groupcommit", opts)
			if _, err := s.Init(ctx); err != nil {
				t.Fatal(err)
			}
			releases := make([]func() error, n+1)
			r, err := s.LockConn(ctx, "lead", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			releases[n] = r
			for i := range n {
				if i%10 == 7 { // every tenth writer forgets its lock
					continue
				}
				r, err := s.LockConn(ctx, fmt.Sprintf("c%02d", i), time.Second)
				if err != nil {
					t.Fatal(err)
				}
				releases[i] = r
			}
			before := serialOf(t, s)
			// A put in progress: the lead waits for the session, and
			// the others queue behind it.
			s.smu.Lock()
			lead := make(chan error, 1)
			go func() { lead <- s.Put(ctx, rec("lead")) }()
			waitBatcher(t, s, &s.puts, 0)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.Put(ctx, rec(fmt.Sprintf("c%02d", i)))
				}()
			}
			waitBatcher(t, s, &s.puts, n)
			s.smu.Unlock()
			if err := <-lead; err != nil {
				t.Fatal(err)
			}
			wg.Wait()

			snap, err := s.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				conn := fmt.Sprintf("c%02d", i)
				got, written := snap.Records[conn]
				if i%10 == 7 {
					if !errors.Is(errs[i], state.ErrNotLocked) || written {
						t.Errorf("%s without its lock: err %v, written %v; want ErrNotLocked and nothing written", conn, errs[i], written)
					}
					continue
				}
				if errs[i] != nil || !written || got.Access.Reveal() != "a-"+conn {
					t.Errorf("%s: err %v, written %v", conn, errs[i], written)
				}
			}
			// One transaction for the puts queued behind the lead; the
			// serial still counts every put.
			if got := transactions(t, connStr, "groupcommit", "c%"); got != 1 {
				t.Errorf("%d queued puts were written by %d transactions, want 1", n, got)
			}
			if want := before + 1 + uint64(n-n/10); snap.Serial != want {
				t.Errorf("serial %d -> %d after %d puts, want %d", before, snap.Serial, 1+n-n/10, want)
			}
			if snap.Encrypted != encrypted {
				t.Errorf("encrypted = %v, want %v", snap.Encrypted, encrypted)
			}
			for _, r := range releases {
				if r != nil {
					_ = r()
				}
			}
		})
	}
}

// The deterministic form: n puts queued behind a write in progress go
// into exactly one transaction.
func TestPGPutBatchIsOneTransaction(t *testing.T) {
	t.Parallel()
	const n = 25
	ctx := context.Background()
	connStr := pgtest.Start(t)
	s := openPGT(t, connStr, "onebatch", state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	// A first write takes the backup.
	if err := s.Put(ctx, rec("first")); err != nil {
		t.Fatal(err)
	}
	before := serialOf(t, s)
	// A put in progress: the lead waits for the session.
	s.smu.Lock()
	lead := make(chan error, 1)
	go func() { lead <- s.Put(ctx, rec("lead")) }()
	waitBatcher(t, s, &s.puts, 0)
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Put(ctx, rec(fmt.Sprintf("q%02d", i))) }()
	}
	waitBatcher(t, s, &s.puts, n)
	s.smu.Unlock()
	if err := <-lead; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := transactions(t, connStr, "onebatch", "q%"); got != 1 {
		t.Errorf("%d queued puts were written by %d transactions, want 1", n, got)
	}
	if got := serialOf(t, s) - before; got != n+1 {
		t.Errorf("the serial moved by %d for %d puts", got, n+1)
	}
}

// A batch whose transaction fails fails every put in it, and none of
// its records is written; the puts before and after it are unaffected.
func TestPGPutBatchFailsAsOne(t *testing.T) {
	t.Parallel()
	const n = 12
	ctx := context.Background()
	connStr := pgtest.Start(t)
	s := openPGT(t, connStr, "failbatch", state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	// The database refuses one record: its batch's statement fails.
	c, err := pgx.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE FUNCTION failbatch.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.name = 'bad' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON failbatch.connections FOR EACH ROW EXECUTE FUNCTION failbatch.refuse()`); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, rec("before")); err != nil {
		t.Fatal(err)
	}
	before := serialOf(t, s)
	s.smu.Lock()
	lead := make(chan error, 1)
	go func() { lead <- s.Put(ctx, rec("lead")) }()
	waitBatcher(t, s, &s.puts, 0)
	errs := make(chan error, n)
	for i := range n {
		name := fmt.Sprintf("q%02d", i)
		if i == n/2 {
			name = "bad"
		}
		go func() { errs <- s.Put(ctx, rec(name)) }()
	}
	waitBatcher(t, s, &s.puts, n)
	s.smu.Unlock()
	if err := <-lead; err != nil {
		t.Fatal(err)
	}
	for range n {
		err := <-errs
		if err == nil {
			t.Error("a put of the failed batch returned no error")
		} else if strings.Contains(err.Error(), "a-") {
			t.Errorf("the error shows a token: %v", err)
		}
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name := range snap.Records {
		if name != "before" && name != "lead" {
			t.Errorf("%s was written by a failed batch", name)
		}
	}
	if snap.Serial != before+1 {
		t.Errorf("serial %d -> %d, want one write (the lead's)", before, snap.Serial)
	}
	// The store goes on writing.
	if err := s.Put(ctx, rec("after")); err != nil {
		t.Fatal(err)
	}
}

// Puts queued when the store is closed fail (ErrClosed), none hangs, and
// every put reported written is in the state.
func TestPGPutBatchClose(t *testing.T) {
	t.Parallel()
	const n = 20
	ctx := context.Background()
	connStr := pgtest.Start(t)
	s := openPGT(t, connStr, "closebatch", state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	s.smu.Lock()
	lead := make(chan error, 1)
	go func() { lead <- s.Put(ctx, rec("lead")) }()
	waitBatcher(t, s, &s.puts, 0)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Put(ctx, rec(fmt.Sprintf("q%02d", i)))
		}()
	}
	waitBatcher(t, s, &s.puts, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for !s.base.Closed.Load() {
		time.Sleep(time.Millisecond)
	}
	s.smu.Unlock()
	<-lead
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	r := openPGT(t, connStr, "closebatch", state.Options{})
	snap, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		name := fmt.Sprintf("q%02d", i)
		_, written := snap.Records[name]
		switch {
		case err == nil && !written:
			t.Errorf("%s reported written, but it is not in the state", name)
		case err != nil && !errors.Is(err, state.ErrClosed):
			t.Errorf("%s: %v, want ErrClosed", name, err)
		}
	}
}

// Two puts of one record in one batch (a holder of the operation lock
// writing it from two goroutines) both succeed, as they would one after
// the other: the record is one of them.
func TestPGPutBatchSameRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	s := openPGT(t, connStr, "samebatch", state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	s.smu.Lock()
	lead := make(chan error, 1)
	go func() { lead <- s.Put(ctx, rec("lead")) }()
	waitBatcher(t, s, &s.puts, 0)
	errs := make(chan error, 3)
	for _, tok := range []string{"one", "two", "three"} {
		go func() {
			r := rec("same")
			r.Access = secret.New(tok)
			errs <- s.Put(ctx, r)
		}()
	}
	waitBatcher(t, s, &s.puts, 3)
	s.smu.Unlock()
	if err := <-lead; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got, err := s.Get(ctx, "same")
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Access.Reveal(); a != "one" && a != "two" && a != "three" {
		t.Errorf("access %q", a)
	}
}

// waitBatcher waits until n requests are queued in b behind its leader.
func waitBatcher[T any](t *testing.T, s *Store, b *state.Batcher[T], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		queued, leading := b.Queued()
		if leading && queued == n {
			return
		}
		if time.Now().After(deadline) {
			s.smu.Unlock() // held by the caller
			t.Fatalf("%d requests queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Connection locks asked for at once are taken in one statement, and
// released in one: each behaves as if taken alone (another client sees
// them held and who holds them, and can take them once released).
func TestPGConnLocksBatched(t *testing.T) {
	t.Parallel()
	const n = 20
	ctx := context.Background()
	connStr := pgtest.Start(t)
	s := openPGT(t, connStr, "lockbatch", state.Options{Create: true})
	other := openPGT(t, connStr, "lockbatch", state.Options{})
	if _, err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	// A first lock opens the session; the next ones queue behind a lock
	// in progress.
	if _, err := s.LockConn(ctx, "first", 0); err != nil {
		t.Fatal(err)
	}
	s.smu.Lock()
	type res struct {
		release func() error
		err     error
	}
	lead := make(chan res, 1)
	go func() { r, err := s.LockConn(ctx, "lead", time.Second); lead <- res{r, err} }()
	waitBatcher(t, s, &s.locks, 0)
	got := make([]res, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.LockConn(ctx, fmt.Sprintf("c%02d", i), time.Second)
			got[i] = res{r, err}
		}()
	}
	waitBatcher(t, s, &s.locks, n)
	s.smu.Unlock()
	wg.Wait()
	if r := <-lead; r.err != nil {
		t.Fatal(r.err)
	}
	for i, r := range got {
		if r.err != nil {
			t.Fatalf("c%02d: %v", i, r.err)
		}
	}
	// One statement (one transaction) wrote the holders of the queued
	// locks.
	c, err := pgx.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var rows, xacts int
	if err := c.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM lockbatch.locks WHERE name LIKE 'connection:c%'`).Scan(&rows, &xacts); err != nil {
		t.Fatal(err)
	}
	if rows != n || xacts != 1 {
		t.Errorf("%d holder rows written by %d transactions, want %d by 1", rows, xacts, n)
	}
	// Held, and named, for another client.
	_, err = other.LockConn(ctx, "c03", 0)
	var le *state.LockError
	if !errors.As(err, &le) || le.Info == nil || le.Conn != "c03" {
		t.Errorf("another client's LockConn of a held lock = %v, want a LockError naming the holder", err)
	}
	// Released at once, together.
	s.smu.Lock()
	errs := make(chan error, n)
	for _, r := range got {
		go func() { errs <- r.release() }()
	}
	waitBatcher(t, s, &s.unlocks, n-1)
	s.smu.Unlock()
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if err := c.QueryRow(ctx, `SELECT count(*) FROM lockbatch.locks WHERE name LIKE 'connection:c%'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d holder rows left after the releases", rows)
	}
	for i := range n {
		r, err := other.LockConn(ctx, fmt.Sprintf("c%02d", i), 0)
		if err != nil {
			t.Fatalf("c%02d after its release: %v", i, err)
		}
		_ = r()
	}
	// And this store can take them again.
	r, err := s.LockConn(ctx, "c05", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = r()
}

// A batch of connection locks whose statement fails fails every lock in
// it, and leaves none of them held.
func TestPGConnLocksBatchFails(t *testing.T) {
	t.Parallel()
	const n = 8
	ctx := context.Background()
	connStr := pgtest.Start(t)
	s := openPGT(t, connStr, "lockfail", state.Options{Create: true})
	other := openPGT(t, connStr, "lockfail", state.Options{})
	if _, err := s.LockConn(ctx, "first", 0); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE FUNCTION lockfail.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.name = 'connection:bad' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON lockfail.locks FOR EACH ROW EXECUTE FUNCTION lockfail.refuse()`); err != nil {
		t.Fatal(err)
	}
	s.smu.Lock()
	lead := make(chan error, 1)
	go func() { _, err := s.LockConn(ctx, "lead", 0); lead <- err }()
	waitBatcher(t, s, &s.locks, 0)
	errs := make(chan error, n)
	for i := range n {
		name := fmt.Sprintf("c%02d", i)
		if i == n/2 {
			name = "bad"
		}
		go func() { _, err := s.LockConn(ctx, name, 0); errs <- err }()
	}
	waitBatcher(t, s, &s.locks, n)
	s.smu.Unlock()
	if err := <-lead; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err == nil {
			t.Error("a lock of the failed batch was taken")
		}
	}
	for i := range n {
		name := fmt.Sprintf("c%02d", i)
		if i == n/2 {
			continue
		}
		r, err := other.LockConn(ctx, name, 0)
		if err != nil {
			t.Fatalf("%s is still held after its batch failed: %v", name, err)
		}
		_ = r()
	}
}
