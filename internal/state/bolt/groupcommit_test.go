package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// Concurrent puts are group-committed: every one is durable when it
// returns, and a put whose connection lock is not held fails alone while
// the others of its batch are written.
func TestPutGroupCommit(t *testing.T) {
	const n = 60
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := fmt.Sprintf("c%02d", i)
			if i%10 != 7 { // every tenth writer forgets its lock
				release, err := st.LockConn(ctx, conn, 10*time.Second)
				if err != nil {
					errs[i] = err
					return
				}
				defer func() { _ = release() }()
			}
			errs[i] = st.Put(ctx, &state.Record{Conn: conn, Provider: "sms77", Access: secret.New("a" + conn), Status: state.StatusActive})
		}()
	}
	wg.Wait()
	snap, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		conn := fmt.Sprintf("c%02d", i)
		_, written := snap.Records[conn]
		if i%10 == 7 {
			if !errors.Is(errs[i], state.ErrNotLocked) || written {
				t.Errorf("%s without its lock: err %v, written %v; want ErrNotLocked and nothing written", conn, errs[i], written)
			}
			continue
		}
		if errs[i] != nil || !written || snap.Records[conn].Access.Reveal() != "a"+conn {
			t.Errorf("%s: err %v, written %v", conn, errs[i], written)
		}
	}
	if snap.Serial == 0 || snap.Serial > n {
		t.Errorf("serial %d after %d puts", snap.Serial, n)
	}
	t.Logf("%d puts in %d transactions", n-n/10, snap.Serial)
}

// Concurrent gets share a read: those that arrive while a read is open
// are read together by the next one, and each sees the writes completed
// before it was made.
func TestGetGroupRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if err := st.Put(ctx, &state.Record{Conn: fmt.Sprintf("c%02d", i), Provider: "sms77", Access: secret.New(fmt.Sprintf("a%d-0", i)), Status: state.StatusActive}); err != nil {
			t.Fatal(err)
		}
	}

	// The first get holds the read (the file lock blocks it inside);
	// the next n-1 queue, and one more read answers them all.
	st.fl.Lock()
	before := st.reads.Load()
	got := make([]*state.Record, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	get := func(i int) {
		defer wg.Done()
		got[i], errs[i] = st.Get(ctx, fmt.Sprintf("c%02d", i))
	}
	wg.Add(1)
	go get(0)
	waitFor(t, func() bool { n, leading := st.gets.Queued(); return leading && n == 0 })
	for i := 1; i < n; i++ {
		wg.Add(1)
		go get(i)
	}
	waitFor(t, func() bool { queued, _ := st.gets.Queued(); return queued == n-1 })
	st.fl.Unlock()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i].Access.Reveal() != fmt.Sprintf("a%d-0", i) {
			t.Errorf("get c%02d: %v %v", i, got[i], errs[i])
		}
	}
	if reads := st.reads.Load() - before; reads != 2 {
		t.Errorf("%d gets took %d reads, want 2", n, reads)
	}
	if _, err := st.Get(ctx, "missing"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a missing record: %v, want ErrNotFound", err)
	}

	// Each get sees every write completed before it, however gets and
	// puts interleave.
	for round := 1; round <= 30; round++ {
		for i := range n {
			if err := st.Put(ctx, &state.Record{Conn: fmt.Sprintf("c%02d", i), Provider: "sms77", Access: secret.New(fmt.Sprintf("a%d-%d", i, round)), Status: state.StatusActive}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := st.Get(ctx, fmt.Sprintf("c%02d", i))
				if err != nil || r.Access.Reveal() != fmt.Sprintf("a%d-%d", i, round) {
					t.Errorf("round %d, get c%02d: %v %v: a completed write is not seen", round, i, r, err)
				}
			}()
		}
		wg.Wait()
	}
}

// waitFor polls cond until it holds (a test failure after 10 s).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(time.Millisecond)
	}
}

// Under the operation lock, once the backup is taken, a write does not
// read the meta before its transaction (the one its last commit left
// stands in), and a state file removed meanwhile is not created again.
func TestWriteUnderOpLockReadsNothingFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	put := func(i int) error {
		return st.Put(ctx, &state.Record{Conn: fmt.Sprintf("c%d", i), Provider: "sms77", Access: secret.New(fmt.Sprint("a", i)), Status: state.StatusActive})
	}
	if err := put(0); err != nil {
		t.Fatal(err)
	}
	before := st.views.Load()
	for i := 1; i <= 5; i++ {
		if err := put(i); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.views.Load() - before; n != 0 {
		t.Errorf("5 puts after the first read the state %d times before writing, want 0", n)
	}
	snap, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Records) != 6 || snap.Serial != 6 {
		t.Errorf("after 6 puts: %d records at serial %d, want 6 at 6", len(snap.Records), snap.Serial)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := put(7); !errors.Is(err, state.ErrMissing) {
		t.Errorf("a put after the state file was removed: %v, want state.ErrMissing", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the put created the removed state file again (%v)", err)
	}
}
