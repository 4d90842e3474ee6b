//go:build windows

package credential

import (
	"os"
	"os/exec"
)

// forwarded are the signals Run passes on to the program. Windows
// delivers Ctrl-C to every process of the console, the program included;
// oauthform only has to outlive it.
var forwarded = []os.Signal{os.Interrupt}

// exitStatus is the program's exit code.
func exitStatus(ee *exec.ExitError) int { return ee.ExitCode() }

// Replace is not possible on Windows, which has no execve: Run starts the
// program as a child instead.
func Replace(Program) error { return ErrNoReplace }
