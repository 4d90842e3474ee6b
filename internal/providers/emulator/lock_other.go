//go:build !unix && !windows

package emulator

import (
	"os"
	"sync"
)

// pathLocks stands in for flock where it is unavailable: one mutex per lock
// file path, so emulators of this process sharing a state file exclude each
// other. Emulators in different processes are not serialized there.
var pathLocks sync.Map // lock file path → *sync.Mutex

func pathLock(f *os.File) *sync.Mutex {
	m, _ := pathLocks.LoadOrStore(f.Name(), new(sync.Mutex))
	return m.(*sync.Mutex)
}

// lockFile takes the process-wide lock of f's path.
func lockFile(f *os.File) error {
	pathLock(f).Lock()
	return nil
}

// unlockFile releases the process-wide lock of f's path.
func unlockFile(f *os.File) error {
	pathLock(f).Unlock()
	return nil
}
