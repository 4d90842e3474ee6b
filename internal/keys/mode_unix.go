//go:build !windows

package keys

import (
	"fmt"
	"io/fs"
)

// checkKeyFileMode refuses a key_file that others than its owner may
// read or write: its mode must be exactly 0600 (or 0400).
func checkKeyFileMode(m fs.FileMode) error {
	if p := m.Perm(); p != 0o600 && p != 0o400 {
		return fmt.Errorf("has mode %04o: it must be 0600 (only its owner may read it)", p)
	}
	return nil
}
