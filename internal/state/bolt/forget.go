package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	bbolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/state"
)

// Forgetting in the bbolt file: see Purge and state.Forgetting.

// Purge implements state.Store. It rewrites the state file from its live data
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
func (s *Store) Purge(ctx context.Context) error {
	return s.base.Purge(ctx, s.holdsOpLock(), s.purge)
}

// purge is Purge once the store may purge.
func (s *Store) purge(_ context.Context, what string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.base.Closed.Load() {
		return fmt.Errorf("%s %s: %w", what, s.path, state.ErrClosed)
	}
	names, pending := s.base.Forget.Take()
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
		return &state.PurgeError{Conns: names, Where: where, Err: fmt.Errorf("%s %s: %w", what, s.path, errors.Join(errs...))}
	}
	return nil
}

// purgeBeforeRelease purges what this store deleted before it gives up
// the operation lock (Unlock, Close).
func (s *Store) purgeBeforeRelease(ctx context.Context) error {
	return s.base.PurgeOnRelease(ctx, s.holdsOpLock(), s.Purge)
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
	var src, dst *bbolt.DB
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
			err = fmt.Errorf("%w: bbolt failed reading it: %v", state.ErrCorrupt, r)
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
	src, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: dbTimeout,
		OpenFile: func(n string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(n, flag, perm)
			srcFile = f
			return f, err
		}})
	if err != nil {
		src = nil
		return openError(path, err)
	}
	dst, err = bbolt.Open(name, 0o600, &bbolt.Options{Timeout: dbTimeout})
	if err != nil {
		dst = nil
		return err
	}
	err = src.View(func(stx *bbolt.Tx) error {
		if _, err := readMeta(stx, -1); err != nil {
			return err
		}
		return dst.Update(func(dtx *bbolt.Tx) error {
			return stx.ForEach(func(bname []byte, b *bbolt.Bucket) error {
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
func copyBucket(dst, src *bbolt.Bucket, drop func(key []byte) bool) error {
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
