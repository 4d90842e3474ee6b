//go:build windows

package apply

import "os"

// pidAlive reports whether a process with this id exists: on Windows,
// FindProcess opens it and fails when there is none.
func pidAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
