package pg

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oauthform/oauthform/internal/state"
)

// Locks of the PostgreSQL store.
//
// Both locks are session-level advisory locks, taken with
// pg_try_advisory_lock on the store's lock session (a connection used for
// nothing but the locks and the store's writes) and polled with a backoff while
// someone else holds them. PostgreSQL releases them when the session ends,
// whatever ends it: Unlock, Close, a crash of the client, a lost network,
// pg_terminate_backend. Advisory locks are per database, and the keys are
// derived from the schema, so the states of two schemas never contend:
//
//	operation lock   pg_try_advisory_lock(int4, int4): pgOpClass and a
//	                 32-bit hash of the schema
//	connection lock  pg_try_advisory_lock(int8): a 64-bit hash of the
//	                 schema and the connection name (the one-key and
//	                 two-key forms are distinct lock spaces)
//
// The holder writes its LockInfo into the locks table, next to the
// PostgreSQL backend pid of its session; a contender that gives up reads it
// back, and believes it only while that backend still holds the lock (a
// crashed holder's row stays behind until the next holder replaces it).
const (
	pgOpRow       = "operation"
	pgConnRowPref = "connection:"
)

// pgOpClass is the first key of every operation lock: "oaut".
const pgOpClass int32 = 0x6f617574

// pgKey is an advisory lock key, in one of PostgreSQL's two forms.
type pgKey struct {
	pair   bool
	k1, k2 int32 // pair
	k      int64 // !pair
}

func pgHash(parts ...string) [32]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

func pgOpKey(schema string) pgKey {
	h := pgHash("oauthform/pg/operation-lock/v1", schema)
	return pgKey{pair: true, k1: pgOpClass, k2: int32(binary.BigEndian.Uint32(h[:4]))}
}

func pgConnKey(schema, conn string) pgKey {
	h := pgHash("oauthform/pg/connection-lock/v1", schema, conn)
	return pgKey{k: int64(binary.BigEndian.Uint64(h[:8]))}
}

// pgCreateKey is the transaction-level advisory lock that serialises the
// creation of a state.
func pgCreateKey(schema string) int64 {
	h := pgHash("oauthform/pg/create/v1", schema)
	return int64(binary.BigEndian.Uint64(h[:8]))
}

func (k pgKey) try() (string, []any) {
	if k.pair {
		return `SELECT pg_try_advisory_lock($1::int4, $2::int4)`, []any{k.k1, k.k2}
	}
	return `SELECT pg_try_advisory_lock($1::int8)`, []any{k.k}
}

func (k pgKey) unlock() (string, []any) {
	if k.pair {
		return `SELECT pg_advisory_unlock($1::int4, $2::int4)`, []any{k.k1, k.k2}
	}
	return `SELECT pg_advisory_unlock($1::int8)`, []any{k.k}
}

// locksRow returns the key as pg_locks shows it: classid, objid, objsubid.
func (k pgKey) locksRow() (uint32, uint32, int16) {
	if k.pair {
		return uint32(k.k1), uint32(k.k2), 2
	}
	return uint32(uint64(k.k) >> 32), uint32(k.k), 1
}

// pgHeld is a lock this store holds, or is taking.
type pgHeld struct {
	key  pgKey
	row  string          // its row in the locks table
	info *state.LockInfo // what this store wrote there
	sess *pgx.Conn       // the session it is held on; nil while being taken
}

// heldLocked returns the locks this store holds. s.mu is held.
func (s *Store) heldLocked() []*pgHeld {
	var out []*pgHeld
	if s.op != nil {
		out = append(out, s.op)
	}
	for _, h := range s.connLocks {
		if h.sess != nil {
			out = append(out, h)
		}
	}
	return out
}

// errLockLost: the lock session ended while the store held locks on it.
var errLockLost = fmt.Errorf("%w: the database connection that held it was lost, and PostgreSQL released the lock with it", state.ErrNotLocked)

