package pg

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/pgtest"
	"github.com/oauthform/oauthform/internal/state/statetest"
)

func openPGT(t testing.TB, connStr, schema string, opts state.Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), secret.New(connStr), schema, opts)
	if err != nil {
		t.Fatalf("OpenPG: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPGConnectionDropped: a holder whose connection is cut (a laptop
// closed mid-apply, without a goodbye to the server) loses its locks when
// the server sees the connection end, and its writes are refused.
func TestPGConnectionDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	a := openPGT(t, connStr, "dropped", state.Options{Create: true})
	b := openPGT(t, connStr, "dropped", state.Options{Create: true, LockTimeout: 5 * time.Second})
	if _, err := a.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LockConn(ctx, "c", 0); err != nil {
		t.Fatal(err)
	}
	// Close the socket under pgx: no Terminate message is sent.
	a.smu.Lock()
	if err := a.sess.PgConn().Conn().Close(); err != nil {
		t.Fatal(err)
	}
	a.smu.Unlock()
	if _, err := b.Lock(ctx, "apply"); err != nil {
		t.Fatalf("Lock after the holder's connection dropped: %v", err)
	}
	if _, err := b.LockConn(ctx, "c", 5*time.Second); err != nil {
		t.Fatalf("LockConn after the holder's connection dropped: %v", err)
	}
	err := a.Put(ctx, &state.Record{Conn: "c", Provider: "p"})
	if !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put after the connection dropped = %v, want ErrNotLocked", err)
	}
	// The next attempt knows without asking the server.
	if err := a.Put(ctx, &state.Record{Conn: "c", Provider: "p"}); !errors.Is(err, errLockLost) {
		t.Errorf("second Put = %v, want errLockLost", err)
	}
}

// TestPGConnLockInProcess: goroutines of one store contend for one
// connection lock like separate clients (advisory locks are reentrant
// within a session, so the store keeps them apart itself).
func TestPGConnLockInProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connStr := pgtest.Start(t)
	s := openPGT(t, connStr, "inproc", state.Options{Create: true})
	release, err := s.LockConn(ctx, "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.LockConn(ctx, "c", 30*time.Millisecond)
	var le *state.LockError
	if !errors.As(err, &le) || le.Conn != "c" || le.Info == nil {
		t.Errorf("LockConn of a connection this store holds = %v, want a LockError naming the holder", err)
	}
	const workers = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	inside := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				rel, err := s.LockConn(ctx, "c", 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				if inside > 1 {
					t.Error("two holders of one connection lock")
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				inside--
				mu.Unlock()
				if err := rel(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// Everything was released: the advisory lock is free for another
	// client at once.
	other := openPGT(t, connStr, "inproc", state.Options{})
	rel, err := other.LockConn(ctx, "c", 0)
	if err != nil {
		t.Fatalf("the lock was left held: %v", err)
	}
	_ = rel()
}

// benchPG returns a locked PostgreSQL store holding n records.
func benchPG(b *testing.B, n int) *Store {
	b.Helper()
	ctx := context.Background()
	s := openPGT(b, pgtest.Start(b), "bench", state.Options{Create: true})
	if _, err := s.Lock(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	recs := statetest.RecordsN(n)
	err := s.inTx(ctx, "", "loading", func(t *pgTx) error {
		for _, r := range recs {
			if err := t.put(r, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkPGSnapshot reads a 1,000-record state (plan).
func BenchmarkPGSnapshot(b *testing.B) {
	s := benchPG(b, 1000)
	ctx := context.Background()
	for b.Loop() {
		snap, err := s.Snapshot(ctx)
		if err != nil || len(snap.Records) != 1000 {
			b.Fatal(len(snap.Records), err)
		}
	}
}

// BenchmarkPGToken is what `token` does to the state: lock the
// connection, read its record, write it back refreshed, release.
func BenchmarkPGToken(b *testing.B) {
	s := benchPG(b, 1000)
	ctx := context.Background()
	if err := s.Unlock(ctx); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("conn-%05d", i%1000)
		i++
		rel, err := s.LockConn(ctx, name, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		r, err := s.Get(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		r.Access = secret.New("refreshed")
		if err := s.Put(ctx, r); err != nil {
			b.Fatal(err)
		}
		if err := rel(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPGPutParallel is an apply writing from many goroutines under
// the operation lock.
func BenchmarkPGPutParallel(b *testing.B) {
	s := benchPG(b, 1000)
	ctx := context.Background()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		r := statetest.RecordsN(1)[0]
		for pb.Next() {
			if err := s.Put(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
