package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

const stateMigrateHelp = `Usage: oauthform state migrate -to pg|local [options]

Move the whole state between a local file and PostgreSQL in one step:
every connection with its tokens, encrypted at rest if the state is (with
the same passphrase). Both states are locked for the move; the source's
connections are locked too, so no refresh elsewhere is lost. The
destination must hold no connections. The copy is then read back and
compared with the source: count, names, lineage and every token.

  -to pg     From the local state file (the configuration's, or -state) to
             PostgreSQL: the configuration's backend "pg" block, or the
             connection string in the environment variable -conn-str-env.
             The local file is kept under a new name,
             state.db.migrated-TIME, so that nothing uses it by mistake.
  -to local  From PostgreSQL (the backend "pg" block, or -conn-str-env) to
             the local file (.oauthform/state.db, or -state). The state in
             PostgreSQL is left as it was.

Afterwards, change the configuration as printed, so that every command
uses the new state.

Options:
  -to=pg|local        Where the state goes.
  -conn-str-env=NAME  Read the PostgreSQL connection string from environment
                      variable NAME instead of the backend "pg" block.
  -schema=NAME        With -conn-str-env: the schema (default "oauthform").
  -state=PATH         The local state file, instead of the configuration's.
  -lock-timeout=D     Wait up to D for each lock.
  -var, -var-file     Variables, as for plan.
`

// migrateSide is one end of a migration.
type migrateSide struct {
	pg      bool
	path    string        // the local file
	connStr secret.Secret // PostgreSQL
	schema  string
}

// stateSide returns the side as state.Migrate takes it: opened with the
// passphrase given (zero stays zero), and a local source renamed once the
// copy is verified, so that nothing uses it by mistake.
func (m *migrateSide) stateSide(g *globals, source bool) state.MigrateSide {
	side := state.MigrateSide{Open: func(ctx context.Context, opts state.Options) (state.Store, error) {
		opts.Version, opts.Now = version, clock
		if opts.Notify == nil {
			opts.Notify = g.stateNotice
		}
		s := backend.Settings{Path: m.path, Options: opts, ExactPassphrase: true, Secrets: &g.secrets}
		if m.pg {
			s = backend.Settings{PG: &backend.PG{ConnStr: m.connStr, Schema: m.schema}, Options: opts, ExactPassphrase: true, Secrets: &g.secrets}
		}
		return backend.Open(ctx, s)
	}}
	if source && !m.pg {
		side.SetAside = func() (string, error) {
			kept := fmt.Sprintf("%s.migrated-%s", m.path, clock().UTC().Format("20060102T150405Z"))
			if err := os.Rename(m.path, kept); err != nil {
				return "", fmt.Errorf("renaming %s failed: %w", m.path, err)
			}
			return kept, nil
		}
	}
	return side
}

