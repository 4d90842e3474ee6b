package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
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

func (m *migrateSide) open(ctx context.Context, opts state.Options) (state.Store, hcl.Diagnostics) {
	opts.Version, opts.Now = version, clock
	if opts.Notify == nil {
		opts.Notify = stateNotice
	}
	if m.pg {
		return openPGState(ctx, m.connStr, m.schema, opts)
	}
	// Not openState: a zero passphrase must stay zero here.
	st, err := bolt.Open(m.path, opts)
	if err != nil {
		return nil, stateErrDiags("Failed to open the state", err)
	}
	return st, nil
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
		local.path = statePath(cfg)
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
	case isPG(cfg):
		remote.connStr, remote.schema = cfg.Settings.Backend.ConnStr, cfg.Settings.Backend.Schema
	default:
		return fail(errDiag("No PostgreSQL state configured", fmt.Sprintf("state migrate -to=%s needs the PostgreSQL database: add a backend \"pg\" block to the oauthform block, "+
			"conn_str = env(\"OAUTHFORM_PG\") with that variable set, or name the environment variable that holds the connection string with -conn-str-env=NAME.", *to)))
	}
	src, dst := local, remote
	if *to == config.BackendLocal {
		src, dst = remote, local
	}
	pass := configPassphrase(cfg)
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

// migrateResult says what a migration did.
type migrateResult struct {
	from, to        string // Store.Path of each
	records         int
	lineage         string // the destination's
	srcLineage      string
	serial          uint64
	encrypted       bool
	keptAs          string // the local source's new name
	lineageReplaced bool   // the destination had its own lineage
}