// withSession runs fn on the lock session, connecting one when there is
// none or it has ended. fn's context is not cancelled with ctx (see
// pgSessionTimeout). s.smu is held while fn runs.
func (s *Store) withSession(ctx context.Context, fn func(ctx context.Context, c *pgx.Conn) error) error {
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.base.Closed.Load() {
		return state.ErrClosed
	}
	if s.sess == nil || s.sess.IsClosed() {
		c, err := pgx.ConnectConfig(ctx, s.sessCfg)
		if err != nil {
			return err
		}
		s.sess = c
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgSessionTimeout)
	defer cancel()
	return fn(qctx, s.sess)
}

// tryLock takes h's advisory lock on the lock session without waiting and
// writes h.info into the locks table. It reports whether it got the lock.
// Connection locks asked for at once are taken together (tryLockConns).
func (s *Store) tryLock(ctx context.Context, h *pgHeld) (bool, error) {
	if !h.key.pair {
		r := &lockReq{ctx: ctx, h: h}
		s.locks.Do(r, s.tryLockConns)
		return r.got, r.err
	}
	got := false
	err := s.withSession(ctx, func(ctx context.Context, c *pgx.Conn) error {
		sql, args := h.key.try()
		if err := c.QueryRow(ctx, sql, args...).Scan(&got); err != nil || !got {
			return err
		}
		b, err := json.Marshal(h.info)
		if err == nil {
			_, err = c.Exec(ctx, `INSERT INTO `+s.t.locks+` (name, info, backend_pid) VALUES ($1, $2::jsonb, pg_backend_pid())
				ON CONFLICT (name) DO UPDATE SET info = excluded.info, backend_pid = excluded.backend_pid`, h.row, string(b))
		}
		if err != nil && !isMissing(err) { // no locks table: a state not created yet
			sql, args := h.key.unlock()
			_, _ = c.Exec(ctx, sql, args...)
			got = false
			return fmt.Errorf("recording the lock holder: %w", err)
		}
		s.mu.Lock()
		h.sess = c
		s.mu.Unlock()
		return nil
	})
	return got, err
}

// lockReq is one connection lock to take (tryLockConns) or release
// (unlockConns), and its result.
type lockReq struct {
	ctx  context.Context
	h    *pgHeld
	conn string // unlockConns: the connection
	// release: the reservation to drop once released (unlockConns)
	unreserve func()
	got       bool
	err       error
}