func runStateMigrate(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("state migrate")
	to := fs.String("to", "", "")
	connEnv := fs.String("conn-str-env", "", "")
	schema := fs.String("schema", "", "")
	localPath := fs.String("state", "", "")
	lockTimeout := fs.String("lock-timeout", "0s", "")
	var vars varFlags
	vars.register(fs)
	help, diags := parseFlags(fs, args, stateMigrateHelp)
	if help {
		fmt.Fprint(g.streams.Out, stateMigrateHelp)
		return exitOK
	}
	switch {
	case diags.HasErrors():
	case fs.NArg() != 0:
		diags = errDiag("Invalid command line", "state migrate takes no arguments.\n\n"+stateMigrateHelp)
	case *to != config.BackendPG && *to != config.BackendLocal:
		diags = errDiag("Invalid command line", fmt.Sprintf("state migrate needs -to=pg (from the local file to PostgreSQL) or -to=local (back), not %q.\n\n%s", *to, stateMigrateHelp))
	case *schema != "" && *connEnv == "":
		diags = errDiag("Invalid command line", "-schema goes with -conn-str-env; the backend \"pg\" block sets its schema with schema_name.")
	case *schema != "" && !config.ValidPGSchema(*schema):
		diags = errDiag("Invalid command line", fmt.Sprintf("-schema=%q is not a schema oauthform uses: lower-case letters, digits and underscores, at most 63, not starting with a digit or \"pg_\".", *schema))
	}
	timeout, tdiags := parseLockTimeout(*lockTimeout)
	diags = append(diags, tdiags...)
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	fail := func(d hcl.Diagnostics) int {
		writeDiags(g, g.streams.Err, nil, d)
		return exitError
	}
	cfg, diags := loadConfig(vars.inputs())
	if diags.HasErrors() {
		diags = append(diags, sourceless(hcl.DiagError, "Cannot find the states",
			"The configuration above has errors, so where its state is and its passphrase are unknown. Fix it first."))
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}

	local := &migrateSide{path: *localPath}
	if local.path == "" {
		local.path = backend.StatePath(cfg)
	}
	remote := &migrateSide{pg: true}
	switch {
	case *connEnv != "":
		cs, d := passphraseFromEnv("-conn-str-env", *connEnv)
		if d.HasErrors() {
			return fail(d)
		}
		remote.connStr, remote.schema = cs, *schema
		if remote.schema == "" {
			remote.schema = config.DefaultPGSchema
		}
	case backend.IsPG(cfg):
		remote.connStr, remote.schema = cfg.Settings.Backend.ConnStr, cfg.Settings.Backend.Schema
	default:
		return fail(errDiag("No PostgreSQL state configured", fmt.Sprintf("state migrate -to=%s needs the PostgreSQL database: add a backend \"pg\" block to the oauthform block, "+
			"conn_str = env(\"OAUTHFORM_PG\") with that variable set, or name the environment variable that holds the connection string with -conn-str-env=NAME.", *to)))
	}
	src, dst := local, remote
	if *to == config.BackendLocal {
		src, dst = remote, local
	}
	pass := backend.Passphrase(cfg)
	m := &migration{g: g, cfg: cfg, src: src, dst: dst, pass: pass, timeout: timeout}
	res, d := m.run(ctx)
	if d.HasErrors() {
		return fail(d)
	}
	m.report(res, *connEnv)
	return exitOK
}

// migration is one run of state migrate.
type migration struct {
	g        *globals
	cfg      *config.Config
	src, dst *migrateSide
	pass     secret.Secret
	timeout  time.Duration
}

// run moves the state (state.Migrate) and explains a failure.
func (m *migration) run(ctx context.Context) (*state.MigrateResult, hcl.Diagnostics) {
	res, err := state.Migrate(ctx, &state.Migration{
		Src: m.src.stateSide(m.g, true), Dst: m.dst.stateSide(m.g, false),
		Passphrase: m.pass, LockTimeout: m.timeout, ConnLockWait: max(m.timeout, apply.DefaultLockWait),
		Rehash: m.rehash,
	})
	if err != nil {
		return nil, m.explain(err)
	}
	return res, nil
}

// rehash makes a record's client secret fingerprint again under the new
// lineage where it matches the configuration's secret.
func (m *migration) rehash(rec *state.Record, oldLineage, newLineage string) string {
	if c, ok := m.cfg.Connections[rec.Conn]; ok && c.App != nil &&
		rec.ClientSecretHash != "" && rec.ClientSecretHash == state.HashSecret(oldLineage, c.App.ClientSecret) {
		return state.HashSecret(newLineage, c.App.ClientSecret)
	}
	return ""
}

// explain turns a migration error into diagnostics, with the advice that
// depends on how the states were named.
func (m *migration) explain(err error) hcl.Diagnostics {
	var se *state.StepError
	if !errors.As(err, &se) {
		return m.g.stateErrDiags("Failed to migrate the state", err)
	}
	switch se.Kind {
	case state.KindNoSource:
		hint := "Nothing was changed."
		if !m.src.pg {
			hint = "Nothing was changed. If the state file is elsewhere (an earlier state_path), name it with -state=PATH."
		}
		return errDiag(se.Step, fmt.Sprintf("There is no state at %s. %s", se.Name, hint))
	case state.KindSourceSealed:
		return errDiag(se.Step, fmt.Sprintf("The state %s is encrypted at rest, and moving it needs its tokens: give the passphrase "+
			"with an encryption block in the configuration or with %s. The copy is sealed again with the same passphrase.", se.Name, passphraseEnv))
	case state.KindDestinationNotEmpty:
		remove := "move the file away, or migrate into another one with -state=PATH"
		if m.dst.pg {
			remove = fmt.Sprintf("DROP SCHEMA %s CASCADE, or migrate into another schema with -conn-str-env and -schema", m.dst.schema)
		}
		return errDiag(se.Step, fmt.Sprintf("%s already holds %d connection(s) (lineage %s): state migrate copies into an empty state only, "+
			"so that it never mixes two states. Nothing was changed. If that state is an old copy, remove it first (%s).",
			se.Name, se.Records, se.Lineage, remove))
	case state.KindDestinationEncrypted:
		return errDiag(se.Step, fmt.Sprintf("%s exists and is encrypted at rest; give its passphrase (the configuration's encryption block or %s) to copy into it.",
			se.Name, passphraseEnv))
	}
	if se.Err != nil {
		return m.g.stateErrDiags(se.Step, se.Err)
	}
	return errDiag(se.Step, se.Detail)
}

