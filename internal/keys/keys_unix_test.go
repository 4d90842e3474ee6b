//go:build !windows

package keys

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func shell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	return sh
}

func TestCommandOutputTrimmed(t *testing.T) {
	sh := shell(t)
	got, err := (&Resolver{}).Resolve(context.Background(), Source{Command: []string{sh, "-c", "echo secret-from-command"}})
	if err != nil || got.Reveal() != "secret-from-command" {
		t.Fatalf("Resolve = %q, %v", got.Reveal(), err)
	}
	// Only one trailing newline goes; inner spaces stay.
	got, err = (&Resolver{}).Resolve(context.Background(), Source{Command: []string{sh, "-c", "printf 'a b \\n\\n'"}})
	if err != nil || got.Reveal() != "a b \n" {
		t.Fatalf("Resolve = %q, %v", got.Reveal(), err)
	}
}

func TestCommandNoShell(t *testing.T) {
	sh := shell(t)
	// The arguments reach the program as they are: no shell expands them.
	got, err := (&Resolver{}).Resolve(context.Background(), Source{Command: []string{sh, "-c", `printf %s "$1"`, "x", "$HOME;*"}})
	if err != nil || got.Reveal() != "$HOME;*" {
		t.Fatalf("Resolve = %q, %v", got.Reveal(), err)
	}
}

func TestCommandFailureNamesCommandNotOutput(t *testing.T) {
	sh := shell(t)
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{sh, "-c", "echo leaked-output-1; echo leaked-output-2 >&2; exit 3"}, "failed (exit status 3;"},
		{[]string{sh, "-c", "true"}, "printed nothing"},
		{[]string{filepath.Join(t.TempDir(), "no-such-program")}, "not found"},
	} {
		_, err := (&Resolver{}).Resolve(context.Background(), Source{Command: tc.argv})
		if err == nil {
			t.Fatalf("%v: no error", tc.argv)
		}
		msg := err.Error()
		if !strings.Contains(msg, "passphrase_command") || !strings.Contains(msg, tc.want) || !strings.Contains(msg, filepath.Base(tc.argv[0])) {
			t.Errorf("%v: error %q should name the command and say %q", tc.argv, msg, tc.want)
		}
		if strings.Contains(msg, "leaked-output") {
			t.Errorf("error holds the command's output: %q", msg)
		}
	}
}

func TestCommandTimeout(t *testing.T) {
	sh := shell(t)
	r := &Resolver{Timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := r.Resolve(context.Background(), Source{Command: []string{sh, "-c", "exec sleep 30"}})
	if err == nil || !strings.Contains(err.Error(), "did not finish within 50ms") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestKeyFileModeRefused(t *testing.T) {
	p := writeKey(t, 0o644, NewKey().Reveal()+"\n")
	_, err := ReadKeyFile(p)
	if err == nil || !strings.Contains(err.Error(), "mode 0644") || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("0644: %v", err)
	}
}