// asyncCommit is a FROM item that makes the statement's transaction
// commit without waiting for its WAL to be flushed. The statements of
// the locks use it: the rows of the locks table are only information
// for contenders, and a server crash that loses one also releases every
// advisory lock, which is what they describe. A later synchronous
// commit (any write) flushes them anyway.
const asyncCommit = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`

// tryLockConns takes the connection locks of batch in one statement on
// the lock session, each as tryLock would, and records the holders of
// those it got.
func (s *Store) tryLockConns(batch []*lockReq) {
	ctx := batch[0].ctx // to connect with: one that has not ended, if any
	for _, r := range batch {
		if r.ctx.Err() == nil {
			ctx = r.ctx
			break
		}
	}
	var keys []int64
	var rows, infos []string
	var in []*lockReq
	for _, r := range batch {
		b, err := json.Marshal(r.h.info)
		if err != nil {
			r.err = fmt.Errorf("recording the lock holder: %w", err)
			continue
		}
		keys, rows, infos = append(keys, r.h.key.k), append(rows, r.h.row), append(infos, string(b))
		in = append(in, r)
	}
	if len(in) == 0 {
		return
	}
	batch = in
	err := s.withSession(ctx, func(ctx context.Context, c *pgx.Conn) error {
		got, err := queryBools(ctx, c, `WITH r AS (SELECT * FROM unnest($1::int8[], $2::text[], $3::text[]) WITH ORDINALITY AS r(k, name, info, i)),
			g AS MATERIALIZED (SELECT i, name, info, pg_try_advisory_lock(k) AS got FROM r),
			w AS (INSERT INTO `+s.t.locks+` (name, info, backend_pid) SELECT name, info::jsonb, pg_backend_pid() FROM g WHERE got
				ON CONFLICT (name) DO UPDATE SET info = excluded.info, backend_pid = excluded.backend_pid)
			SELECT g.got FROM g, `+asyncCommit+` ORDER BY g.i`, keys, rows, infos)
		if isMissing(err) {
			// No locks table: a state not created yet. The statement
			// failed before it ran; the locks are taken without rows.
			got, err = queryBools(ctx, c, `SELECT pg_try_advisory_lock(k) FROM unnest($1::int8[]) WITH ORDINALITY AS r(k, i) ORDER BY i`, keys)
		}
		if err != nil {
			// Whatever the statement took before it failed is given
			// back (none of these keys was held by this session).
			_, _ = c.Exec(ctx, `SELECT pg_advisory_unlock(k) FROM unnest($1::int8[]) AS k`, keys)
			return fmt.Errorf("taking the lock: %w", err)
		}
		s.mu.Lock()
		for i, r := range batch {
			r.got = got[i]
			if r.got {
				r.h.sess = c
			}
		}
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		for _, r := range batch {
			r.got, r.err = false, err
		}
	}
}

// queryBools runs sql on c and returns the one boolean column of its rows.
func queryBools(ctx context.Context, c *pgx.Conn, sql string, args ...any) ([]bool, error) {
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[bool])
}

// unlockConns releases the connection locks of batch that this store
// still holds on its current session, in one statement, each as
// unlockRemote would, and drops their reservations.
func (s *Store) unlockConns(batch []*lockReq) {
	s.smu.Lock()
	defer s.smu.Unlock()
	var mine []*lockReq
	var keys []int64
	var rows, ids []string
	s.mu.Lock()
	for _, r := range batch {
		if s.connLocks[r.conn] != r.h {
			continue // released by Close
		}
		mine = append(mine, r)
		h := r.h
		if h.sess == nil || h.sess != s.sess || s.sess.IsClosed() {
			continue // a lock whose session has ended is already released
		}
		keys, rows, ids = append(keys, h.key.k), append(rows, h.row), append(ids, h.info.ID)
	}
	s.mu.Unlock()
	var err error
	if len(keys) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), pgSessionTimeout)
		// Unlocked and deleted in one statement: the row is only
		// information, and it is deleted by id, so a next holder's row
		// is never removed.
		_, err = s.sess.Exec(ctx, `WITH u AS MATERIALIZED (SELECT pg_advisory_unlock(k) AS ok FROM unnest($1::int8[]) AS k),
			d AS (DELETE FROM `+s.t.locks+` l USING unnest($2::text[], $3::text[]) AS h(name, id) WHERE l.name = h.name AND l.info->>'id' = h.id)
			SELECT count(*) FROM u, `+asyncCommit, keys, rows, ids)
		if isMissing(err) {
			// No locks table: nothing ran; no rows to delete.
			_, err = s.sess.Exec(ctx, `SELECT pg_advisory_unlock(k) FROM unnest($1::int8[]) AS k`, keys)
		}
		cancel()
	}
	for _, r := range mine {
		r.unreserve()
		if err != nil {
			r.err = fmt.Errorf("unlocking connection %q in %s: %w", r.conn, s.display, err)
		}
	}
}

// unlockRemote releases h's advisory lock and removes its row. s.smu is
// held. A lock whose session has ended is already released.
func (s *Store) unlockRemote(h *pgHeld) error {
	if h.sess == nil || h.sess != s.sess || s.sess.IsClosed() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgSessionTimeout)
	defer cancel()
	// Unlock first: the row is only information, and it is deleted by
	// id, so a next holder's row is never removed.
	sql, args := h.key.unlock()
	var ok bool
	if err := s.sess.QueryRow(ctx, sql, args...).Scan(&ok); err != nil {
		return err
	}
	_, err := s.sess.Exec(ctx, `DELETE FROM `+s.t.locks+` WHERE name = $1 AND info->>'id' = $2`, h.row, h.info.ID)
	if err != nil && !isMissing(err) {
		return err
	}
	return nil
}

// readHolder returns the LockInfo of the current holder of key, or nil
// when it cannot be read. It retries briefly, since a new holder writes
// its row right after taking the lock.
func (s *Store) readHolder(ctx context.Context, key pgKey, row string) *state.LockInfo {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	classid, objid, subid := key.locksRow()
	for i := 0; ; i++ {
		var raw []byte
		err := s.pool.QueryRow(ctx, `SELECT l.info::text FROM `+s.t.locks+` l WHERE l.name = $1 AND EXISTS (
				SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.pid = l.backend_pid
				AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
				AND k.classid = $2 AND k.objid = $3 AND k.objsubid = $4)`,
			row, classid, objid, subid).Scan(&raw)
		if err == nil {
			var info state.LockInfo
			if json.Unmarshal(raw, &info) == nil {
				return &info
			}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) || i == 5 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// acquire takes h's lock, polling with a backoff up to maxPoll for up to
// timeout (or until ctx ends; state.WaitLock). reserve, when set, is
// called before each attempt and says whether the lock is free within
// this store (advisory locks are reentrant within a session, so the store
// keeps its own holders apart); when it is not, it returns a channel
// closed when this store releases a lock, so that the wait ends at once.
// unreserve undoes a reservation after a failed attempt. It fails with a
// *state.LockError naming the holder.
func (s *Store) acquire(ctx context.Context, h *pgHeld, timeout, maxPoll time.Duration,
	reserve func() (ok bool, freed <-chan struct{}), unreserve func(),
) error {
	holder := func() *state.LockInfo { return s.readHolder(ctx, h.key, h.row) }
	return state.WaitLock(ctx, timeout, maxPoll, func() (bool, <-chan struct{}, error) {
		if s.base.Closed.Load() {
			return false, nil, state.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return false, nil, &state.LockError{Info: holder(), Err: errors.Join(state.ErrLocked, err)}
		}
		if reserve != nil {
			if ok, freed := reserve(); !ok {
				return false, freed, nil
			}
		}
		got, err := s.tryLock(ctx, h)
		if !got && unreserve != nil {
			unreserve()
		}
		return got, nil, err
	}, holder)
}

// Lock implements state.Store. The lock is a session advisory lock held until
// Unlock or Close, or until the session ends (PostgreSQL releases it, so
// a crashed client leaves no stale lock). Locking a state that does not
// exist creates it with Options.Create, and fails with ErrNoState without.
func (s *Store) Lock(ctx context.Context, operation string) (*state.LockInfo, error) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	fail := func(err error) (*state.LockInfo, error) {
		return nil, fmt.Errorf("locking state %s: %w", s.display, err)
	}
	s.mu.Lock()
	held, timeout := s.op, s.opts.LockTimeout
	s.mu.Unlock()
	switch {
	case s.base.Closed.Load():
		return fail(state.ErrClosed)
	case held != nil:
		return fail(fmt.Errorf("this store already holds the lock (for %q)", held.info.Operation))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if _, err := s.readMeta(ctx, s.pool); errors.Is(err, state.ErrMissing) {
		if !s.opts.Create {
			return fail(state.ErrNoState)
		}
		if _, err := s.ensure(ctx); err != nil {
			return nil, err
		}
	} else if err != nil && !errors.Is(err, state.ErrCorrupt) && !errors.Is(err, state.ErrNewerFormat) {
		// A state oauthform refuses is still locked: `state rm` and
		// repairs go through the lock, and writes refuse it anyway.
		return fail(err)
	}
	h := &pgHeld{key: pgOpKey(s.schema), row: pgOpRow, info: s.newLockInfo(operation)}
	if err := s.acquire(ctx, h, timeout, state.LockPollMax, nil, nil); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	s.op, s.backedUp = h, false
	s.mu.Unlock()
	c := *h.info
	return &c, nil
}

// Unlock implements state.Store. Unlocking a store that does not hold the lock
// gives ErrNotLocked. What this store deleted and did not purge is purged
// first; when that fails the lock is still released, and the error (a
// *PurgeError) returned and told to Options.Notify.
func (s *Store) Unlock(ctx context.Context) error {
	perr := s.purgeBeforeRelease(ctx)
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	s.smu.Lock()
	defer s.smu.Unlock()
	s.mu.Lock()
	h := s.op
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("unlocking state %s: %w", s.display, state.ErrNotLocked)
	}
	err := s.unlockRemote(h)
	s.mu.Lock()
	s.op, s.backedUp = nil, false
	s.mu.Unlock()
	if err != nil {
		return errors.Join(perr, fmt.Errorf("unlocking state %s: %w", s.display, err))
	}
	return perr
}

// LockConn implements state.Store.
func (s *Store) LockConn(ctx context.Context, conn string, wait time.Duration) (func() error, error) {
	if conn == "" || strings.ContainsAny(conn, "/\\\x00") || conn == "." || conn == ".." {
		return nil, fmt.Errorf("locking connection %q: not a connection name", conn)
	}
	if s.base.Closed.Load() {
		return nil, fmt.Errorf("locking connection %q in %s: %w", conn, s.display, state.ErrClosed)
	}
	h := &pgHeld{key: pgConnKey(s.schema, conn), row: pgConnRowPref + conn, info: s.newLockInfo("refresh " + conn)}
	reserve := func() (bool, <-chan struct{}) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.connLocks[conn] != nil {
			// Held, or being taken, by another caller in this process.
			if s.connFreed == nil {
				s.connFreed = make(chan struct{})
			}
			return false, s.connFreed
		}
		if s.connLocks == nil {
			s.connLocks = map[string]*pgHeld{}
		}
		s.connLocks[conn] = h
		return true, nil
	}
	unreserve := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.connLocks[conn] == h {
			delete(s.connLocks, conn)
			if s.connFreed != nil {
				close(s.connFreed) // wake this store's waiters
				s.connFreed = nil
			}
		}
	}
	if err := s.acquire(ctx, h, wait, state.ConnPollMax, reserve, unreserve); err != nil {
		var le *state.LockError
		if errors.As(err, &le) {
			le.Conn = conn
		}
		return nil, fmt.Errorf("locking connection %q in %s: %w", conn, s.display, err)
	}
	return state.ReleaseOnce(func() error {
		// Released with the others released at the same time
		// (unlockConns).
		r := &lockReq{ctx: ctx, h: h, conn: conn, unreserve: unreserve}
		s.unlocks.Do(r, s.unlockConns)
		return r.err
	}), nil
}

// holdsFor reports whether this store holds the operation lock or the lock
// of conn, on its current, live session; lost says it held one on a
// session that has ended. s.smu is held.
func (s *Store) holdsFor(conn string) (ok, lost bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cands := []*pgHeld{s.op}
	if conn != "" {
		cands = append(cands, s.connLocks[conn])
	}
	for _, h := range cands {
		if h == nil || h.sess == nil {
			continue
		}
		if h.sess == s.sess && !h.sess.IsClosed() {
			return true, false
		}
		lost = true
	}
	return false, lost
}

// holdsOpLock reports whether this store holds the operation lock.
func (s *Store) holdsOpLock() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.op != nil
}

// holdsConnLock reports whether this store holds conn's lock.
func (s *Store) holdsConnLock(conn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.connLocks[conn]
	return h != nil && h.sess != nil
}

func (s *Store) newLockInfo(operation string) *state.LockInfo {
	s.mu.Lock()
	now, version := s.opts.Now, s.opts.Version
	s.mu.Unlock()
	return state.NewLockInfo(operation, s.display, version, now())
}
