package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// Changes of encryption at rest in the bbolt file (the decision is the
// state package's): rewriting every record, recording the encryption in
// meta, and compacting the file so that its freed pages do not keep the
// secrets in their old form.

// rewriteAll re-encodes every record of conns from the encoding described
// by from (nil: unsealed, or sealed without a key when fromEncrypted) to
// the one of to (nil: unsealed), in the caller's transaction
// (state.Reencode). It returns the number of records rewritten.
func rewriteAll(conns *bbolt.Bucket, from, to *state.Sealer, fromEncrypted bool) (int, error) {
	var all []state.StoredRecord
	err := conns.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("%w: unexpected nested bucket %q in %q", state.ErrCorrupt, k, bucketConns)
		}
		all = append(all, state.StoredRecord{Conn: string(k), Data: bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return 0, err
	}
	n, err := state.Reencode(all, from, to, fromEncrypted)
	if err != nil {
		return n, err
	}
	for _, e := range all {
		if err := conns.Put([]byte(e.Conn), e.Data); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// setEncryption writes e (nil: none) into meta with the matching format
// version.
func setEncryption(mb *bbolt.Bucket, e *state.Encryption) error {
	format, enc, err := e.MetaValues()
	if err != nil {
		return err
	}
	if e == nil {
		err = mb.Delete([]byte(state.MetaEncryption))
	} else {
		err = mb.Put([]byte(state.MetaEncryption), []byte(enc))
	}
	if err != nil {
		return err
	}
	return mb.Put([]byte(state.MetaFormat), []byte(format))
}

// Rekey implements state.Rekeyer.
func (s *Store) Rekey(ctx context.Context, newPass secret.Secret) (*state.RekeyResult, error) {
	const what = "re-encrypting state"
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	s.mu.Lock()
	locked := s.lockFile != nil
	s.mu.Unlock()
	if !locked {
		return nil, s.base.NotLocked(what)
	}

	release, err := s.lockAllConns(ctx, what, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer release()

	var res state.RekeyResult
	err = s.write(ctx, "", what, func(m *state.Meta) (func(*bbolt.Tx, *state.Meta) error, error) {
		// Outside the transaction: check the current passphrase (or
		// the fallback one) and derive the new key.
		pass := s.base.Pass.For(m)
		newEnc, to, err := state.PlanRekey(pass, newPass, m, s.base.Pass.Enforced())
		if err != nil {
			return nil, err
		}
		return func(tx *bbolt.Tx, m *state.Meta) error {
			from, err := state.OpenSealer(s.base.Pass.For(m), m) // cached, unless m changed since the first read
			if err != nil {
				return err
			}
			n, err := rewriteAll(tx.Bucket([]byte(bucketConns)), from, to, m.Enc != nil)
			if err != nil {
				return err
			}
			if err := setEncryption(tx.Bucket([]byte(bucketMeta)), newEnc); err != nil {
				return err
			}
			res = state.RekeyResult{Records: n, WasEncrypted: m.Enc != nil, Encrypted: newEnc != nil, Serial: m.Serial + 1}
			return nil
		}, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	s.base.Pass.Store(newPass)
	return &res, nil
}

// holdsConnLock reports whether this store holds conn's lock.
func (s *Store) holdsConnLock(conn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connLocks[conn] != nil
}

// lockAllConns takes the lock of every connection in the state that this
// store does not hold yet, for a change of encryption, which rewrites every
// record and then replaces the file (compact). With the operation lock,
// which the caller holds, no other process can then be writing: `token`
// writes a record under its connection lock only, and would otherwise
// write it back under the old key, or into the replaced file; new records
// are only made under the operation lock. It waits up to the lock timeout,
// and at least minWait, for the refreshes in flight.
func (s *Store) lockAllConns(ctx context.Context, what string, minWait time.Duration) (release func(), err error) {
	var names []string
	err = s.view(func(tx *bbolt.Tx, _ *state.Meta) error {
		return tx.Bucket([]byte(bucketConns)).ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if errors.Is(err, state.ErrMissing) {
		return nil, fmt.Errorf("%s %s: %w", what, s.path, state.ErrNoState)
	}
	if err != nil {
		return nil, explain(what, s.path, err)
	}
	slices.Sort(names)
	s.mu.Lock()
	wait := max(s.opts.LockTimeout, minWait)
	s.mu.Unlock()
	return s.base.LockAll(ctx, what, names, wait, s.holdsConnLock, s.LockConn)
}

// holdsOpLock reports whether this store holds the operation lock.
func (s *Store) holdsOpLock() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lockFile != nil
}

// compact replaces the state file with a fresh copy of its live data:
// bbolt.Compact into a temporary file beside it (0600; bbolt fsyncs each
// commit), renamed over the state, the folder fsynced, so that a crash
// leaves the old file or the new one, never neither. bbolt does not clear
// the pages a transaction frees, so after a change of encryption they
// would still hold the secrets in their old form (in the clear, or under
// the old key), and after a Delete the removed record (Purge).
//
// It holds bbolt's exclusive lock on the old file from before it reads it
// until the new one is in place and then has run (nil: nothing): a
// reader or writer elsewhere that opened the old file meanwhile gets its
// lock only then, finds the file replaced and opens the new one (view,
// commit), so no write goes into the old file and no backup copies it.
// On Windows the rename over a file that is open (here src, held open for
// that exclusion) is refused, so compact fails there and leaves the old
// file, correct but with its freed pages not cleared; its callers report
// that. The caller holds s.wmu and the operation lock.
func (s *Store) compact(then func()) (err error) {
	fl := s.fl
	fl.Lock()
	defer fl.Unlock()
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.path)+".compact-*") // 0600
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Close(); err != nil {
		return err
	}
	// Opened read-write for bbolt's exclusive lock; nothing is written
	// to it.
	src, err := bbolt.Open(s.path, 0o600, &bbolt.Options{Timeout: dbTimeout})
	if err != nil {
		return openError(s.path, err)
	}
	defer func() {
		if cerr := src.Close(); err == nil {
			err = cerr
		}
	}()
	dst, err := bbolt.Open(name, 0o600, &bbolt.Options{Timeout: dbTimeout})
	if err != nil {
		return err
	}
	err = bbolt.Compact(dst, src, 0)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(name, s.path); err != nil {
		return err
	}
	syncDir(dir)
	if then != nil {
		then()
	}
	return nil
}
