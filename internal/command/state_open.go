package command

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/keys"
	"github.com/oauthform/oauthform/internal/state"
)

// loadConfig loads the configuration of the current directory, through
// the configuration cache (config.LoadCached) unless OAUTHFORM_CONFIG_CACHE
// is "off". On error diagnostics the returned config may still be
// non-nil (for snippets).
func (g *globals) loadConfig(in config.Inputs) (*config.Config, hcl.Diagnostics) {
	opts, ok, diags := g.configCache(in.Validate)
	if diags != nil {
		return nil, diags
	}
	if !ok {
		return config.Load(".", in)
	}
	cfg, diags, pending, hit := config.LoadCached(".", in, opts)
	if hit {
		g.log.Debug("configuration: connections taken from the cache", "path", opts.Path)
	}
	if pending != nil {
		// Written when the command ends, with the index: a cache must
		// not take the room (or the time) the command's own writes need.
		g.cacheAfter = pending
		g.indexAfter = cfg
	}
	return cfg, diags
}

// loadStateConfig is loadConfig for a command that uses the state: a
// configuration without errors has its key providers resolved too
// (resolveKeys).
func (g *globals) loadStateConfig(in config.Inputs) (*config.Config, hcl.Diagnostics) {
	cfg, diags := g.loadConfig(in)
	if diags.HasErrors() {
		return cfg, diags
	}
	return cfg, append(diags, g.resolveKeys(cfg)...)
}

// resolveKeys resolves cfg's key providers, once per process (running
// a passphrase_command, reading the keyring or a key_file): the secret
// stays in memory, in cfg.
func (g *globals) resolveKeys(cfg *config.Config) hcl.Diagnostics {
	if err := backend.ResolveKeys(context.Background(), cfg, g.keyResolver()); err != nil {
		return errDiag("Cannot get the key of the state", err.Error()+".\n\n"+
			"The encryption block of the configuration names where the key that seals the state comes from; see docs/keys.md.")
	}
	return nil
}

// keyResolver resolves key providers for this command: the keyring is
// Meta's (the OS keyring unless a test gives another). A
// passphrase_command's output, standard error too, is never shown: a
// password manager asks for its own secrets on the terminal.
func (g *globals) keyResolver() *keys.Resolver {
	return &keys.Resolver{Keyring: g.keyring}
}

// files returns cfg's files for snippets, tolerating a nil cfg.
func files(cfg *config.Config) map[string]*hcl.File {
	if cfg == nil {
		return nil
	}
	return cfg.Files()
}

// openState opens the state s names (backend.Open), recording this
// version and using the command g.now, with the state's notes printed to
// stderr; the connection strings it opens are redacted from every message
// of the command.
func (g *globals) openState(ctx context.Context, s backend.Settings) (state.Store, hcl.Diagnostics) {
	if s.Options.Version == "" {
		s.Options.Version = g.version
	}
	if s.Options.Now == nil {
		s.Options.Now = g.now
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
	g.view.StateNotice(msg)
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
	case errors.Is(err, state.ErrNewerFormat):
		return errDiag(summary, fmt.Sprintf("%v.\n\nThis is oauthform %s: install the version that wrote the state, or a newer one.", err, g.version))
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
	g.view.Diagnostics(nil, hcl.Diagnostics{sourceless(hcl.DiagWarning,
		"The removed connections' tokens may remain on disk", g.secrets.Redact(err).Error())})
}

// failed prints diags when they hold an error, and reports whether they do.
func (g *globals) failed(files map[string]*hcl.File, diags hcl.Diagnostics) bool {
	if !diags.HasErrors() {
		return false
	}
	g.view.Diagnostics(files, diags)
	return true
}
