package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Lock polling: start fast (a short operation such as `token` is likely to
// finish within milliseconds), back off to a few polls a second.
const (
	lockPollMin = 10 * time.Millisecond
	lockPollMax = 250 * time.Millisecond
	// A connection lock is held for one provider call; its waiters (other
	// `token` processes) poll faster so a queue of them drains quickly.
	connPollMax = 20 * time.Millisecond
)

// Lock implements Store. The lock is an exclusive flock on LockPath (on
// Windows, LockFileEx on one byte past its content: see flock_windows.go),
// held until Unlock or Close, or until the process exits (the OS releases
// it, so a crashed process leaves no stale lock). The holder writes its
// LockInfo into the file for contenders to show.
func (s *BoltStore) Lock(ctx context.Context, operation string) (*LockInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(err error) (*LockInfo, error) {
		return nil, fmt.Errorf("locking state %s: %w", s.path, err)
	}
	switch {
	case s.closed.Load():
		return fail(errClosed)
	case s.lockFile != nil:
		return fail(fmt.Errorf("this store already holds the lock (for %q)", s.lockInfo.Operation))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		if !s.opts.Create {
			return fail(ErrNoState)
		}
		if _, err := s.ensure(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return fail(err)
	}

	lp := s.LockPath()
	f, err := flockWait(ctx, lp, s.opts.LockTimeout, lockPollMax)
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
	c := *info
	return &c, nil
}

// flockWait opens (creating) the lock file at lp and takes an exclusive
// flock on it, polling up to timeout with a backoff up to maxPoll. It fails with a *LockError naming the
// holder. The lock file is never removed: removing a flocked file lets two
// processes lock two different inodes under one name.
func flockWait(ctx context.Context, lp string, timeout, maxPoll time.Duration) (*os.File, error) {
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", lp, err)
	}
	deadline := time.Now().Add(timeout)
	poll := lockPollMin
	for {
		ok, err := tryFlock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("flock %s: %w", lp, err)
		}
		if ok {
			return f, nil
		}
		wait := time.Until(deadline)
		if timeout <= 0 || wait <= 0 {
			_ = f.Close()
			return nil, &LockError{Info: readLockInfo(lp), Err: ErrLocked}
		}
		t := time.NewTimer(min(poll, wait))
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, &LockError{Info: readLockInfo(lp), Err: errors.Join(ErrLocked, ctx.Err())}
		case <-t.C:
		}
		poll = min(2*poll, maxPoll)
	}
}

// ConnLockPath returns the lock file of one connection,
// <path>.locks/<conn>.lock.
func (s *BoltStore) ConnLockPath(conn string) string {
	return filepath.Join(s.path+".locks", conn+".lock")
}

// LockConn implements Store.
func (s *BoltStore) LockConn(ctx context.Context, conn string, wait time.Duration) (func() error, error) {
	if conn == "" || strings.ContainsAny(conn, `/\`) || conn == "." || conn == ".." {
		return nil, fmt.Errorf("locking connection %q: not a connection name", conn)
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("locking connection %q in %s: %w", conn, s.path, errClosed)
	}
	lp := s.ConnLockPath(conn)
	if _, err := os.Stat(filepath.Dir(lp)); err != nil {
		// The first connection lock; the state's folder, too, may be
		// missing.
		err := MakeDir(filepath.Dir(s.path))
		if err == nil {
			err = os.MkdirAll(filepath.Dir(lp), 0o700)
		}
		if err != nil {
			return nil, fmt.Errorf("locking connection %q: %w", conn, err)
		}
	}
	f, err := flockWait(ctx, lp, wait, connPollMax)
	if err != nil {
		var le *LockError
		if errors.As(err, &le) {
			le.Conn = conn
		}
		return nil, fmt.Errorf("locking connection %q in %s: %w", conn, s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || s.connLocks[conn] != nil {
		_ = funlock(f)
		_ = f.Close()
		return nil, fmt.Errorf("locking connection %q in %s: this store already holds it or is closed", conn, s.path)
	}
	if err := writeLockInfo(f, s.newLockInfo("refresh "+conn)); err != nil {
		_ = funlock(f)
		_ = f.Close()
		return nil, fmt.Errorf("writing %s: %w", lp, err)
	}
	if s.connLocks == nil {
		s.connLocks = map[string]*os.File{}
	}
	s.connLocks[conn] = f
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.connLocks[conn] != f {
				return // released by Close
			}
			delete(s.connLocks, conn)
			_ = f.Truncate(0)
			err = funlock(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		})
		return err
	}, nil
}

// Unlock implements Store. Unlocking a store that does not hold the lock
// gives ErrNotLocked. What this store deleted and did not purge is purged
// first; when that fails the lock is still released, and the error (a
// *PurgeError) returned and told to Options.Notify.
func (s *BoltStore) Unlock(ctx context.Context) error {
	perr := s.purgeBeforeRelease(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockFile == nil {
		return fmt.Errorf("unlocking state %s: %w", s.path, ErrNotLocked)
	}
	if err := s.release(); err != nil {
		return errors.Join(perr, fmt.Errorf("unlocking state %s: %w", s.path, err))
	}
	return perr
}

// release clears the holder's info and drops the flock. s.mu is held.
func (s *BoltStore) release() error {
	f := s.lockFile
	s.lockFile, s.lockInfo, s.backedUp = nil, nil, false
	_ = f.Truncate(0) // so nobody reads a past holder's info
	err := funlock(f)
	if cerr := f.Close(); err == nil {
		err = cerr // closing drops the flock even if funlock failed
	}
	return err
}

func (s *BoltStore) newLockInfo(operation string) *LockInfo {
	return newLockInfo(operation, s.path, s.opts.Version, s.opts.Now())
}

// newLockInfo describes this process as the holder of a lock taken for
// operation on the state named path, for contenders to show.
func newLockInfo(operation, path, version string, now time.Time) *LockInfo {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	return &LockInfo{
		ID:        newID(),
		Operation: operation,
		Who:       name + "@" + host,
		PID:       os.Getpid(),
		Host:      host,
		Version:   version,
		Created:   now.Round(0),
		Path:      path,
	}
}

func writeLockInfo(f *os.File, info *LockInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	// No fsync: the info is for contenders, which read it through the
	// page cache while the holder lives, and a crash ends the lock anyway.
	// (An fsync here cost every refresh of an apply a disk flush.)
	_, err = f.WriteAt(append(b, '\n'), 0)
	return err
}

// ReadLockInfo returns the LockInfo the current holder wrote into the lock
// file at lockPath, or nil when there is none (no holder, or it is between
// taking the flock and writing). It does not say whether the lock is held.
func ReadLockInfo(lockPath string) *LockInfo {
	b, err := os.ReadFile(lockPath)
	if err != nil || len(b) == 0 {
		return nil
	}
	var info LockInfo
	if json.Unmarshal(b, &info) != nil {
		return nil
	}
	return &info
}

// readLockInfo is ReadLockInfo for a contender that just found the lock
// held: it retries briefly, since the holder writes its info right after
// taking the flock.
func readLockInfo(lockPath string) *LockInfo {
	for i := 0; ; i++ {
		if info := ReadLockInfo(lockPath); info != nil || i == 5 {
			return info
		}
		time.Sleep(10 * time.Millisecond)
	}
}
