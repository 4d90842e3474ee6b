package grant

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Browser opens an authorization URL for the person.
//
// [Runner.Run] calls Open in its own goroutine while it waits for the
// callback, so Open may block until the authorization is done
// (the emulators' in-process browser does); ctx ends when the grant ends, and Run waits for
// Open to return before it returns. An error from Open is not fatal: Run
// tells the person to open the printed URL by hand. Implementations must
// not put the URL (it carries the state) in their errors.
type Browser interface {
	Open(ctx context.Context, url string) error
}

// SystemBrowser returns the person's browser: the command line in
// OAUTHFORM_BROWSER, else in BROWSER, else the platform's opener (open on
// macOS, rundll32 url.dll,FileProtocolHandler on Windows, xdg-open
// elsewhere). A command line is split on spaces (no quoting); see
// [CommandBrowser] for where the URL goes. getenv nil means os.Getenv.
func SystemBrowser(getenv func(string) string) Browser {
	if getenv == nil {
		getenv = os.Getenv
	}
	return CommandBrowser{Argv: browserArgv(getenv, runtime.GOOS)}
}

// browserArgv chooses the browser command line for goos.
func browserArgv(getenv func(string) string, goos string) []string {
	for _, name := range []string{"OAUTHFORM_BROWSER", "BROWSER"} {
		if argv := strings.Fields(getenv(name)); len(argv) > 0 {
			return argv
		}
	}
	switch goos {
	case "darwin":
		return []string{"open"}
	case "windows":
		return []string{"rundll32", "url.dll,FileProtocolHandler"}
	default:
		return []string{"xdg-open"}
	}
}

// openGrace is how long [CommandBrowser.Open] waits for its command to
// exit, so that an opener's failure (xdg-open finding no browser) is
// reported; a command still running after it is taken to be the browser
// itself.
const openGrace = 3 * time.Second

// CommandBrowser opens a URL by running Argv with the URL as its last
// argument, or in place of every "%s" when an argument contains one.
//
// The command is not a child of the grant: it is not killed when the grant
// ends (it may be the person's browser). Open returns when the command
// exits, when ctx ends, or after a few seconds if it is still running; a
// goroutine then waits for the process, and ends only when it exits. The
// command's standard input, output and error are the null device, so it
// cannot take a line meant for the paste prompt.
type CommandBrowser struct {
	Argv []string
}

// Open runs the command for url.
func (b CommandBrowser) Open(ctx context.Context, url string) error {
	if len(b.Argv) == 0 {
		return errors.New("no browser command")
	}
	argv := commandLine(b.Argv, url)
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t := time.NewTimer(openGrace)
	defer t.Stop()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("%s: %w", argv[0], err)
		}
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// commandLine is argv with url put in place of "%s", or appended when no
// argument has one.
func commandLine(argv []string, url string) []string {
	out := make([]string, 0, len(argv)+1)
	substituted := false
	for _, a := range argv {
		if strings.Contains(a, "%s") {
			a = strings.ReplaceAll(a, "%s", url)
			substituted = true
		}
		out = append(out, a)
	}
	if !substituted {
		out = append(out, url)
	}
	return out
}

// stripURL returns the cause of a *url.Error, whose message carries the
// whole URL (with its state or code); other errors are returned as they
// are.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
