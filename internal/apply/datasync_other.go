//go:build !linux

package apply

import "os"

// datasync writes f to the disk: File.Sync (on macOS F_FULLFSYNC, on
// Windows FlushFileBuffers).
func datasync(f *os.File) error { return f.Sync() }
