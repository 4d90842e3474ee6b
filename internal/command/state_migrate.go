package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/command/views"
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
		opts.Version, opts.Now = g.version, g.now
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
			kept := fmt.Sprintf("%s.migrated-%s", m.path, g.now().UTC().Format("20060102T150405Z"))
			if err := os.Rename(m.path, kept); err != nil {
				return "", fmt.Errorf("renaming %s failed: %w", m.path, err)
			}
			return kept, nil
		}
	}
	return side
}

// stateMigrateArgs are the arguments of `oauthform state migrate`.
type stateMigrateArgs struct {
	to, connEnv, schema, localPath string
	lockTimeout                    time.Duration
	vars                           varFlags
}

func parseStateMigrateArgs(args []string) (*stateMigrateArgs, bool, hcl.Diagnostics) {
	a := &stateMigrateArgs{}
	fs := newFlagSet("state migrate")
	fs.StringVar(&a.to, "to", "", "")
	fs.StringVar(&a.connEnv, "conn-str-env", "", "")
	fs.StringVar(&a.schema, "schema", "", "")
	fs.StringVar(&a.localPath, "state", "", "")
	lockTimeout := fs.String("lock-timeout", "0s", "")
	a.vars.register(fs)
	help, diags := parseFlags(fs, args, stateMigrateHelp)
	if help {
		return a, true, nil
	}
	switch {
	case diags.HasErrors():
	case fs.NArg() != 0:
		diags = errDiag("Invalid command line", "state migrate takes no arguments.\n\n"+stateMigrateHelp)
	case a.to != config.BackendPG && a.to != config.BackendLocal:
		diags = errDiag("Invalid command line", fmt.Sprintf("state migrate needs -to=pg (from the local file to PostgreSQL) or -to=local (back), not %q.\n\n%s", a.to, stateMigrateHelp))
	case a.schema != "" && a.connEnv == "":
		diags = errDiag("Invalid command line", "-schema goes with -conn-str-env; the backend \"pg\" block sets its schema with schema_name.")
	case a.schema != "" && !config.ValidPGSchema(a.schema):
		diags = errDiag("Invalid command line", fmt.Sprintf("-schema=%q is not a schema oauthform uses: lower-case letters, digits and underscores, at most 63, not starting with a digit or \"pg_\".", a.schema))
	}
	var tdiags hcl.Diagnostics
	a.lockTimeout, tdiags = parseLockTimeout(*lockTimeout)
	return a, false, append(diags, tdiags...)
}

func runStateMigrate(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStateMigrateArgs(args)
	if code, done := g.parsed(stateMigrateHelp, help, diags); done {
		return code
	}
	cfg, diags := g.loadStateConfig(a.vars.inputs())
	if diags.HasErrors() {
		diags = append(diags, sourceless(hcl.DiagError, "Cannot find the states",
			"The configuration above has errors, so where its state is and its passphrase are unknown. Fix it first."))
		g.view.Diagnostics(files(cfg), diags)
		return ExitError
	}
	m, diags := newMigration(g, cfg, a)
	if !diags.HasErrors() {
		var res *state.MigrateResult
		if res, diags = m.run(ctx); !diags.HasErrors() {
			g.view.Migrated(m.report(res, a.connEnv))
			return ExitOK
		}
	}
	g.view.Diagnostics(nil, diags)
	return ExitError
}

// newMigration finds the two ends of the migration a asks for: the local
// file (-state, or the configuration's) and PostgreSQL (-conn-str-env, or
// the backend "pg" block).
func newMigration(g *globals, cfg *config.Config, a *stateMigrateArgs) (*migration, hcl.Diagnostics) {
	local := &migrateSide{path: a.localPath}
	if local.path == "" {
		local.path = backend.StatePath(cfg)
	}
	remote := &migrateSide{pg: true}
	switch {
	case a.connEnv != "":
		cs, d := passphraseFromEnv("-conn-str-env", a.connEnv)
		if d.HasErrors() {
			return nil, d
		}
		remote.connStr, remote.schema = cs, a.schema
		if remote.schema == "" {
			remote.schema = config.DefaultPGSchema
		}
	case backend.IsPG(cfg):
		remote.connStr, remote.schema = cfg.Settings.Backend.ConnStr, cfg.Settings.Backend.Schema
	default:
		return nil, errDiag("No PostgreSQL state configured", fmt.Sprintf("state migrate -to=%s needs the PostgreSQL database: add a backend \"pg\" block to the oauthform block, "+
			"conn_str = env(\"OAUTHFORM_PG\") with that variable set, or name the environment variable that holds the connection string with -conn-str-env=NAME.", a.to))
	}
	src, dst := local, remote
	if a.to == config.BackendLocal {
		src, dst = remote, local
	}
	if err := backend.CheckKeys(cfg); err != nil {
		return nil, errDiag("Cannot migrate the state", err.Error()+".")
	}
	return &migration{g: g, cfg: cfg, src: src, dst: dst, pass: backend.Passphrase(cfg), fallback: backend.Fallback(cfg),
		enforced: backend.Enforced(cfg), timeout: a.lockTimeout}, nil
}

// migration is one run of state migrate.
type migration struct {
	g        *globals
	cfg      *config.Config
	src, dst *migrateSide
	pass     secret.Secret
	fallback secret.Secret
	enforced bool
	timeout  time.Duration
}

// run moves the state (state.Migrate) and explains a failure.
func (m *migration) run(ctx context.Context) (*state.MigrateResult, hcl.Diagnostics) {
	res, err := state.Migrate(ctx, &state.Migration{
		Src: m.src.stateSide(m.g, true), Dst: m.dst.stateSide(m.g, false),
		Passphrase: m.pass, Fallback: m.fallback, Seal: m.enforced, LockTimeout: m.timeout, ConnLockWait: max(m.timeout, apply.DefaultLockWait),
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

// report is what the view says about the migration: what was done and
// what to change in the configuration so that every command uses the new
// state.
func (m *migration) report(res *state.MigrateResult, connEnv string) *views.Migration {
	r := &views.Migration{Result: res, SrcSchema: m.src.schema, ToPG: m.dst.pg, DstSchema: m.dst.schema,
		WasPG: backend.IsPG(m.cfg), ConnEnv: connEnv, StatePath: backend.StatePath(m.cfg), DstPath: m.dst.path}
	s := m.cfg.Settings
	r.OtherPlace = s.Backend != nil || s.StatePath != config.DefaultStatePath
	return r
}
