//go:build !windows

package credential

import (
	"bufio"
	"context"
	"io"
	"os"
	"syscall"
	"testing"
)

func TestRunPassesStatusThrough(t *testing.T) {
	code, err := Run(context.Background(), Program{Argv: []string{"sh", "-c", "exit 3"}, Env: os.Environ()})
	if err != nil || code != 3 {
		t.Errorf("Run = %d, %v; want 3", code, err)
	}
	if _, err := Run(context.Background(), Program{Argv: []string{"/nonexistent/program"}}); err == nil {
		t.Error("a missing program ran")
	}
}

// A SIGTERM sent to oauthform while the program runs reaches the program,
// which decides its own status; oauthform survives to pass it through.
func TestRunForwardsSignals(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, err := Run(context.Background(), Program{
			Argv:   []string{"sh", "-c", `trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done`},
			Env:    os.Environ(),
			Stdout: pw,
		})
		_ = pw.Close()
		res <- result{code, err}
	}()
	if line, err := bufio.NewReader(pr).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("program did not start: %q, %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.code != 7 {
		t.Errorf("Run = %d, %v; want the program's 7", r.code, r.err)
	}
}
