//go:build !windows

package credential

import (
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
