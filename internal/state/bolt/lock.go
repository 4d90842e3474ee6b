package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/state"
)

// Lock implements state.Store. The lock is an exclusive flock on LockPath (on
// Windows, LockFileEx on one byte past its content: see flock_windows.go),
// held until Unlock or Close, or until the process exits (the OS releases
// it, so a crashed process leaves no stale lock). The holder writes its
// LockInfo into the file for contenders to show.
func (s *Store) Lock(ctx context.Context, operation string) (*state.LockInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(err error) (*state.LockInfo, error) {
		return nil, fmt.Errorf("locking state %s: %w", s.path, err)
	}
	switch {
	case s.base.Closed.Load():
		return fail(state.ErrClosed)
	case s.lockFile != nil:
		return fail(fmt.Errorf("this store already holds the lock (for %q)", s.lockInfo.Operation))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		if !s.opts.Create {
			return fail(state.ErrNoState)
		}
		if _, err := s.ensure(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return fail(err)
	}

	lp := s.LockPath()
	f, err := flockWait(ctx, lp, s.opts.LockTimeout, state.LockPollMax)
	if err != nil {
		return nil, err
	}
	info := s.newLockInfo(operation)
	if err := writeLockInfo(f, info); err != nil {
		_ = funlock(f)
		_ = f.Close()
		return fail(fmt.Errorf("writing %s: %w", lp, err))
	}
	s.lockFile, s.lockInfo, s.backedUp = f, info, false
	s.lockEpoch++
	s.custody = nil
	c := *info
	return &c, nil
}

// flockWait opens (creating) the lock file at lp and takes an exclusive
// flock on it, polling up to timeout with a backoff up to maxPoll
// (state.WaitLock). It fails with a *state.LockError naming the holder.
// The lock file is never removed: removing a flocked file lets two
// processes lock two different inodes under one name.
func flockWait(ctx context.Context, lp string, timeout, maxPoll time.Duration) (*os.File, error) {
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", lp, err)
	}
	err = state.WaitLock(ctx, timeout, maxPoll, func() (bool, <-chan struct{}, error) {
		ok, err := tryFlock(f)
		if err != nil {
			return false, nil, fmt.Errorf("flock %s: %w", lp, err)
		}
		return ok, nil, nil
	}, func() *state.LockInfo { return readLockInfo(lp) })
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// ConnLockPath returns the lock file of one connection,
// <path>.locks/<conn>.lock.
func (s *Store) ConnLockPath(conn string) string {
	return filepath.Join(s.path+".locks", conn+".lock")
}

// LockConn implements state.Store.
func (s *Store) LockConn(ctx context.Context, conn string, wait time.Duration) (func() error, error) {
	if conn == "" || strings.ContainsAny(conn, `/\`) || conn == "." || conn == ".." {
		return nil, fmt.Errorf("locking connection %q: not a connection name", conn)
	}
	if s.base.Closed.Load() {
		return nil, fmt.Errorf("locking connection %q in %s: %w", conn, s.path, state.ErrClosed)
	}
	lp := s.ConnLockPath(conn)
	f, err := flockWait(ctx, lp, wait, state.ConnPollMax)
	if errors.Is(err, fs.ErrNotExist) {
		// The first connection lock; the state's folder, too, may be
		// missing.
		err = state.MakeDir(filepath.Dir(s.path))
		if err == nil {
			err = os.MkdirAll(filepath.Dir(lp), 0o700)
		}
		if err != nil {
			return nil, fmt.Errorf("locking connection %q: %w", conn, err)
		}
		f, err = flockWait(ctx, lp, wait, state.ConnPollMax)
	}
	if err != nil {
		var le *state.LockError
		if errors.As(err, &le) {
			le.Conn = conn
		}
		return nil, fmt.Errorf("locking connection %q in %s: %w", conn, s.path, err)
	}
	// The flock is ours, and so is the file's content: the holder's info
	// is written before taking s.mu, which every lock and write of an
	// apply's 50 refreshes at once would otherwise wait for in turn.
	if err := writeLockInfo(f, s.newLockInfo("refresh "+conn)); err != nil {
		_ = funlock(f)
		_ = f.Close()
		return nil, fmt.Errorf("writing %s: %w", lp, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base.Closed.Load() || s.connLocks[conn] != nil {
		_ = f.Truncate(0)
		_ = funlock(f)
		_ = f.Close()
		return nil, fmt.Errorf("locking connection %q in %s: this store already holds it or is closed", conn, s.path)
	}
	if s.connLocks == nil {
		s.connLocks = map[string]*os.File{}
	}
	s.connLocks[conn] = f
	return state.ReleaseOnce(func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.connLocks[conn] != f {
			return nil // released by Close
		}
		delete(s.connLocks, conn)
		_ = f.Truncate(0)
		err := funlock(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}), nil
}

// Unlock implements state.Store. Unlocking a store that does not hold the lock
// gives ErrNotLocked. What this store deleted and did not purge is purged
// first; when that fails the lock is still released, and the error (a
// *PurgeError) returned and told to Options.Notify.
func (s *Store) Unlock(ctx context.Context) error {
	perr := s.purgeBeforeRelease(ctx)
	s.flushMark()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockFile == nil {
		return fmt.Errorf("unlocking state %s: %w", s.path, state.ErrNotLocked)
	}
	if err := s.release(); err != nil {
		return errors.Join(perr, fmt.Errorf("unlocking state %s: %w", s.path, err))
	}
	return perr
}

// release clears the holder's info and drops the flock. s.mu is held.
func (s *Store) release() error {
	f := s.lockFile
	s.lockFile, s.lockInfo, s.backedUp = nil, nil, false
	s.lockEpoch++
	s.custody = nil
	_ = f.Truncate(0) // so nobody reads a past holder's info
	err := funlock(f)
	if cerr := f.Close(); err == nil {
		err = cerr // closing drops the flock even if funlock failed
	}
	return err
}

func (s *Store) newLockInfo(operation string) *state.LockInfo {
	return state.NewLockInfo(operation, s.path, s.opts.Version, s.opts.Now())
}

func writeLockInfo(f *os.File, info *state.LockInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	// No fsync: the info is for contenders, which read it through the
	// page cache while the holder lives, and a crash ends the lock anyway;
	// an fsync here would cost every refresh of an apply a disk flush.
	_, err = f.WriteAt(append(b, '\n'), 0)
	return err
}

// ReadLockInfo returns the LockInfo the current holder wrote into the lock
// file at lockPath, or nil when there is none (no holder, or it is between
// taking the flock and writing). It does not say whether the lock is held.
func ReadLockInfo(lockPath string) *state.LockInfo {
	b, err := os.ReadFile(lockPath)
	if err != nil || len(b) == 0 {
		return nil
	}
	var info state.LockInfo
	if json.Unmarshal(b, &info) != nil {
		return nil
	}
	return &info
}

// readLockInfo is ReadLockInfo for a contender that just found the lock
// held: it retries briefly, since the holder writes its info right after
// taking the flock.
func readLockInfo(lockPath string) *state.LockInfo {
	for i := 0; ; i++ {
		if info := ReadLockInfo(lockPath); info != nil || i == 5 {
			return info
		}
		time.Sleep(10 * time.Millisecond)
	}
}
