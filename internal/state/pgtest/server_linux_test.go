package pgtest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestRemoveStale: only the folders of dead servers, untouched for an
// hour, are removed.
func TestRemoveStale(t *testing.T) {
	base := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(name string, pid int, mtime time.Time) string {
		d := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Join(d, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if pid != 0 {
			if err := os.WriteFile(filepath.Join(d, "data", "postmaster.pid"), []byte(strconv.Itoa(pid)+"\n/x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return d
	}
	dead := mk("oauthform-pg-dead", 0, old)
	running := mk("oauthform-pg-running", os.Getpid(), old)
	young := mk("oauthform-pg-young", 0, time.Now())
	other := mk("something-else", 0, old)
	removeStale(base)
	for d, want := range map[string]bool{dead: false, running: true, young: true, other: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: exists = %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}
