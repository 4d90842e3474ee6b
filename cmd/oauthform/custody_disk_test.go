//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// userNSEnv marks the test binary re-run inside a user and mount
// namespace, where an unprivileged user may mount a tmpfs.
const userNSEnv = "OAUTHFORM_TEST_USERNS"

// TestCustodyFullDisk puts the state on a small filesystem with 4 KiB
// free. Before the refresh is sent: nothing is sent (the intent or the
// custody file cannot be written) and the old token stays live. After the
// provider rotated and before its answer: the answer is kept (state or
// custody file) and the next call, once space is freed, succeeds; the
// provider never sees a reused refresh token.
func TestCustodyFullDisk(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv(userNSEnv) == "" {
		// Mounting needs root: re-run this test as root of a user
		// namespace of its own (util-linux's unshare).
		cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", os.Args[0],
			"-test.run", "^TestCustodyFullDisk$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), userNSEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the full-disk test in a user namespace: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestCustodyFullDisk") {
			t.Fatalf("the full-disk test did not run in the user namespace:\n%s", out)
		}
		return
	}
	w := newCustodyWorld(t, 500*time.Millisecond)
	fsDir := filepath.Join(w.dir, ".oauthform")
	mountTiny(t, fsDir)

	// Before sending: 4 KiB free.
	filler := fillDisk(t, fsDir, 4096)
	out, err := w.run("token", custodyConn, "-min-valid", "2h")
	if err == nil || !strings.Contains(out, "not sent") {
		t.Fatalf("token on a full disk = %v, want a refusal before sending\n%s", err, out)
	}
	if n := w.emu.Stats().Refreshes; n != 0 {
		t.Fatalf("the provider carried out %d refreshes although the state could not take the answer", n)
	}
	_ = os.Remove(filler)
	w.nextTokenWorks("after freeing the disk")

	// After sending: the disk fills while the answer is on its way.
	for i := range 3 {
		before := w.emu.Stats().Refreshes
		_, out, done := w.start(nil, "token", custodyConn, "-min-valid", "2h")
		w.waitRefreshes(before+1, done)
		filler := fillDisk(t, fsDir, 4096)
		err := <-done
		t.Logf("round %d: token with the disk filled mid-flight: %v", i, err)
		if err != nil && !strings.Contains(out.String(), "custody file") {
			t.Fatalf("round %d: the answer was not kept: %v\n%s", i, err, out)
		}
		_ = os.Remove(filler)
		w.nextTokenWorks("after freeing the disk mid-flight")
	}
	// No empty emergency files were left behind.
	matches, _ := filepath.Glob(filepath.Join(fsDir, "oauthform-emergency-*"))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Size() == 0 {
			t.Errorf("an empty emergency file was left: %s", m)
		}
	}
}

// mountTiny mounts a 1 MiB tmpfs over dir, keeping dir's files.
func mountTiny(t *testing.T, dir string) {
	t.Helper()
	keep := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(keep, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatalf("mounting a small tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(keep, e.Name()))
		if err != nil {
			continue // a directory or lock file: recreated on demand
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// fillDisk leaves about free bytes free on dir's filesystem and returns
// the filler file.
func fillDisk(t *testing.T, dir string, free int64) string {
	t.Helper()
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	avail := int64(sfs.Bavail) * int64(sfs.Bsize)
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := avail - free; n > 0 {
		_, _ = f.Write(make([]byte, n))
	}
	return path
}
