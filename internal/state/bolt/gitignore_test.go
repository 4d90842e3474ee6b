package bolt

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/state"
)

// hasGitignore reports whether dir holds the .gitignore MakeDir writes.
func hasGitignore(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, state.GitignoreName))
	if os.IsNotExist(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != state.GitignoreText {
		t.Fatalf("%s/.gitignore holds %q, want %q", dir, b, state.GitignoreText)
	}
	return true
}

// TestStoreIgnoresItsFolder: every way a local store creates its folder
// writes the .gitignore, and opening an existing state in .oauthform
// brings a missing one back.
func TestStoreIgnoresItsFolder(t *testing.T) {
	ctx := context.Background()

	// Open with Create.
	path := statePath(t)
	s := mustOpen(t, path, state.Options{Create: true})
	if !hasGitignore(t, filepath.Dir(path)) {
		t.Error("Open(Create) made the folder without .gitignore")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A state made before: the file comes back on the next Open(Create),
	// not on a read-only open.
	if err := os.Remove(filepath.Join(filepath.Dir(path), state.GitignoreName)); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path, state.Options{})
	if hasGitignore(t, filepath.Dir(path)) {
		t.Error("Open without Create wrote a .gitignore")
	}
	mustOpen(t, path, state.Options{Create: true})
	if !hasGitignore(t, filepath.Dir(path)) {
		t.Error("Open(Create) of an existing state in .oauthform did not restore its .gitignore")
	}

	// Lock of a state (and folder) removed since Open(Create).
	path = statePath(t)
	s = mustOpen(t, path, state.Options{Create: true})
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if !hasGitignore(t, filepath.Dir(path)) {
		t.Error("Lock made the folder without .gitignore")
	}
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	// A connection lock before there is any state.
	path = filepath.Join(t.TempDir(), "custom", "state.db")
	s = mustOpen(t, path, state.Options{})
	unlock, err := s.LockConn(ctx, "c", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if !hasGitignore(t, filepath.Dir(path)) {
		t.Error("LockConn made the state's folder without .gitignore")
	}
	// The folder removed after a first connection lock: the next one
	// makes it again.
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if unlock, err = s.LockConn(ctx, "c", time.Second); err != nil {
		t.Fatalf("LockConn after the folder was removed: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if !hasGitignore(t, filepath.Dir(path)) {
		t.Error("LockConn made the state's folder again without .gitignore")
	}

	// A state_path in an existing folder of the user's: nothing written.
	dir := t.TempDir()
	mustOpen(t, filepath.Join(dir, "state.db"), state.Options{Create: true})
	if hasGitignore(t, dir) {
		t.Error("Open(Create) wrote a .gitignore into an existing folder of the user's")
	}
}
