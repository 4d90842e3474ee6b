package state

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// hasGitignore reports whether dir holds the .gitignore MakeDir writes.
func hasGitignore(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, GitignoreName))
	if os.IsNotExist(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != gitignoreText {
		t.Fatalf("%s/.gitignore holds %q, want %q", dir, b, gitignoreText)
	}
	return true
}

// TestMakeDirIgnoresOwnFolders: MakeDir writes .gitignore (`*`) into a
// folder it creates, whatever its name, and into an existing .oauthform
// that lacks one; never into an existing folder of the user's, and never
// over an existing .gitignore.
func TestMakeDirIgnoresOwnFolders(t *testing.T) {
	root := t.TempDir()

	created := filepath.Join(root, "a", "tokens")
	if err := MakeDir(created); err != nil {
		t.Fatal(err)
	}
	if !hasGitignore(t, created) {
		t.Error("a folder MakeDir created has no .gitignore")
	}
	if hasGitignore(t, filepath.Join(root, "a")) {
		t.Error("MakeDir wrote a .gitignore into the parent it created on the way")
	}
	if fi, err := os.Stat(created); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("created folder: %v, mode %v", err, fi.Mode().Perm())
	}

	own := filepath.Join(root, ".oauthform")
	if err := os.Mkdir(own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := MakeDir(own); err != nil {
		t.Fatal(err)
	}
	if !hasGitignore(t, own) {
		t.Error("an existing .oauthform without .gitignore did not get one")
	}

	user := filepath.Join(root, "mine")
	if err := os.Mkdir(user, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MakeDir(user); err != nil {
		t.Fatal(err)
	}
	if hasGitignore(t, user) {
		t.Error("MakeDir wrote a .gitignore into an existing folder of the user's")
	}
	if err := MakeDir(root); err != nil { // "." of a state_path "state.db"
		t.Fatal(err)
	}
	if hasGitignore(t, root) {
		t.Error("MakeDir wrote a .gitignore beside the configuration")
	}

	// A .gitignore of the user's in .oauthform is kept as it is.
	other := filepath.Join(root, "b", ".oauthform")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	mine := "state.db.backup\n"
	if err := os.WriteFile(filepath.Join(other, GitignoreName), []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := MakeDir(other); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(other, GitignoreName)); string(b) != mine {
		t.Errorf("MakeDir replaced a .gitignore: it holds %q", b)
	}
}

// TestStoreIgnoresItsFolder: every way a local store creates its folder
// writes the .gitignore, and opening an existing state in .oauthform
// brings a missing one back.
func TestStoreIgnoresItsFolder(t *testing.T) {
	ctx := context.Background()

	// Open with Create.
	path := statePath(t)
	s := mustOpen(t, path, Options{Create: true})
	if !hasGitignore(t, filepath.Dir(path)) {
		t.Error("Open(Create) made the folder without .gitignore")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A state made before: the file comes back on the next Open(Create),
	// not on a read-only open.
	if err := os.Remove(filepath.Join(filepath.Dir(path), GitignoreName)); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path, Options{})
	if hasGitignore(t, filepath.Dir(path)) {
		t.Error("Open without Create wrote a .gitignore")
	}
	mustOpen(t, path, Options{Create: true})
	if !hasGitignore(t, filepath.Dir(path)) {
		t.Error("Open(Create) of an existing state in .oauthform did not restore its .gitignore")
	}

	// Lock of a state (and folder) removed since Open(Create).
	path = statePath(t)
	s = mustOpen(t, path, Options{Create: true})
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
	s = mustOpen(t, path, Options{})
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

	// A state_path in an existing folder of the user's: nothing written.
	dir := t.TempDir()
	mustOpen(t, filepath.Join(dir, "state.db"), Options{Create: true})
	if hasGitignore(t, dir) {
		t.Error("Open(Create) wrote a .gitignore into an existing folder of the user's")
	}
}