// report prints what was done and what to change in the configuration.
func (m *migration) report(res *state.MigrateResult, connEnv string) {
	out := m.g.streams.Out
	enc := "not encrypted at rest"
	if res.Encrypted {
		enc = "encrypted at rest with the configured passphrase"
	}
	fmt.Fprintf(out, "Migrated the state from %s to %s.\n", res.From, res.To)
	fmt.Fprintf(out, "- Copied %d connection(s) with their tokens, %s.\n", res.Records, enc)
	if res.LineageReplaced {
		fmt.Fprintf(out, "- Verified by reading the copy back: %d connection(s), tokens identical. The lineage is now %s (it was %s): "+
			"this backend cannot take a state's lineage, so saved plans made before the move are refused.\n", res.Records, res.Lineage, res.SrcLineage)
	} else {
		fmt.Fprintf(out, "- Verified by reading the copy back: %d connection(s), tokens identical, lineage %s (serial %d).\n", res.Records, res.Lineage, res.Serial)
	}
	if res.KeptAs != "" {
		fmt.Fprintf(out, "- The local state was renamed to %s: nothing reads it any more. It holds tokens; delete it once the new state works.\n", res.KeptAs)
	} else {
		fmt.Fprintf(out, "- The state in PostgreSQL was left as it was. Once nobody uses it any more, remove it (DROP SCHEMA %s CASCADE): "+
			"it holds tokens, and a refresh there would not reach the local file.\n", m.src.schema)
	}
	fmt.Fprintln(out)
	m.advise(out, connEnv)
}

// advise says what to change in the configuration so that every command
// uses the new state.
func (m *migration) advise(out io.Writer, connEnv string) {
	s := m.cfg.Settings
	if m.dst.pg {
		if backend.IsPG(m.cfg) && connEnv == "" {
			fmt.Fprintln(out, "The configuration's backend \"pg\" block already points at this state: nothing to change. Every oauthform command now uses it.")
			return
		}
		env := connEnv
		if env == "" {
			env = "OAUTHFORM_PG"
		}
		fmt.Fprintln(out, "Now point the configuration at it, so that every command uses it (and give each machine the connection string):")
		fmt.Fprintln(out)
		fmt.Fprintln(out, "oauthform {")
		fmt.Fprintln(out, "  backend \"pg\" {")
		fmt.Fprintf(out, "    conn_str    = env(%q)\n", env)
		fmt.Fprintf(out, "    schema_name = %q\n", m.dst.schema)
		fmt.Fprintln(out, "  }")
		fmt.Fprintln(out, "}")
		if s.Backend != nil || s.StatePath != config.DefaultStatePath {
			fmt.Fprintln(out)
			fmt.Fprintln(out, "and remove state_path or the backend \"local\" block: a state has one place.")
		}
		return
	}
	if backend.IsPG(m.cfg) {
		fmt.Fprintln(out, "Now remove the backend \"pg\" block from the configuration's oauthform block, so that every command uses the local file.")
	} else {
		fmt.Fprintln(out, "The configuration has no backend \"pg\" block: it uses the local file already.")
	}
	if p := m.dst.path; filepath.Clean(p) != filepath.Clean(backend.StatePath(m.cfg)) {
		fmt.Fprintf(out, "Set state_path = %q in the oauthform block: the configuration looks for the state at %s.\n", filepath.ToSlash(p), backend.StatePath(m.cfg))
	}
}
