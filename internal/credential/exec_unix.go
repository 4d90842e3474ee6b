//go:build !windows

package credential

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// forwarded are the signals Run passes on to the program.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// exitStatus is the program's exit code, or 128+N when signal N ended it.
func exitStatus(ee *exec.ExitError) int {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

// Replace runs p in place of oauthform (execve): the program gets
// oauthform's process, its standard streams and its signals, so Ctrl-C
// reaches it once, from the terminal, and its exit status is the
// process's. p's streams must be the process's own (they are inherited);
// Replace returns only when the program cannot be started.
func Replace(p Program) error {
	if len(p.Argv) == 0 {
		return errors.New("no program to run: give it after --")
	}
	path, err := exec.LookPath(p.Argv[0])
	if err != nil {
		return fmt.Errorf("starting %s: %w", p.Argv[0], err)
	}
	if err := syscall.Exec(path, p.Argv, p.Env); err != nil {
		return fmt.Errorf("starting %s: %w", p.Argv[0], err)
	}
	return nil
}
