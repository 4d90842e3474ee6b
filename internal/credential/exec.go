package credential

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
)

// Env returns base with each of vars set, replacing an earlier value of
// the same name (the token must not sit beside a stale one).
func Env(base []string, vars map[string]string) []string {
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, replaced := vars[name]; !replaced {
			out = append(out, kv)
		}
	}
	for name, v := range vars {
		out = append(out, name+"="+v)
	}
	return out
}

// ErrNoReplace: this platform cannot run a program in place of oauthform.
var ErrNoReplace = errors.New("cannot replace the process on this platform")

// Program is a program `oauthform exec` runs.
type Program struct {
	Argv           []string
	Env            []string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Run runs p and returns its exit status, as a shell reports it (128+N
// when a signal N ended it, on Unix). While it runs, the signals a
// terminal or a supervisor sends (interrupt, terminate, hang-up, quit)
// are passed on to it instead of ending oauthform, so that the program
// decides how to stop and its status is passed through. ctx only bounds
// the start.
func Run(ctx context.Context, p Program) (int, error) {
	if len(p.Argv) == 0 {
		return 0, errors.New("no program to run: give it after --")
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = p.Env, p.Stdin, p.Stdout, p.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", p.Argv[0], err)
	}
	done := make(chan struct{})
	forwardDone := make(chan struct{})
	go func() {
		defer close(forwardDone)
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-forwardDone
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitStatus(ee), nil
	}
	if err != nil {
		return 0, fmt.Errorf("running %s: %w", p.Argv[0], err)
	}
	return 0, nil
}
