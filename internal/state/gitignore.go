package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The state's folder holds OAuth tokens, so git must never offer to commit
// it, whether or not `oauthform init` added it to the project's .gitignore.
// As Python's venv does, the folder ignores itself: a .gitignore inside it
// holding `*` (which matches that .gitignore too, so `git status` shows
// nothing of the folder), and the user's own .gitignore is not touched.

// GitignoreName is the file in a state folder that makes git ignore it.
const GitignoreName = ".gitignore"

// GitignoreText is what GitignoreName holds.
const GitignoreText = "# Created by oauthform: this folder holds OAuth tokens; git ignores all of it.\n*\n"

// ownDirName is the name of the folder oauthform keeps its state in by
// default (config.DefaultStatePath is .oauthform/state.db). A folder of
// that name is oauthform's even when something else created it.
const ownDirName = ".oauthform"

// MakeDir creates dir (0700, with its parents) to hold a state, or the
// files oauthform keeps beside one, and makes git ignore it: it writes
// dir/.gitignore holding `*` when the file is missing and the folder is
// oauthform's own, that is when MakeDir creates it or when it is named
// .oauthform (the default, perhaps created by an earlier version or by
// the built-in emulators). A folder that exists under another name is the
// user's (a state_path such as "secrets/state.db" or "state.db" beside the
// configuration): nothing is written into it, and `init`'s entry in the
// .gitignore beside the configuration is what covers it.
//
// A user who deletes the .gitignore of a folder named .oauthform gets it
// back on the next command that creates or opens the state for writing.
func MakeDir(dir string) error {
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		created = true
	} else if err != nil {
		return err
	}
	if !created && !ownedDir(dir) {
		return nil
	}
	return writeGitignore(dir)
}

// ownedDir reports whether dir, which exists, is oauthform's by its name.
func ownedDir(dir string) bool {
	abs, err := filepath.Abs(dir)
	return err == nil && filepath.Base(abs) == ownDirName
}

// writeGitignore creates dir/.gitignore holding `*` unless a file of that
// name exists (the user's choice, or another process's write: it is left
// as it is).
func writeGitignore(dir string) error {
	p := filepath.Join(dir, GitignoreName)
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("making git ignore %s: %w", dir, err)
	}
	_, err = f.WriteString(GitignoreText)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p) // a partial file would ignore nothing
		return fmt.Errorf("making git ignore %s: %w", dir, err)
	}
	return nil
}
