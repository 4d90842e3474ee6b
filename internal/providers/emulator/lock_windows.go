//go:build windows

package emulator

import (
	"os"

	"golang.org/x/sys/windows"
)

// On Windows the file lock is LockFileEx, exclusive and waiting, on the
// first byte of the lock file: like flock, it is owned by the handle (so
// emulators of one process sharing a state file exclude each other too)
// and released when the handle is closed or the process dies. The lock
// file holds nothing, so the lock being mandatory (no other handle may
// read or write the locked byte) hinders nobody; the state file itself is
// not locked.

// lockFile takes an exclusive lock of f, waiting for it.
func lockFile(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &windows.Overlapped{})
}

// unlockFile releases the lock of f.
func unlockFile(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &windows.Overlapped{})
}