func (m *migration) run(ctx context.Context) (*migrateResult, hcl.Diagnostics) {
	lockWait := max(m.timeout, apply.DefaultLockWait)

	// The source: operation lock, then every connection's lock, then the
	// snapshot that is copied.
	src, d := m.src.open(ctx, state.Options{LockTimeout: m.timeout, Passphrase: m.pass})
	if d.HasErrors() {
		return nil, d
	}
	defer src.Close()
	if _, err := src.Lock(ctx, "state migrate"); err != nil {
		if errors.Is(err, state.ErrNoState) {
			return nil, m.noState(src.Path())
		}
		return nil, stateErrDiags("Error acquiring the lock of the source state", err)
	}
	defer func() { _ = src.Unlock(context.WithoutCancel(ctx)) }()
	first, err := src.Snapshot(ctx)
	if err != nil {
		return nil, stateErrDiags("Failed to read the source state", err)
	}
	if first.Empty() {
		return nil, m.noState(src.Path())
	}
	names := sortedRecordNames(first)
	for _, name := range names {
		release, err := src.LockConn(ctx, name, lockWait)
		if err != nil {
			return nil, stateErrDiags(fmt.Sprintf("Error acquiring the lock of connection %q", name), err)
		}
		defer func() { _ = release() }()
	}
	snap, err := src.Snapshot(ctx) // after any refresh that held a lock
	if err != nil {
		return nil, stateErrDiags("Failed to read the source state", err)
	}
	for _, name := range sortedRecordNames(snap) {
		if !slices.Contains(names, name) {
			// Only an operation adds connections, and we hold its lock.
			return nil, errDiag("The source state changed", fmt.Sprintf("Connection %q appeared in %s during the migration. Nothing was copied; run it again.", name, src.Path()))
		}
		if snap.Records[name].Sealed {
			return nil, errDiag("The state is encrypted", fmt.Sprintf("The state %s is encrypted at rest, and moving it needs its tokens: give the passphrase "+
				"with an encryption block in the configuration or with %s. The copy is sealed again with the same passphrase.", src.Path(), passphraseEnv))
		}
	}

	// The destination: empty, locked, encrypted when the source is (or
	// when it already is itself).
	dstPass := secret.Secret{}
	if snap.Encrypted {
		dstPass = m.pass
	}
	probe, d := m.dst.open(ctx, state.Options{Passphrase: dstPass, Notify: func(string) {}})
	if d.HasErrors() {
		return nil, d
	}
	before, err := probe.Snapshot(ctx)
	_ = probe.Close()
	if err != nil {
		return nil, stateErrDiags("Failed to read the destination state", err)
	}
	if len(before.Records) > 0 {
		remove := "move the file away, or migrate into another one with -state=PATH"
		if m.dst.pg {
			remove = fmt.Sprintf("DROP SCHEMA %s CASCADE, or migrate into another schema with -conn-str-env and -schema", m.dst.schema)
		}
		return nil, errDiag("The destination state is not empty", fmt.Sprintf("%s already holds %d connection(s) (lineage %s): state migrate copies into an empty state only, "+
			"so that it never mixes two states. Nothing was changed. If that state is an old copy, remove it first (%s).",
			probe.Path(), len(before.Records), before.Lineage, remove))
	}
	if before.Encrypted && !snap.Encrypted {
		if m.pass.IsZero() {
			return nil, errDiag("The destination state is encrypted", fmt.Sprintf("%s exists and is encrypted at rest; give its passphrase (the configuration's encryption block or %s) to copy into it.",
				probe.Path(), passphraseEnv))
		}
		dstPass = m.pass
	}
	dst, d := m.dst.open(ctx, state.Options{LockTimeout: m.timeout, Passphrase: dstPass})
	if d.HasErrors() {
		return nil, d
	}
	defer dst.Close()
	dstLineage, err := dst.Init(ctx)
	if err != nil {
		return nil, stateErrDiags("Failed to create the destination state", err)
	}
	if _, err := dst.Lock(ctx, "state migrate"); err != nil {
		return nil, stateErrDiags("Error acquiring the lock of the destination state", err)
	}
	defer func() { _ = dst.Unlock(context.WithoutCancel(ctx)) }()
	if again, err := dst.Snapshot(ctx); err != nil {
		return nil, stateErrDiags("Failed to read the destination state", err)
	} else if len(again.Records) > 0 {
		return nil, errDiag("The destination state is not empty", fmt.Sprintf("Connections were written to %s while the migration started. Nothing was copied.", dst.Path()))
	}

	// Encrypted as the source is, or because the destination already was.
	res := &migrateResult{from: src.Path(), to: dst.Path(), records: len(snap.Records), srcLineage: snap.Lineage, encrypted: !dstPass.IsZero()}
	if im, ok := dst.(state.Importer); ok {
		if err := im.Import(ctx, snap); err != nil {
			return nil, stateErrDiags("Failed to copy the state", err)
		}
		res.lineage = snap.Lineage
	} else {
		res.lineage, res.lineageReplaced = dstLineage, dstLineage != snap.Lineage
		if d := m.copyRecords(ctx, dst, snap, dstLineage); d.HasErrors() {
			return nil, d
		}
	}

	// Read the copy back through a store of its own and compare.
	check, d := m.dst.open(ctx, state.Options{Passphrase: dstPass, Notify: func(string) {}})
	if d.HasErrors() {
		return nil, d
	}
	got, err := check.Snapshot(ctx)
	_ = check.Close()
	if err != nil {
		return nil, stateErrDiags("Failed to read the copy back", err)
	}
	if problem := compareCopy(snap, got, res.lineage, res.encrypted); problem != "" {
		removed := "its connections were removed again"
		for name := range got.Records {
			if err := dst.Delete(context.WithoutCancel(ctx), name); err != nil && !errors.Is(err, state.ErrNotFound) {
				removed = "remove its connections before trying again"
			}
		}
		return nil, errDiag("The copy does not match the source", fmt.Sprintf("Reading %s back: %s. The source %s is unchanged and still in use; %s.",
			dst.Path(), problem, src.Path(), removed))
	}
	res.serial = got.Serial

	// The source is kept, and a local one renamed so that nothing uses it
	// by mistake; renamed under its lock, after the copy was verified.
	if !m.src.pg {
		kept := fmt.Sprintf("%s.migrated-%s", m.src.path, clock().UTC().Format("20060102T150405Z"))
		if err := os.Rename(m.src.path, kept); err != nil {
			return nil, wrapErr("Failed to set the local state aside",
				fmt.Errorf("the state was copied and verified in %s, but renaming %s failed: %w; rename or remove it by hand before using the new state", dst.Path(), m.src.path, err))
		}
		res.keptAs = kept
	}
	return res, nil
}

// noState explains a missing source state.
func (m *migration) noState(name string) hcl.Diagnostics {
	hint := "Nothing was changed."
	if !m.src.pg {
		hint = "Nothing was changed. If the state file is elsewhere (an earlier state_path), name it with -state=PATH."
	}
	return errDiag("No state to migrate", fmt.Sprintf("There is no state at %s. %s", name, hint))
}

