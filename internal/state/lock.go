package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"time"
)

// Lock polling: start fast (a short operation such as `token` is likely to
// finish within milliseconds), back off to a few polls a second.
const (
	lockPollMin = 10 * time.Millisecond
	lockPollMax = 250 * time.Millisecond
)

// Lock implements Store. The lock is an exclusive flock on LockPath, held
// until Unlock or Close, or until the process exits (the OS releases it, so
// a crashed process leaves no stale lock). The holder writes its LockInfo
// into the file for contenders to show.
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
	// The lock file is never removed: removing a flocked file lets two
	// processes lock two different inodes under one name.
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(s.opts.LockTimeout)
	poll := lockPollMin
	for {
		ok, err := tryFlock(f)
		if err != nil {
			_ = f.Close()
			return fail(fmt.Errorf("flock %s: %w", lp, err))
		}
		if ok {
			break
		}
		wait := time.Until(deadline)
		if s.opts.LockTimeout <= 0 || wait <= 0 {
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
		poll = min(2*poll, lockPollMax)
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

// Unlock implements Store. Unlocking a store that does not hold the lock
// gives ErrNotLocked.
func (s *BoltStore) Unlock(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockFile == nil {
		return fmt.Errorf("unlocking state %s: %w", s.path, ErrNotLocked)
	}
	if err := s.release(); err != nil {
		return fmt.Errorf("unlocking state %s: %w", s.path, err)
	}
	return nil
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
		Version:   s.opts.Version,
		Created:   s.opts.Now().Round(0),
		Path:      s.path,
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
	if _, err := f.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	return f.Sync()
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
