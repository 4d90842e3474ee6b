package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
)

// multiFlag collects a repeatable string flag (-var, -var-file, -target).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// varFlags are -var and -var-file, shared by every command that loads the
// configuration.
type varFlags struct {
	vars     multiFlag
	varFiles multiFlag
}

func (v *varFlags) register(fs *flag.FlagSet) {
	fs.Var(&v.vars, "var", "")
	fs.Var(&v.varFiles, "var-file", "")
}

func (v *varFlags) inputs() config.Inputs {
	return config.Inputs{Vars: v.vars, VarFiles: v.varFiles}
}

// newFlagSet returns a FlagSet that reports errors as diagnostics instead of
// printing them.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args with fs and turns a flag error into a diagnostic
// that names the command and points at its help.
//
// Flags may come before, between and after the positional arguments, as in
// Terraform (`show NAME -json`, `state rm a -dry-run b`): the flag package
// stops at the first non-flag, so parsing resumes after each one. A "--"
// ends the flags; everything after it is positional. Afterwards fs.Args()
// holds the positional arguments in their order.
func parseFlags(fs *flag.FlagSet, args []string, help string) (helpAsked bool, diags hcl.Diagnostics) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return true, nil
			}
			return false, errDiag("Invalid command line", fmt.Sprintf("%s: %v\n\n%s", fs.Name(), err, help))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Parse the terminator alone so that fs.Args() is exactly the
	// positional arguments; no flag is set by it.
	_ = fs.Parse(append([]string{"--"}, positional...))
	return false, nil
}

// parseLockTimeout is the -lock-timeout flag, a Go duration.
func parseLockTimeout(s string) (time.Duration, hcl.Diagnostics) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errDiag("Invalid -lock-timeout", fmt.Sprintf("-lock-timeout=%q is not a duration such as 30s or 2m.", s))
	}
	return d, nil
}

// loadConfig loads the configuration of the current directory. On error
// diagnostics the returned config may still be non-nil (for snippets).
func loadConfig(in config.Inputs) (*config.Config, hcl.Diagnostics) {
	return config.Load(".", in)
}

// files returns cfg's files for snippets, tolerating a nil cfg.
func files(cfg *config.Config) map[string]*hcl.File {
	if cfg == nil {
		return nil
	}
	return cfg.Files()
}

// openState opens the state s names (backend.Open), recording this
// version and using the command clock, with the state's notes printed to
// stderr; the connection strings it opens are redacted from every message
// of the command.
func (g *globals) openState(ctx context.Context, s backend.Settings) (state.Store, hcl.Diagnostics) {
	if s.Options.Version == "" {
		s.Options.Version = version
	}
	if s.Options.Now == nil {
		s.Options.Now = clock
	}
	if s.Options.Notify == nil {
		s.Options.Notify = g.stateNotice
	}
	s.Secrets = &g.secrets
	st, err := backend.Open(ctx, s)
	if err != nil {
		return nil, g.stateErrDiags("Failed to open the state", err)
	}
	return st, nil
}

// openConfigState opens the state of cfg's backend with opts.
func (g *globals) openConfigState(ctx context.Context, cfg *config.Config, opts state.Options) (state.Store, hcl.Diagnostics) {
	return g.openState(ctx, backend.Settings{Config: cfg, Options: opts})
}

// stateNotice prints what the state store did on its own (turning
// encryption on at a write) to stderr. The notes hold no secret.
func (g *globals) stateNotice(msg string) {
	fmt.Fprintf(g.streams.Err, "\n%s\n\n", msg)
}

