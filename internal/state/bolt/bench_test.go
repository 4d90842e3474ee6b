package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/statetest"
)

const benchRecords = 10_000

// benchStore returns a locked store on a state holding benchRecords
// records, loaded in one transaction.
func benchStore(b *testing.B) *Store {
	b.Helper()
	path := filepath.Join(b.TempDir(), ".oauthform", "state.db")
	s, err := Open(path, state.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if _, err := s.Lock(context.Background(), "bench"); err != nil {
		b.Fatal(err)
	}
	if err := s.putMany(statetest.RecordsN(benchRecords)); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSnapshot reads a 10,000-record state (open, read txn, decode).
func BenchmarkSnapshot(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Records) != benchRecords {
			b.Fatalf("%d records", len(snap.Records))
		}
	}
}

// BenchmarkGet reads one record of a 10,000-record state.
func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, fmt.Sprintf("conn-%05d", i%benchRecords)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPut writes one record into a 10,000-record state: validation
// open, read-write open, one fsynced transaction. The backup taken by the
// first write after Lock is not measured.
func BenchmarkPut(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	rec := statetest.RecordsN(1)[0]
	rec.Conn = "bench-put"
	if err := s.Put(ctx, rec); err != nil { // takes the backup
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.Put(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}
