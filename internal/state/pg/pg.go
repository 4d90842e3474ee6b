package pg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// PostgreSQL layout: one schema per state (Open's schema), holding
//
//	meta                (key text primary key, value text not null)
//	                    the state's meta entries (state.MetaFormat,
//	                    state.MetaLineage, ...; see state.Meta)
//	connections         (name text primary key, data bytea not null)
//	                    one row per connection: the record's encoding
//	                    (state.Sealer.Encode), the same bytes as in any
//	                    backend, so records move between backends
//	                    unchanged and are sealed the same way (bound to the
//	                    lineage and the name)
//	backup_meta         the same columns as meta and connections: the
//	backup_connections  backup, replaced as a whole by Backup and before
//	                    the first write after Lock
//	locks               (name text primary key, info jsonb not null,
//	                    backend_pid int not null): who holds the operation
//	                    lock ("operation") and each connection lock
//	                    ("connection:<name>"), for contenders to name
//
// The locks themselves are PostgreSQL session advisory locks (lock.go).
const (
	pgMeta        = "meta"
	pgConns       = "connections"
	pgBackupMeta  = "backup_meta"
	pgBackupConns = "backup_connections"
	pgLocks       = "locks"

	// DefaultSchema is the schema Open uses when given none.
	DefaultSchema = "oauthform"
)

// pgSessionTimeout bounds one statement on the lock session. The session's
// statements are not cancelled with the caller's context: pgx closes a
// connection whose query is cancelled, and closing the lock session would
// drop every lock the store holds.
const pgSessionTimeout = time.Minute

// Store is the PostgreSQL implementation of state.Store (the "pg" backend), for
// a state shared by a team: several machines read and write one state in
// one schema of one database.
//
// Reads go through a small connection pool and never wait for locks. The
// locks (Lock, LockConn) are session advisory locks held on one dedicated
// connection of the store, the lock session, which PostgreSQL releases when
// that session ends, so a crashed or killed client never leaves a stale
// lock. Writes run on the lock session too: a write whose lock has been
// lost with its session (a network failure, pg_terminate_backend) fails
// instead of writing unlocked. Each Delete is one transaction that
// increments the serial; concurrent Puts are group-committed (several in
// one transaction, each returning once it is committed, the serial
// counting every one), and connection locks taken or released at once
// share a statement (batch.go).
//
// A Store is safe for concurrent use.
type Store struct {
	display string // Path: a URL without credentials
	schema  string
	t       pgTables // quoted table names
	pool    *pgxpool.Pool
	sessCfg *pgx.ConnConfig

	// lockMu serialises Lock and Unlock.
	lockMu sync.Mutex
	// smu guards sess and serialises its use (one statement or
	// transaction at a time); it is taken before mu, never after.
	smu  sync.Mutex
	sess *pgx.Conn // the lock session; nil until a lock is taken

	mu        sync.Mutex
	opts      state.Options
	op        *pgHeld            // the operation lock; nil when not held
	connLocks map[string]*pgHeld // connection locks, held or being taken
	// connFreed is closed (and cleared) when an entry of connLocks goes;
	// callers waiting for a connection lock this store holds wait on it.
	connFreed chan struct{}
	backedUp  bool // a backup was taken since Lock

	// puts group-commits Put (writePuts); locks and unlocks take and
	// release the connection locks asked for at once together
	// (tryLockConns, unlockConns).
	puts    state.Batcher[*pendingPut]
	locks   state.Batcher[*lockReq]
	unlocks state.Batcher[*lockReq]

	closeOnce sync.Once
	// base: the passphrase, what was deleted and is not purged yet, and
	// whether the store is closed.
	base state.Base
}

var _ state.Backend = (*Store)(nil)

// pgTables are the quoted, schema-qualified names of the state's tables.
type pgTables struct {
	schema, meta, conns, backupMeta, backupConns, locks string
}

func newPGTables(schema string) pgTables {
	q := func(table string) string { return pgx.Identifier{schema, table}.Sanitize() }
	return pgTables{
		schema: pgx.Identifier{schema}.Sanitize(),
		meta:   q(pgMeta), conns: q(pgConns),
		backupMeta: q(pgBackupMeta), backupConns: q(pgBackupConns),
		locks: q(pgLocks),
	}
}

