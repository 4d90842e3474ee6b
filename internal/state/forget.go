package state

import (
	"fmt"
	"slices"
	"sync"
)

// Forgotten means gone. A Delete removes a record from the state, but not
// its bytes: bbolt frees the pages that held it without overwriting them,
// PostgreSQL keeps the deleted row version until VACUUM, and the backup
// taken before the command's first write still holds the record. Purge
// clears them, once per command (a destroy of a thousand connections
// rewrites the file once), and Unlock and Close purge what a caller did
// not, so that no record deleted under the operation lock outlives it.

// Forgetting is what a store deleted and has not purged yet, for
// backends (Base.Forget): Delete calls Deleted, Put calls Written, Purge
// calls Take. It is kept across lock periods until a Purge takes it: a
// record deleted under a connection lock alone is purged by the next
// holder of the operation lock in this store.
type Forgetting struct {
	mu sync.Mutex
	// names: deleted, and not written again since (its backup copy is
	// then an older version of a connection that exists, not a forgotten
	// one).
	names map[string]bool
	// freed: something was deleted, so freed storage may hold it.
	freed bool
}

// Deleted notes that conn was deleted.
func (f *Forgetting) Deleted(conn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.names == nil {
		f.names = map[string]bool{}
	}
	f.names[conn], f.freed = true, true
}

// Written notes that conn was written again: its backup copy is no
// longer forgotten.
func (f *Forgetting) Written(conn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.names, conn)
}

// Pending reports whether something was deleted since the last Take.
func (f *Forgetting) Pending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.freed
}

// Take returns what is to be purged, sorted (names: deleted and not
// written since), whether anything is (pending), and forgets it: a purge
// that fails is reported, not retried at every later Unlock.
func (f *Forgetting) Take() (names []string, pending bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n := range f.names {
		names = append(names, n)
	}
	slices.Sort(names)
	pending = f.freed
	f.names, f.freed = nil, false
	return names, pending
}

// PurgeError is a Purge that could not clear everything: the records are
// deleted from the state, but bytes of them may remain where Where says.
type PurgeError struct {
	// Conns are the connections deleted since the last purge.
	Conns []string
	// Where lists what may still hold them (a file, the backup, tables).
	Where []string
	Err   error
}

func (e *PurgeError) Error() string {
	return fmt.Sprintf("%v; the connections are removed from the state, but bytes of their tokens may remain in %s",
		e.Err, joinAnd(e.Where))
}

func (e *PurgeError) Unwrap() error { return e.Err }

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return "the state"
	case 1:
		return s[0]
	}
	out := ""
	for i, x := range s {
		switch {
		case i == 0:
		case i == len(s)-1:
			out += " and "
		default:
			out += ", "
		}
		out += x
	}
	return out
}
