//go:build windows

package keys

import "io/fs"

// checkKeyFileMode does nothing on Windows: its files have no Unix
// modes (Go reports 0666 or 0444 from the read-only attribute), and who
// may read a file is its ACL, which the user's profile folder restricts
// to its owner. Keep the key_file there.
func checkKeyFileMode(fs.FileMode) error { return nil }
