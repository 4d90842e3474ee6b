package bolt

import (
	"context"
	"errors"
	"fmt"
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
