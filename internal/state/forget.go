package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Forgotten means gone. A Delete removes a record from the state, but not
// its bytes: bbolt frees the pages that held it without overwriting them,
// PostgreSQL keeps the deleted row version until VACUUM, and the backup
// taken before the command's first write still holds the record. Purge
// clears them, once per command (a destroy of a thousand connections
// rewrites the file once), and Unlock and Close purge what a caller did
// not, so that no record deleted under the operation lock outlives it.

// forgetting is what a store deleted and has not purged yet. It is kept
// across lock periods until a Purge takes it: a record deleted under a
// connection lock alone is purged by the next holder of the operation lock
// in this store.
type forgetting struct {
	mu sync.Mutex
	// names: deleted, and not written again since (its backup copy is
	// then an older version of a connection that exists, not a forgotten
	// one).
	names map[string]bool
	// freed: something was deleted, so freed storage may hold it.
	freed bool
}

func (f *forgetting) deleted(conn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.names == nil {
		f.names = map[string]bool{}
	}
	f.names[conn], f.freed = true, true
}

func (f *forgetting) written(conn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.names, conn)
}

func (f *forgetting) pending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.freed
}

// take returns what is to be purged, sorted, and forgets it: a purge that
// fails is reported, not retried at every later Unlock.
func (f *forgetting) take() (names []string, pending bool) {
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

// Purge implements Store. It rewrites the state file from its live data
// (compact: a temporary file beside it, fsynced, renamed over the state,
// the folder fsynced, so that a crash leaves the old file or the new one,
// never neither), and then, still holding bbolt's lock on the old file,
// the backup the same way less the connections deleted since the last
// purge, so that it stays a consistent state to restore: the state as it
// was before the command, less what the command forgot. A `token`
// refreshing a connection elsewhere (under its connection lock alone)
// waits for bbolt's lock and then reads and writes the new file, so it
// needs no connection lock: a purge costs one copy of the live data,
// however many connections the state holds.
func (s *BoltStore) Purge(ctx context.Context) error {
	const what = "clearing removed connections from state"
	if err := s.readable(ctx, what); err != nil {
		return err
	}
	if !s.holdsOpLock() {
		return fmt.Errorf("%s %s: %w (take it with Lock first)", what, s.path, ErrNotLocked)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("%s %s: %w", what, s.path, errClosed)
	}
	names, pending := s.forget.take()
	if !pending {
		return nil
	}
	backup := s.BackupPath()
	_, statErr := os.Stat(backup)
	hasBackup := len(names) > 0 && !errors.Is(statErr, fs.ErrNotExist)
	var berr error
	backedUp := false
	rewriteBackup := func() {
		backedUp = true
		if hasBackup {
			berr = dropFromBackup(backup, names)
		}
	}
	var errs []error
	var where []string
	if err := s.compact(rewriteBackup); err != nil {
		errs = append(errs, fmt.Errorf("rewriting the file: %w", err))
		where = append(where, "the freed pages of "+s.path)
	}
	if !backedUp {
		rewriteBackup() // the backup, at least
	}
	if berr != nil {
		errs = append(errs, fmt.Errorf("rewriting the backup %s: %w", backup, berr))
		where = append(where, backup)
	}
	if len(errs) > 0 {
		return &PurgeError{Conns: names, Where: where, Err: fmt.Errorf("%s %s: %w", what, s.path, errors.Join(errs...))}
	}
	return nil
}

// purgeBeforeRelease purges what this store deleted before it gives up
// the operation lock (Unlock, Close).
func (s *BoltStore) purgeBeforeRelease(ctx context.Context) error {
	return purgeOnRelease(ctx, &s.forget, s.holdsOpLock() && !s.closed.Load(), s.Purge, s.opts.Notify)
}

// purgeOnRelease is both stores' purgeBeforeRelease: when records were
// deleted and the store still holds the operation lock (held), it purges.
// A failure is returned and told to notify, since callers that are
// releasing rarely look.
func purgeOnRelease(ctx context.Context, f *forgetting, held bool, purge func(context.Context) error, notify func(string)) error {
	if !f.pending() || !held {
		return nil
	}
	err := purge(context.WithoutCancel(ctx))
	if err != nil && notify != nil {
		notify("Warning: " + err.Error())
	}
	return err
}

// dropFromBackup rewrites the bbolt backup at path from its live data,
// less the records of names. A backup oauthform cannot read is left as it
// is, and reported.
func dropFromBackup(path string, names []string) error {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	return rewriteLive(path, func(bucket, key []byte) bool {
		return string(bucket) == bucketConns && drop[string(key)]
	})
}

// rewriteLive replaces the bbolt file at path with a fresh copy of its
// live data, less the entries of top-level buckets that drop names, built
// in a temporary file beside it (0600), committed (bbolt fsyncs), renamed
// over it and the folder fsynced. The file must read as an oauthform
// state; bbolt panics and faults on a damaged file become ErrCorrupt.
func rewriteLive(path string, drop func(bucket, key []byte) bool) (err error) {
	var name string
	var src, dst *bolt.DB
	var srcFile *os.File
	// Deferred first, so it runs last: after a panic too.
	defer func() {
		if err == nil {
			return
		}
		if dst != nil {
			_ = dst.Close()
		}
		switch {
		case src != nil:
			_ = src.Close()
		case srcFile != nil:
			_ = srcFile.Close() // bbolt panicked inside Open and kept the file
		}
		if name != "" {
			_ = os.Remove(name)
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: bbolt failed reading it: %v", ErrCorrupt, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*") // 0600
	if err != nil {
		return err
	}
	name = tmp.Name()
	if err := tmp.Close(); err != nil {
		return err
	}
	src, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: dbTimeout,
		OpenFile: func(n string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(n, flag, perm)
			srcFile = f
			return f, err
		}})
	if err != nil {
		src = nil
		return openError(path, err)
	}
	dst, err = bolt.Open(name, 0o600, &bolt.Options{Timeout: dbTimeout})
	if err != nil {
		dst = nil
		return err
	}
	err = src.View(func(stx *bolt.Tx) error {
		if _, err := readMeta(stx, -1); err != nil {
			return err
		}
		return dst.Update(func(dtx *bolt.Tx) error {
			return stx.ForEach(func(bname []byte, b *bolt.Bucket) error {
				nb, err := dtx.CreateBucket(bname)
				if err != nil {
					return err
				}
				return copyBucket(nb, b, func(key []byte) bool { return drop(bname, key) })
			})
		})
	})
	if err != nil {
		return err
	}
	d := dst
	dst = nil
	if err := d.Close(); err != nil {
		return err
	}
	// Closed before the rename, which Windows refuses over an open file.
	sdb := src
	src, srcFile = nil, nil
	if err := sdb.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// copyBucket copies src's entries into dst, except those drop names, and
// nested buckets whole.
func copyBucket(dst, src *bolt.Bucket, drop func(key []byte) bool) error {
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	return src.ForEach(func(k, v []byte) error {
		if v == nil {
			child, err := dst.CreateBucket(k)
			if err != nil {
				return err
			}
			return copyBucket(child, src.Bucket(k), func([]byte) bool { return false })
		}
		if drop != nil && drop(k) {
			return nil
		}
		return dst.Put(k, v)
	})
}