// Open returns the PostgreSQL store of the state in schema (empty:
// DefaultSchema) of the database connStr names (a libpq connection
// string or URL, as pgx reads it; it holds the password, so it is a
// secret). With opts.Create it creates the schema
// and its tables, with a new lineage and serial 0, when the state does not
// exist; an existing state is never rewritten by Open. A missing state
// without opts.Create reads as empty and refuses writes with ErrNoState.
//
// Connections are opened lazily, except that opts.Create connects at once.
func Open(ctx context.Context, connStr secret.Secret, schema string, opts state.Options) (*Store, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	switch {
	case len(schema) > 63:
		// PostgreSQL would silently truncate it, and two long names
		// could then share one state.
		return nil, fmt.Errorf("opening state: schema name %q is longer than PostgreSQL's 63 bytes", schema)
	case strings.ContainsRune(schema, 0):
		return nil, errors.New("opening state: schema name holds a NUL byte")
	}
	pcfg, err := pgxpool.ParseConfig(connStr.Reveal())
	if err != nil {
		// pgx's message may quote the connection string, password
		// included: do not repeat it.
		return nil, errors.New("opening state: invalid PostgreSQL connection string (conn_str)")
	}
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "oauthform"
	}
	pcfg.MaxConnIdleTime = time.Minute
	// The lock session: the pool's settings (pool_* parameters removed).
	scfg := pcfg.ConnConfig.Copy()
	opts = opts.WithDefaults()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("opening state: %w", err)
	}
	s := &Store{
		display: pgDisplay(scfg, schema),
		schema:  schema,
		t:       newPGTables(schema),
		pool:    pool,
		sessCfg: scfg,
		opts:    opts,
	}
	s.base.Init(s.display, opts)
	s.opts.Passphrase = secret.Secret{} // s.base.Pass is the one copy that changes
	if opts.Create {
		if _, err := s.ensure(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// pgDisplay names the state without credentials:
// postgres://host:port/database?schema=name.
func pgDisplay(cfg *pgx.ConnConfig, schema string) string {
	u := url.URL{Scheme: "postgres", Path: "/" + cfg.Database}
	q := url.Values{}
	if strings.HasPrefix(cfg.Host, "/") {
		q.Set("host", cfg.Host) // a unix socket directory
	} else {
		u.Host = cfg.Host
		if cfg.Port != 0 && cfg.Port != 5432 {
			u.Host += ":" + strconv.Itoa(int(cfg.Port))
		}
	}
	q.Set("schema", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Path implements state.Store: the database and schema as a URL without
// credentials.
func (s *Store) Path() string { return s.display }

// Schema returns the state's schema.
func (s *Store) Schema() string { return s.schema }

// SetLockTimeout changes Options.LockTimeout for later calls to Lock.
func (s *Store) SetLockTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.LockTimeout = d
}

// pgQuerier is what the read helpers run on: the pool, a connection or a
// transaction.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// isMissing reports whether err says a table or the schema does not exist.
func isMissing(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") // undefined_table, invalid_schema_name
}

// notOurs turns an error saying the state's tables do not have the
// columns oauthform made (the schema holds someone else's tables of those
// names) into ErrCorrupt.
func notOurs(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42703" || pe.Code == "42804") { // undefined_column, datatype_mismatch
		return fmt.Errorf("%w: its tables are not an oauthform state's (%s)", state.ErrCorrupt, pe.Message)
	}
	return err
}

// pgRaw is a state read in one statement: its meta entries and its records'
// stored bytes.
type pgRaw struct {
	meta  map[string]string
	conns []state.Stored
}

// readRaw reads meta and the records (all of them, or the one named by
// only) of the tables metaT and connsT in one statement, so that the result
// is consistent without a transaction. A state that does not exist gives
// state.ErrMissing.
func (s *Store) readRaw(ctx context.Context, q pgQuerier, metaT, connsT string, only *string) (*pgRaw, error) {
	sql := `SELECT false, key, value, NULL::bytea FROM ` + metaT +
		` UNION ALL SELECT true, name, NULL, data FROM ` + connsT
	var args []any
	if only != nil {
		sql += ` WHERE name = $1`
		args = append(args, *only)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.missingOrCorrupt(ctx, q, metaT, connsT, err)
	}
	raw := &pgRaw{meta: map[string]string{}}
	for rows.Next() {
		var isConn bool
		var key string
		var value *string
		var data []byte
		if err := rows.Scan(&isConn, &key, &value, &data); err != nil {
			rows.Close()
			return nil, err
		}
		if isConn {
			raw.conns = append(raw.conns, state.Stored{Conn: key, Data: data})
		} else if value != nil {
			raw.meta[key] = *value
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.missingOrCorrupt(ctx, q, metaT, connsT, err)
	}
	return raw, nil
}

// missingOrCorrupt turns a failed read of metaT and connsT into
// state.ErrMissing (no meta table: no state) or ErrCorrupt (meta without
// connections).
func (s *Store) missingOrCorrupt(ctx context.Context, q pgQuerier, metaT, connsT string, err error) error {
	if !isMissing(err) {
		return notOurs(err)
	}
	var hasMeta, hasConns bool
	if qerr := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`, metaT, connsT).Scan(&hasMeta, &hasConns); qerr != nil {
		return err
	}
	switch {
	case !hasMeta:
		return state.ErrMissing
	case !hasConns:
		return fmt.Errorf("%w: the schema has a %s table but no %s table", state.ErrCorrupt, pgMeta, pgConns)
	}
	return err
}

// parseMeta validates and decodes the meta entries.
func parseMeta(kv map[string]string) (*state.Meta, error) {
	if len(kv) == 0 {
		return nil, fmt.Errorf("%w: the %s table is empty", state.ErrCorrupt, pgMeta)
	}
	return state.ParseMeta(func(key string) (string, bool) {
		v, ok := kv[key]
		return v, ok
	})
}

// readMeta reads and validates the state's meta (state.ErrMissing: no state).
func (s *Store) readMeta(ctx context.Context, q pgQuerier) (*state.Meta, error) {
	rows, err := q.Query(ctx, `SELECT key, value FROM `+s.t.meta)
	if err != nil {
		if isMissing(err) {
			return nil, state.ErrMissing
		}
		return nil, notOurs(err)
	}
	kv := map[string]string{}
	var k, v string
	if _, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error { kv[k] = v; return nil }); err != nil {
		if isMissing(err) {
			return nil, state.ErrMissing
		}
		return nil, notOurs(err)
	}
	return parseMeta(kv)
}

// pgExplain prefixes err with what was being done to which state, and
// adds advice for a state oauthform refuses to use.
func (s *Store) pgExplain(what string, err error) error {
	return state.Explain(what, s.display, err, fmt.Sprintf("oauthform did not modify it (the tables %s and %s hold the last backup)",
		pgBackupMeta, pgBackupConns))
}

// snapshotFrom decodes a read state into a Snapshot.
func (s *Store) snapshotFrom(raw *pgRaw) (*state.Snapshot, error) {
	m, err := parseMeta(raw.meta)
	if err != nil {
		return nil, err
	}
	sl, err := state.OpenSealer(s.base.Pass.For(m), m)
	if err != nil {
		return nil, err
	}
	snap := &state.Snapshot{Lineage: m.Lineage, Serial: m.Serial, Encrypted: m.Enc != nil}
	snap.UnderFallback = s.base.Pass.UnderFallback(m)
	snap.Enforced = m.Enc != nil && m.Enc.Enforced
	if snap.Records, err = state.DecodeAllStored(raw.conns, m.Enc != nil, sl); err != nil {
		return nil, err
	}
	return snap, nil
}

// Snapshot implements state.Store.
func (s *Store) Snapshot(ctx context.Context) (*state.Snapshot, error) {
	const what = "reading state"
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	raw, err := s.readRaw(ctx, s.pool, s.t.meta, s.t.conns, nil)
	if errors.Is(err, state.ErrMissing) {
		return &state.Snapshot{Records: map[string]*state.Record{}}, nil
	}
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	snap, err := s.snapshotFrom(raw)
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	return snap, nil
}

// ReadBackup reads the backup written by Backup (or before the first write
// after Lock) as a Snapshot. A missing backup wraps fs.ErrNotExist.
func (s *Store) ReadBackup(ctx context.Context) (*state.Snapshot, error) {
	const what = "reading state backup"
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	raw, err := s.readRaw(ctx, s.pool, s.t.backupMeta, s.t.backupConns, nil)
	if errors.Is(err, state.ErrMissing) || (err == nil && len(raw.meta) == 0) {
		return nil, fmt.Errorf("%s %s: there is no backup: %w", what, s.display, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, s.display, err)
	}
	snap, err := s.snapshotFrom(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, s.display, err)
	}
	return snap, nil
}

// Get implements state.Store.
func (s *Store) Get(ctx context.Context, conn string) (*state.Record, error) {
	what := fmt.Sprintf("reading %q from state", conn)
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	raw, err := s.readRaw(ctx, s.pool, s.t.meta, s.t.conns, &conn)
	if errors.Is(err, state.ErrMissing) {
		return nil, fmt.Errorf("%s %s: %w", what, s.display, state.ErrNotFound)
	}
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	m, err := parseMeta(raw.meta)
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	if len(raw.conns) == 0 {
		return nil, fmt.Errorf("%s %s: %w", what, s.display, state.ErrNotFound)
	}
	// Get is for using a record's tokens: without the passphrase an
	// encrypted record is refused rather than returned without them.
	sl, err := state.ReadSealer(s.base.Pass.For(m), m)
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	r, err := state.DecodeStored(conn, raw.conns[0].Data, m.Enc != nil, sl)
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	return r, nil
}

// Init implements state.Store. It creates the state when it is missing,
// whatever Options.Create says, and needs no lock: creators are serialised by a
// transaction-level advisory lock, so concurrent Inits agree on one lineage. An
// existing state is only read.
func (s *Store) Init(ctx context.Context) (string, error) {
	const what = "initializing state"
	if err := s.base.Readable(ctx, what); err != nil {
		return "", err
	}
	if _, err := s.ensure(ctx); err != nil {
		return "", err
	}
	// Read meta and look up a name no record has: this validates the
	// layout without reading the records.
	none := ""
	raw, err := s.readRaw(ctx, s.pool, s.t.meta, s.t.conns, &none)
	if err != nil {
		return "", s.pgExplain(what, err)
	}
	m, err := parseMeta(raw.meta)
	if err != nil {
		return "", s.pgExplain(what, err)
	}
	return m.Lineage, nil
}

// ensure creates the schema and the state's tables when the state does not
// exist (no meta table), and the tables a state lacks besides meta and
// connections (locks, backups). It never touches an existing meta or
// connections table.
func (s *Store) ensure(ctx context.Context) (created bool, err error) {
	const what = "creating state"
	fail := func(err error) (bool, error) { return false, s.pgExplain(what, err) }
	var hasMeta, hasAux bool
	err = s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL,
		to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL AND to_regclass($4) IS NOT NULL`,
		s.t.meta, s.t.locks, s.t.backupMeta, s.t.backupConns).Scan(&hasMeta, &hasAux)
	if err != nil {
		return fail(err)
	}
	if hasMeta && hasAux {
		return false, nil
	}
	// With a passphrase the state is encrypted from the start. The key is
	// derived before the transaction, which holds a lock.
	lineage := state.NewLineage()
	var enc *state.Encryption
	if pass := s.base.Pass.Load(); !pass.IsZero() && !hasMeta {
		if enc, _, err = state.NewEncryption(pass, lineage, s.base.Pass.Enforced()); err != nil {
			return fail(err)
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgCreateKey(s.schema)); err != nil {
		return fail(err)
	}
	var schemaExists, connsExist bool
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
		to_regclass($2) IS NOT NULL, to_regclass($3) IS NOT NULL`, s.schema, s.t.meta, s.t.conns).Scan(&schemaExists, &hasMeta, &connsExist)
	if err != nil {
		return fail(err)
	}
	if !hasMeta && connsExist {
		return fail(fmt.Errorf("%w: the schema has a %s table but no %s table", state.ErrCorrupt, pgConns, pgMeta))
	}
	var ddl strings.Builder
	if !schemaExists {
		// Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE
		// privilege on the database even when the schema exists.
		ddl.WriteString(`CREATE SCHEMA ` + s.t.schema + `;`)
	}
	if !hasMeta {
		ddl.WriteString(`CREATE TABLE ` + s.t.meta + ` (key text PRIMARY KEY, value text NOT NULL);
			CREATE TABLE ` + s.t.conns + ` (name text PRIMARY KEY, data bytea NOT NULL);`)
	}
	ddl.WriteString(`CREATE TABLE IF NOT EXISTS ` + s.t.backupMeta + ` (key text PRIMARY KEY, value text NOT NULL);
		CREATE TABLE IF NOT EXISTS ` + s.t.backupConns + ` (name text PRIMARY KEY, data bytea NOT NULL);
		CREATE TABLE IF NOT EXISTS ` + s.t.locks + ` (name text PRIMARY KEY, info jsonb NOT NULL, backend_pid integer NOT NULL);`)
	if _, err := tx.Exec(ctx, ddl.String()); err != nil {
		return fail(err)
	}
	if !hasMeta {
		kv, err := state.InitialMeta(lineage, s.opts.Now(), s.opts.Version, enc)
		if err != nil {
			return fail(err)
		}
		for _, e := range kv {
			if _, err := tx.Exec(ctx, `INSERT INTO `+s.t.meta+` (key, value) VALUES ($1, $2)`, e[0], e[1]); err != nil {
				return fail(err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return !hasMeta, nil
}

// Backup implements state.Store: it replaces the backup tables with a copy of
// the state, in one transaction that waits for a write in progress. A
// corrupt state is never copied over a good backup. A missing state gives
// ErrNoState.
func (s *Store) Backup(ctx context.Context) error {
	const what = "backing up state"
	if err := s.base.Readable(ctx, what); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.lockSerial(ctx, tx); err != nil {
			return err
		}
		if _, err := s.readMeta(ctx, tx); err != nil {
			return err
		}
		return s.copyToBackup(ctx, tx)
	})
	if errors.Is(err, state.ErrMissing) {
		return fmt.Errorf("%s %s: %w", what, s.display, state.ErrNoState)
	}
	if err != nil {
		return s.pgExplain(what, err)
	}
	return nil
}

// lockSerial locks the serial entry of meta for the rest of tx. Every
// write updates it, so holding it orders tx after the writes committed
// before and before those that follow: the statements that follow see the
// state as of now, and nobody else changes it until tx ends.
func (s *Store) lockSerial(ctx context.Context, tx pgx.Tx) (string, error) {
	var serial string
	err := tx.QueryRow(ctx, `SELECT value FROM `+s.t.meta+` WHERE key = $1 FOR UPDATE`, state.MetaSerial).Scan(&serial)
	switch {
	case isMissing(err):
		return "", state.ErrMissing
	case errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("%w: missing %s", state.ErrCorrupt, state.MetaSerial)
	}
	return serial, notOurs(err)
}

// copyToBackup replaces the backup tables with the state as tx sees it.
func (s *Store) copyToBackup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `DELETE FROM `+s.t.backupConns+`; DELETE FROM `+s.t.backupMeta+`;
		INSERT INTO `+s.t.backupMeta+` (key, value) SELECT key, value FROM `+s.t.meta+`;
		INSERT INTO `+s.t.backupConns+` (name, data) SELECT name, data FROM `+s.t.conns)
	if isMissing(err) {
		return fmt.Errorf("%w: a table of the state is missing (%v)", state.ErrCorrupt, err)
	}
	return err
}

// Close implements state.Store: it releases the locks this store holds and its
// connections, purging first what it deleted (see Unlock). Closing twice
// is harmless.
func (s *Store) Close() error {
	perr := s.purgeBeforeRelease(context.Background())
	s.closeOnce.Do(func() {
		s.base.Closed.Store(true) // no write or lock starts after this
		s.smu.Lock()              // and the one in progress finishes first
		if s.sess != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.mu.Lock()
			var names, ids []string
			for _, h := range s.heldLocked() {
				names, ids = append(names, h.row), append(ids, h.info.ID)
			}
			s.mu.Unlock()
			if len(names) > 0 && !s.sess.IsClosed() {
				_, _ = s.sess.Exec(ctx, `DELETE FROM `+s.t.locks+` l USING unnest($1::text[], $2::text[]) AS h(name, id)
					WHERE l.name = h.name AND l.info->>'id' = h.id`, names, ids)
				// Unlocked before the session ends, so that the next
				// holder does not wait for the backend to exit.
				_, _ = s.sess.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
			}
			_ = s.sess.Close(ctx)
			cancel()
			s.sess = nil
		}
		s.mu.Lock()
		s.op, s.connLocks, s.backedUp = nil, nil, false
		if s.connFreed != nil {
			close(s.connFreed)
			s.connFreed = nil
		}
		s.mu.Unlock()
		s.smu.Unlock()
		s.pool.Close()
	})
	return perr
}
