package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A release build's -ldflags and a clone's VCS stamp reach `version
// -json` (version, revision, go, platform).
func TestVersionFromBuild(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	// Outside a git work tree (a source archive) there is no commit to
	// stamp: the build then reports the development version and no
	// revision.
	head, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	commit := strings.TrimSpace(string(head))
	// Nor in a git worktree: the go command looks for a .git folder, and a
	// worktree's .git is a file (cmd/go/internal/vcs), so it stamps
	// nothing either.
	if top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output(); err == nil {
		if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && !fi.IsDir() {
			commit = ""
		}
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, ldflags             string
		wantVersion, wantRevision func(string) bool
	}{
		{"release build", "-X main.version=v9.8.7 -X main.revision=cafe",
			func(v string) bool { return v == "9.8.7" }, func(r string) bool { return r == "cafe" }},
		// The toolchain names a build in a clone by a pseudo-version of
		// its commit (Go 1.24 and later).
		{"build in a clone", "",
			func(v string) bool {
				if commit == "" {
					return v == "0.1.0-dev"
				}
				return strings.Contains(v, commit[:12])
			},
			func(r string) bool { return strings.HasPrefix(r, commit) }},
	} {
		bin := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		build := exec.Command(gobin, "build", "-buildvcs=true", "-ldflags", tc.ldflags, "-o", bin, ".")
		build.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("%s: go build: %v\n%s", tc.name, err, out)
		}
		out, err := exec.Command(bin, "version", "-json").Output()
		if err != nil {
			t.Fatalf("%s: version -json: %v", tc.name, err)
		}
		var v struct{ Version, Revision, Go, Platform string }
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		if !tc.wantVersion(v.Version) || !tc.wantRevision(v.Revision) || v.Go == "" || v.Platform == "" {
			t.Errorf("%s: version -json = %s", tc.name, out)
		}
	}
}
