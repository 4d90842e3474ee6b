package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// Alert is a connection that has just become failing or needs_reconnect:
// what on_failure is told. It holds no secret.
type Alert struct {
	Conn     string
	Provider string
	// Status is state.StatusFailing or state.StatusNeedsReconnect.
	Status state.Status
	// ErrorKind and Error are the last error's kind and the provider's
	// words (scrubbed of secrets when recorded, sanitized again here).
	ErrorKind string
	Error     string
}

// Alerts compares the records before a refresh with the same records
// after it and returns one Alert per connection whose status changed into
// failing or needs_reconnect, sorted by name. A connection already in
// that status before is not alerted again.
func Alerts(before map[string]*state.Record, after []*state.Record) []Alert {
	var out []Alert
	for _, rec := range after {
		if rec == nil || (rec.Status != state.StatusFailing && rec.Status != state.StatusNeedsReconnect) {
			continue
		}
		if b := before[rec.Conn]; b != nil && b.Status == rec.Status {
			continue
		}
		a := Alert{Conn: rec.Conn, Provider: rec.Provider, Status: rec.Status}
		if le := rec.LastError; le != nil {
			a.ErrorKind = le.Kind
			a.Error = textsafe.Sanitize(strings.Join(nonEmpty(le.Code, le.Message), ": "))
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Conn < out[j].Conn })
	return out
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// DefaultAlertTimeout bounds an on_failure command.
const DefaultAlertTimeout = 30 * time.Second

// alertEnv returns the variables of oauthform's environment an on_failure
// command inherits: what finding and running a program needs, nothing
// that could hold a secret (OAUTHFORM_PASSPHRASE, OAUTHFORM_VAR_*, a
// connection string).
func alertEnv() []string {
	return []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
		"SYSTEMROOT", "WINDIR", "TEMP", "TMP", "PATHEXT", "COMSPEC"}
}

// AlertCommand is the on_failure program: run without a shell, with a
// timeout, with the alert in its environment and never a token, its
// output discarded.
type AlertCommand struct {
	// Argv is the program and its arguments.
	Argv []string
	// Dir is its working directory (the configuration's).
	Dir string
	// Timeout bounds it; 0 is DefaultAlertTimeout.
	Timeout time.Duration
	// Environ is the environment the allowed variables are taken from;
	// nil means os.Environ().
	Environ []string
	// Output, when set, receives its standard output and error (tests);
	// nil discards them.
	Output io.Writer
}

// Env is the environment the command gets for a.
func (c *AlertCommand) Env(a Alert) []string {
	base := c.Environ
	if base == nil {
		base = os.Environ()
	}
	var env []string
	allowed := alertEnv()
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		for _, name := range allowed {
			if strings.EqualFold(k, name) {
				env = append(env, kv)
				break
			}
		}
	}
	return append(env,
		"OAUTHFORM_CONNECTION="+a.Conn,
		"OAUTHFORM_PROVIDER="+a.Provider,
		"OAUTHFORM_STATUS="+string(a.Status),
		"OAUTHFORM_ERROR_KIND="+a.ErrorKind,
		"OAUTHFORM_ERROR="+strings.ReplaceAll(a.Error, "\x00", ""),
	)
}

// Run runs the command for a and says why it failed, without its output.
func (c *AlertCommand) Run(ctx context.Context, a Alert) error {
	if len(c.Argv) == 0 {
		return nil
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultAlertTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	name := fmt.Sprintf("on_failure %q", c.Argv[0])
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir, cmd.Env, cmd.WaitDelay = c.Dir, c.Env(a), time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if c.Output != nil {
		_, _ = c.Output.Write(out.Bytes())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("%s for %s did not finish within %s", name, a.Conn, timeout)
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s for %s: the program was not found", name, a.Conn)
	case errors.As(err, &ee):
		return fmt.Errorf("%s for %s failed (exit status %d; its output is not shown)", name, a.Conn, ee.ExitCode())
	}
	return fmt.Errorf("%s for %s could not run: %s", name, a.Conn, errKind(err))
}

// errKind is a short, secret-free description of an error starting a
// program.
func errKind(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "error starting it"
}