// copyRecords writes every record of snap into dst, whose lineage is
// lineage: the client secret fingerprints, keyed by the lineage, are made
// again from the configuration where they match it. On failure the
// records written are removed again.
func (m *migration) copyRecords(ctx context.Context, dst state.Store, snap *state.Snapshot, lineage string) hcl.Diagnostics {
	var written []string
	for _, name := range sortedRecordNames(snap) {
		rec := *snap.Records[name]
		if c, ok := m.cfg.Connections[name]; ok && c.App != nil && lineage != snap.Lineage &&
			rec.ClientSecretHash != "" && rec.ClientSecretHash == state.HashSecret(snap.Lineage, c.App.ClientSecret) {
			rec.ClientSecretHash = state.HashSecret(lineage, c.App.ClientSecret)
		}
		if err := dst.Put(ctx, &rec); err != nil {
			for _, w := range written {
				_ = dst.Delete(context.WithoutCancel(ctx), w)
			}
			return stateErrDiags(fmt.Sprintf("Failed to copy connection %q (the copies made were removed; the source is unchanged)", name), err)
		}
		written = append(written, name)
	}
	return nil
}

// compareCopy returns what differs between the source snapshot and the
// copy read back, "" when they match.
func compareCopy(src, got *state.Snapshot, lineage string, encrypted bool) string {
	if got.Lineage != lineage {
		return fmt.Sprintf("its lineage is %s, not %s", got.Lineage, lineage)
	}
	if len(got.Records) != len(src.Records) {
		return fmt.Sprintf("it holds %d connection(s), the source %d", len(got.Records), len(src.Records))
	}
	if got.Encrypted != encrypted {
		return fmt.Sprintf("it is encrypted at rest: %v, want %v", got.Encrypted, encrypted)
	}
	for name, a := range src.Records {
		b, ok := got.Records[name]
		switch {
		case !ok:
			return fmt.Sprintf("connection %q is missing", name)
		case b.Sealed:
			return fmt.Sprintf("connection %q cannot be opened with the passphrase", name)
		case !a.Access.Equal(b.Access) || !a.Refresh.Equal(b.Refresh):
			return fmt.Sprintf("the tokens of connection %q differ", name)
		case !a.Expiry.Equal(b.Expiry) || a.ExpiryAssumed != b.ExpiryAssumed || a.Status != b.Status || a.Provider != b.Provider || a.ClientID != b.ClientID ||
			a.RedirectURI != b.RedirectURI || !slices.Equal(a.Scopes, b.Scopes) || a.RefreshBefore != b.RefreshBefore:
			return fmt.Sprintf("connection %q differs", name)
		}
	}
	return ""
}

func sortedRecordNames(snap *state.Snapshot) []string {
	names := make([]string, 0, len(snap.Records))
	for n := range snap.Records {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// report prints what was done and what to change in the configuration.
func (m *migration) report(res *migrateResult, connEnv string) {
	out := m.g.streams.Out
	enc := "not encrypted at rest"
	if res.encrypted {
		enc = "encrypted at rest with the configured passphrase"
	}
	fmt.Fprintf(out, "Migrated the state from %s to %s.\n", res.from, res.to)
	fmt.Fprintf(out, "- Copied %d connection(s) with their tokens, %s.\n", res.records, enc)
	if res.lineageReplaced {
		fmt.Fprintf(out, "- Verified by reading the copy back: %d connection(s), tokens identical. The lineage is now %s (it was %s): "+
			"this backend cannot take a state's lineage, so saved plans made before the move are refused.\n", res.records, res.lineage, res.srcLineage)
	} else {
		fmt.Fprintf(out, "- Verified by reading the copy back: %d connection(s), tokens identical, lineage %s (serial %d).\n", res.records, res.lineage, res.serial)
	}
	if res.keptAs != "" {
		fmt.Fprintf(out, "- The local state was renamed to %s: nothing reads it any more. It holds tokens; delete it once the new state works.\n", res.keptAs)
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
		if isPG(m.cfg) && connEnv == "" {
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
	if isPG(m.cfg) {
		fmt.Fprintln(out, "Now remove the backend \"pg\" block from the configuration's oauthform block, so that every command uses the local file.")
	} else {
		fmt.Fprintln(out, "The configuration has no backend \"pg\" block: it uses the local file already.")
	}
	if p := m.dst.path; filepath.Clean(p) != filepath.Clean(statePath(m.cfg)) {
		fmt.Fprintf(out, "Set state_path = %q in the oauthform block: the configuration looks for the state at %s.\n", filepath.ToSlash(p), statePath(m.cfg))
	}
}
