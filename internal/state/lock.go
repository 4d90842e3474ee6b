package state

import (
	"context"
	"errors"
	"os"
	"os/user"
	"sync"
	"time"
)

// Lock bookkeeping shared by the backends: who holds a lock (LockInfo,
// NewLockInfo), how a contender waits for it (WaitLock) and how a change
// of encryption takes every connection lock (LockEach). Each backend
// provides the lock itself (an flock, an advisory lock).

// Lock polling: start fast (a short operation such as `token` is likely to
// finish within milliseconds), back off to a few polls a second.
const (
	lockPollMin = 10 * time.Millisecond
	// LockPollMax is the longest pause between two attempts at the
	// operation lock.
	LockPollMax = 250 * time.Millisecond
	// ConnPollMax is the longest pause between two attempts at a
	// connection lock: it is held for one provider call, and its waiters
	// (other `token` processes) poll faster so a queue of them drains
	// quickly.
	ConnPollMax = 20 * time.Millisecond
)

// WaitLock is a contender's wait for a lock, for backends: it calls try
// until it takes the lock, polling with a backoff up to maxPoll for up to
// timeout (zero: one attempt), or until ctx ends. try reports whether it
// took the lock; freed, when not nil, is closed when a holder within this
// process lets go, which ends the pause at once; an error from try ends
// the wait with it. When the lock stays held, WaitLock returns a
// *LockError (wrapping ErrLocked) naming the holder that holder returns.
func WaitLock(ctx context.Context, timeout, maxPoll time.Duration,
	try func() (got bool, freed <-chan struct{}, err error), holder func() *LockInfo,
) error {
	deadline := time.Now().Add(timeout)
	poll := lockPollMin
	for {
		got, freed, err := try()
		if err != nil || got {
			return err
		}
		wait := time.Until(deadline)
		if timeout <= 0 || wait <= 0 {
			return &LockError{Info: holder(), Err: ErrLocked}
		}
		t := time.NewTimer(min(poll, wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return &LockError{Info: holder(), Err: errors.Join(ErrLocked, ctx.Err())}
		case <-freed: // nil unless held within this process
			t.Stop()
			continue // not a poll of the holder: no backoff
		case <-t.C:
		}
		poll = min(2*poll, maxPoll)
	}
}

// NewLockInfo describes this process as the holder of a lock taken for
// operation on the state named path, for contenders to show.
func NewLockInfo(operation, path, version string, now time.Time) *LockInfo {
	host := Hostname()
	if host == "" {
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

// Hostname is this machine's name, "" when the system does not give it.
// It is asked once per process: every connection lock and every refresh's
// intent names the host, and a name that changes while a command runs
// would only make its own locks look foreign.
func Hostname() string { return hostname() }

var hostname = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// lockEach takes the lock of every connection in names that is not held
// yet (held), in order, waiting up to wait for each; on a failure it
// releases those it took. Backends use it (Base.LockAll) before a change
// of encryption, which rewrites every record: with the operation lock,
// which the caller holds, no other process is then writing (`token`
// writes a record under its connection lock only, and would otherwise
// write it in the old encoding).
func lockEach(ctx context.Context, names []string, wait time.Duration, held func(string) bool,
	lock func(context.Context, string, time.Duration) (func() error, error),
) (release func(), err error) {
	var releases []func() error
	release = func() {
		for _, r := range releases {
			_ = r()
		}
	}
	for _, name := range names {
		if held(name) {
			continue
		}
		r, err := lock(ctx, name, wait)
		if err != nil {
			release()
			return nil, err
		}
		releases = append(releases, r)
	}
	return release, nil
}
