package state

import (
	"os"
	"path/filepath"
	"testing"
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
	if string(b) != GitignoreText {
		t.Fatalf("%s/.gitignore holds %q, want %q", dir, b, GitignoreText)
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