// stateErrDiags explains a state error, with advice where there is one.
func (g *globals) stateErrDiags(summary string, err error) hcl.Diagnostics {
	err = g.secrets.Redact(err)
	if d := encryptionErrDiags(summary, err); d != nil {
		return d
	}
	var le *state.LockError
	switch {
	case errors.As(err, &le):
		detail := err.Error()
		if le.Info != nil {
			detail = "Another oauthform process holds the state lock:\n\n" + le.Info.String() +
				"\n\nWait for it to finish, or retry with -lock-timeout=DURATION to wait for it."
		}
		return errDiag("Error acquiring the state lock", detail)
	case errors.Is(err, state.ErrNoState):
		return errDiag(summary, "There is no state yet. Run \"oauthform init\" first.")
	case dbUnreachable(err):
		return errDiag("Cannot connect to the state's database", err.Error()+
			"\n\nThe state is in PostgreSQL (the backend \"pg\" block). Check its connection string (conn_str, such as the OAUTHFORM_PG "+
			"environment variable), that the server is running and reachable from here, and the user's password (in the string, "+
			"or PGPASSWORD or ~/.pgpass). Nothing was read or written.")
	}
	return wrapErr(summary, err)
}

// dbUnreachable reports whether err is a failure to connect to the
// PostgreSQL server of a pg state: the network, or the server refusing
// the connection (authentication, a missing database).
func dbUnreachable(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) || strings.Contains(err.Error(), "failed to connect to")
}

// readSnapshot reads the state, taking the lock for the read when lock is
// true (as Terraform's plan does). A lock held by another operation (an
// apply waiting on a person) fails the read only when the caller asked to
// wait for it (waits: a -lock-timeout); otherwise the consistent snapshot
// is read anyway and a warning names the holder.
func (g *globals) readSnapshot(ctx context.Context, st state.Store, operation string, lock, waits bool) (*state.Snapshot, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if lock {
		if _, err := st.Lock(ctx, operation); err != nil {
			var le *state.LockError
			switch {
			case errors.Is(err, state.ErrNoState):
			case errors.As(err, &le) && !waits:
				// Reads never wait: the snapshot is consistent without
				// the lock. Say whose work it may not show yet.
				diags = warnDiag("Reading a locked state", le.Error()+
					". This "+operation+" reads the state as it is now; what that operation does next is not in it "+
					"(a plan saved with -out is refused once the state moves on). Use -lock-timeout to wait for it instead.")
			default:
				return nil, g.stateErrDiags("Error acquiring the state lock", err)
			}
		} else {
			defer func() { _ = st.Unlock(ctx) }()
		}
	}
	snap, err := st.Snapshot(ctx)
	if err != nil {
		return nil, append(diags, g.stateErrDiags("Failed to read the state", err)...)
	}
	return snap, diags
}

// formatDuration prints d compactly: 10m, 1h30m, 45s, 7d2h.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	neg := d < 0
	if neg {
		d = -d
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	units := []struct {
		n string
		d time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}
	parts := 0
	for _, u := range units {
		if d >= u.d {
			fmt.Fprintf(&b, "%d%s", d/u.d, u.n)
			d %= u.d
			parts++
		}
	}
	if parts == 0 {
		return d.String()
	}
	return b.String()
}

// relTime says when t is relative to now: "in 52m", "3h ago".
func relTime(t, now time.Time) string {
	d := t.Sub(now).Truncate(time.Second)
	if d >= 0 {
		return "in " + formatDuration(d)
	}
	return formatDuration(-d) + " ago"
}

// purgeForgotten clears every copy of the connections the command removed
// from the state (state.Store.Purge: the state file is rewritten without
// their freed pages, the backup without them) and warns when it cannot.
// It runs once per command, after its last delete, and does nothing when
// nothing was deleted. The removal itself stands either way, so the exit
// status does not change.
func purgeForgotten(ctx context.Context, g *globals, st state.Store) {
	err := st.Purge(context.WithoutCancel(ctx))
	if err == nil {
		return
	}
	writeDiags(g, g.streams.Err, nil, hcl.Diagnostics{sourceless(hcl.DiagWarning,
		"The removed connections' tokens may remain on disk", g.secrets.Redact(err).Error())})
}
