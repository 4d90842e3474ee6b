//go:build windows

package bolt

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// On Windows the lock is LockFileEx on one byte of the lock file, with the
// same semantics as flock on Unix:
//
//   - exclusive (LOCKFILE_EXCLUSIVE_LOCK) and non-blocking
//     (LOCKFILE_FAIL_IMMEDIATELY): tryFlock only tries, and flockWait's
//     poll loop does the waiting and the timeout, as on Unix;
//   - owned by the handle (the *os.File), not by the process: a second
//     handle on the same file, in this process or another, fails to lock
//     the range, as a second open file description fails to flock on Unix;
//   - released when the handle is closed or the process ends, however it
//     ends: Windows unlocks a dead process's ranges itself (it may take a
//     moment, which flockWait's polling absorbs), so a crash leaves no
//     stale lock.
//
// Unlike flock, a LockFileEx lock is mandatory: while it is held, other
// handles can neither read nor write the locked bytes. The holder's
// LockInfo is written at the start of the file (writeLockInfo) and read
// by contenders with os.ReadFile (ReadLockInfo), so locking byte 0 would
// make every contender's read fail with ERROR_LOCK_VIOLATION and hide the
// holder. The lock is therefore taken on a byte far past any content the
// file holds, lockByte; Windows allows locking past the end of a file,
// and neither the holder's Truncate(0) + WriteAt(…, 0) nor a contender's
// read of the content touches that byte. (SQLite places its Windows lock
// bytes at 1 GiB for the same reason.)

// lockByte is the offset of the byte locked: 1 GiB, far past the few
// hundred bytes of JSON a lock file holds, and below 4 GiB so that file
// systems and SMB servers with 32-bit offsets handle it too.
const lockByte = 1 << 30

// lockRange returns the Overlapped naming lockByte. The handle is
// synchronous (os.OpenFile does not set FILE_FLAG_OVERLAPPED), so the
// Overlapped only carries the offset.
func lockRange() *windows.Overlapped {
	return &windows.Overlapped{Offset: lockByte & 0xFFFFFFFF, OffsetHigh: lockByte >> 32}
}

// tryFlock takes an exclusive lock on lockByte of f without blocking. It
// reports false, nil when another handle holds the lock.
func tryFlock(f *os.File) (bool, error) {
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
		0, 1, 0, lockRange())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return false, nil
	default:
		return false, err
	}
}

// funlock releases the lock taken by tryFlock.
func funlock(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockRange())
}
