package pg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// Writes of the PostgreSQL store. Each runs in one transaction on the lock
// session (see Store) that first locks the serial entry of meta, which orders
// it with every other write and Backup, then reads meta again, and ends by
// incrementing the serial. Encryption at rest is decided by the state package
// (state.PlanWrite) and made in one transaction: turning it on seals every
// record, replaces the backup with the sealed state and then makes the write.
// PostgreSQL keeps old row versions until VACUUM reuses their space, and its
// WAL and any base backups keep them longer: after turning encryption on or
// rekeying, the old form of the secrets may linger there.

// pgTx is one write transaction.
type pgTx struct {
	s       *Store
	ctx     context.Context
	tx      pgx.Tx
	m       *state.Meta // meta as the transaction has made it so far
	version string
	// changed: the state changed since the last step (see step).
	changed bool
	// backedUp: the backup of this lock period has been taken.
	backedUp bool
	// later holds writes queued to be sent together (see flush).
	later pgx.Batch
	// writes is the number of writes since the last step when it is
	// more than one (a batch of puts): the serial counts each.
	writes uint64
}

// step ends one change of the state: it increments the serial and records
// the writer's version. The transaction steps once more at its end when it
// changed the state since.
func (t *pgTx) step() error {
	if err := t.flush(); err != nil {
		return err
	}
	sql, args := t.stepSQL()
	_, err := t.tx.Exec(t.ctx, sql, args...)
	t.changed = false
	return err
}

// stepSQL increments the serial in t.m and returns the statement that
// records it.
func (t *pgTx) stepSQL() (string, []any) {
	t.m.Serial += max(1, t.writes)
	t.writes = 0
	return `INSERT INTO ` + t.s.t.meta + ` (key, value) VALUES ($1, $2), ($3, $4)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		[]any{state.MetaSerial, strconv.FormatUint(t.m.Serial, 10), state.MetaWrittenBy, t.version}
}

// flush sends the statements queued in t.later, in one round trip.
// Every statement t runs directly flushes first, so they run in order.
func (t *pgTx) flush() error {
	if t.later.Len() == 0 {
		return nil
	}
	b := t.later
	t.later = pgx.Batch{}
	return t.tx.SendBatch(t.ctx, &b).Close()
}

// backup replaces the backup with the state as the transaction has made it.
func (t *pgTx) backup() error {
	if err := t.flush(); err != nil {
		return err
	}
	if err := t.s.copyToBackup(t.ctx, t.tx); err != nil {
		return fmt.Errorf("taking the backup: %w", err)
	}
	t.backedUp = true
	return nil
}

// put writes rec, sealed with sl; on an encrypted state a record cannot
// be written without sl.
func (t *pgTx) put(rec *state.Record, sl *state.Sealer) error {
	data, err := state.EncodeStored(rec, sl, t.m.Enc != nil)
	if err != nil {
		return err
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO `+t.s.t.conns+` (name, data) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET data = excluded.data`, rec.Conn, data)
	t.changed = true
	return err
}

// putMany queues the write of records (names and their stored
// encodings; a name at most once), sent with the transaction's last
// statements (flush). They stand for writes puts (a record may have been
// put twice), and the serial counts each, as it counts every put.
func (t *pgTx) putMany(names []string, datas [][]byte, writes int) {
	t.writes += uint64(writes)
	t.later.Queue(`INSERT INTO `+t.s.t.conns+` (name, data) SELECT * FROM unnest($1::text[], $2::bytea[])
		ON CONFLICT (name) DO UPDATE SET data = excluded.data`, names, datas)
	t.changed = true
}

func (t *pgTx) delete(conn string) error {
	if err := t.flush(); err != nil {
		return err
	}
	tag, err := t.tx.Exec(t.ctx, `DELETE FROM `+t.s.t.conns+` WHERE name = $1`, conn)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return state.ErrNotFound
	}
	t.changed = true
	return nil
}

// setEncryption records e (nil: none) in meta with the matching format.
func (t *pgTx) setEncryption(e *state.Encryption) error {
	if err := t.flush(); err != nil {
		return err
	}
	t.changed = true
	format, b, err := e.MetaValues()
	if err != nil {
		return err
	}
	if e == nil {
		_, err = t.tx.Exec(t.ctx, `DELETE FROM `+t.s.t.meta+` WHERE key = $1`, state.MetaEncryption)
	} else {
		_, err = t.tx.Exec(t.ctx, `INSERT INTO `+t.s.t.meta+` (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, state.MetaEncryption, b)
	}
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `UPDATE `+t.s.t.meta+` SET value = $2 WHERE key = $1`, state.MetaFormat, format)
	t.m.Enc = e
	t.m.Format, _ = strconv.Atoi(format)
	return err
}

// rewriteAll re-encodes every record from the encoding described by from
// (nil: unsealed, or sealed without a key when fromEncrypted) to the one
// of to (nil: unsealed). It returns the number of records rewritten.
func (t *pgTx) rewriteAll(from, to *state.Sealer, fromEncrypted bool) (int, error) {
	if err := t.flush(); err != nil {
		return 0, err
	}
	rows, err := t.tx.Query(t.ctx, `SELECT name, data FROM `+t.s.t.conns+` ORDER BY name`)
	if err != nil {
		return 0, err
	}
	var all []state.StoredRecord
	var r state.StoredRecord
	if _, err := pgx.ForEachRow(rows, []any{&r.Conn, &r.Data}, func() error {
		all = append(all, r)
		return nil
	}); err != nil {
		return 0, err
	}
	t.changed = true
	if len(all) == 0 {
		return 0, nil
	}
	if n, err := state.Reencode(all, from, to, fromEncrypted); err != nil {
		return n, err
	}
	names := make([]string, len(all))
	datas := make([][]byte, len(all))
	for i, e := range all {
		names[i], datas[i] = e.Conn, e.Data
	}
	_, err = t.tx.Exec(t.ctx, `UPDATE `+t.s.t.conns+` AS c SET data = v.data
		FROM unnest($1::text[], $2::bytea[]) AS v(name, data) WHERE c.name = v.name`, names, datas)
	return len(all), err
}

// inTx runs fn in one write transaction on the lock session, which must
// hold the operation lock or the lock of conn. fn sees meta as of the
// transaction (the serial entry locked); the serial is incremented at the
// end if fn changed the state since its last step.
func (s *Store) inTx(ctx context.Context, conn, what string, fn func(t *pgTx) error) error {
	s.smu.Lock()
	defer s.smu.Unlock()
	if err := s.txCheck(ctx, conn, what); err != nil {
		return err
	}
	return s.txExplain(what, s.runTx(ctx, fn))
}

// txCheck says whether a write named what, under the operation lock or
// the lock of conn, may start. s.smu is held.
func (s *Store) txCheck(ctx context.Context, conn, what string) error {
	if s.base.Closed.Load() {
		return fmt.Errorf("%s %s: %w", what, s.display, state.ErrClosed)
	}
	switch ok, lost := s.holdsFor(conn); {
	case conn == batchConn:
		// Each put of the batch is checked in its transaction.
	case lost && !ok:
		return fmt.Errorf("%s %s: %w", what, s.display, errLockLost)
	case !ok:
		return fmt.Errorf("%s %s: %w (take it with Lock or LockConn first)", what, s.display, state.ErrNotLocked)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", what, s.display, err)
	}
	return nil
}

// batchConn is the conn of a batch of puts (writePuts): its transaction
// checks each put's lock itself. It is no connection's name (LockConn
// refuses NUL bytes).
const batchConn = "\x00batch"

// txExplain turns the error of runTx into the error of a write named
// what. s.smu is held.
func (s *Store) txExplain(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case s.sess.IsClosed():
		return fmt.Errorf("%s %s: %w (%v)", what, s.display, errLockLost, err)
	case errors.Is(err, state.ErrMissing):
		return fmt.Errorf("%s %s: %w", what, s.display, state.ErrNoState)
	}
	return s.pgExplain(what, err)
}

// runTx runs fn in one transaction on the lock session (s.smu held,
// txCheck passed). The transaction's start (BEGIN, the row lock on the
// serial, the read of meta) is one round trip, and the writes fn queued
// (pgTx.putMany) and the serial's step are sent together before COMMIT.
// Its error is not explained yet (txExplain).
func (s *Store) runTx(ctx context.Context, fn func(t *pgTx) error) error {
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgSessionTimeout)
	defer cancel()
	s.mu.Lock()
	// Only a command that holds the operation lock takes the backup (see
	// the bbolt store's write): a refresh under a connection's lock alone
	// does not copy the whole state.
	t := &pgTx{s: s, ctx: qctx, version: s.opts.Version, backedUp: s.backedUp || s.op == nil}
	s.mu.Unlock()
	tx, err := s.beginTx(qctx, t)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(qctx) }() // after Commit: nothing
	if err := fn(t); err != nil {
		return err
	}
	if t.changed {
		sql, args := t.stepSQL()
		t.later.Queue(sql, args...)
		t.changed = false
	}
	if err := t.flush(); err != nil {
		return err
	}
	if err := tx.Commit(qctx); err != nil {
		return err
	}
	if t.backedUp {
		s.mu.Lock()
		s.backedUp = true
		s.mu.Unlock()
	}
	return nil
}

// beginTx begins t's transaction on the lock session, locks the serial
// entry of meta (lockSerial) and reads meta (readMeta), in one round trip:
// the statements run one after the other, so the read sees the state as
// of the row lock, with every write committed before it.
func (s *Store) beginTx(ctx context.Context, t *pgTx) (pgx.Tx, error) {
	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`SELECT value FROM `+s.t.meta+` WHERE key = $1 FOR UPDATE`, state.MetaSerial)
	b.Queue(`SELECT key, value FROM ` + s.t.meta)
	br := s.sess.SendBatch(ctx, &b)
	tx := br.Tx()
	fail := func(err error) (pgx.Tx, error) {
		_ = br.Close()
		_ = tx.Rollback(ctx)
		return nil, err
	}
	if _, err := br.Exec(); err != nil {
		return fail(serialErr(err))
	}
	var serial string
	if err := br.QueryRow().Scan(&serial); err != nil {
		return fail(serialErr(err))
	}
	rows, err := br.Query()
	if err != nil {
		return fail(metaErr(err))
	}
	kv := map[string]string{}
	var k, v string
	if _, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error { kv[k] = v; return nil }); err != nil {
		return fail(metaErr(err))
	}
	if err := br.Close(); err != nil {
		return fail(metaErr(err))
	}
	m, err := parseMeta(kv)
	if err != nil {
		return fail(err)
	}
	t.tx, t.m = tx, m
	return tx, nil
}

// serialErr is lockSerial's error for err.
func serialErr(err error) error {
	switch {
	case isMissing(err):
		return state.ErrMissing
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: missing %s", state.ErrCorrupt, state.MetaSerial)
	}
	return notOurs(err)
}

// metaErr is readMeta's error for err.
func metaErr(err error) error {
	if isMissing(err) {
		return state.ErrMissing
	}
	return notOurs(err)
}

// Put implements state.Store. With a passphrase on an unencrypted state it
// first turns encryption on (see update).
//
// Puts from many goroutines (an apply refreshing at -parallelism 50) are
// group-committed, as the bbolt store's are: while one transaction is
// being written, the puts that arrive queue up and go together into the
// next one (writePuts). Every Put still returns only once its record is
// committed, and each is checked as if it were alone (its lock, its
// context, its encoding); what a batch saves is a transaction, its round
// trips and its commit's flush per record, which otherwise serialise the
// whole apply on the lock session.
func (s *Store) Put(ctx context.Context, rec *state.Record) error {
	if err := state.CheckWritable(rec); err != nil {
		return fmt.Errorf("writing state %s: %w", s.display, err)
	}
	p := &pendingPut{ctx: ctx, rec: rec, what: fmt.Sprintf("writing %q to state", rec.Conn)}
	s.puts.Do(p, s.writePuts)
	if p.err == nil {
		s.base.Forget.Written(rec.Conn)
	}
	return p.err
}

// pendingPut is one Put in a batch, and its result.
type pendingPut struct {
	ctx  context.Context
	rec  *state.Record
	what string
	err  error
}

// putOne writes p on its own.
func (s *Store) putOne(p *pendingPut) error {
	return s.update(p.ctx, p.rec.Conn, p.what, true, func(t *pgTx, wp *state.WritePlan) error {
		return t.put(p.rec, wp.Sealer)
	})
}

// writePuts writes a batch of puts in one transaction and answers each.
// A put that would fail on its own (its lock not held, its context ended,
// a record that cannot be encoded) fails alone, with the error it would
// have had, and is left out; when the transaction itself fails, every put
// in it fails with that error: none is reported written unless the
// transaction that wrote it committed.
func (s *Store) writePuts(batch []*pendingPut) {
	if len(batch) == 1 {
		batch[0].err = s.putOne(batch[0])
		return
	}
	// The checks update makes before its transaction.
	var in []*pendingPut
	for _, p := range batch {
		if err := s.base.Readable(p.ctx, p.what); err != nil {
			p.err = err
			continue
		}
		if !s.holdsOpLock() && !s.holdsConnLock(p.rec.Conn) {
			p.err = fmt.Errorf("%s %s: %w (take it with Lock or LockConn first)", p.what, s.display, state.ErrNotLocked)
			continue
		}
		in = append(in, p)
	}
	switch len(in) {
	case 0:
		return
	case 1:
		in[0].err = s.putOne(in[0])
		return
	}
	first := in[0]
	what := fmt.Sprintf("writing %d records to state", len(in))
	var written []*pendingPut
	err := s.update(context.WithoutCancel(first.ctx), batchConn, what, true, func(t *pgTx, wp *state.WritePlan) error {
		// s.smu is held: the checks inTx makes for its connection, and
		// the encoding, for each put; the survivors in one statement.
		written = written[:0]
		byName := map[string]int{}
		var names []string
		var datas [][]byte
		for _, p := range in {
			p.err = nil
			if err := s.txCheck(p.ctx, p.rec.Conn, p.what); err != nil {
				p.err = err
				continue
			}
			data, err := state.EncodeStored(p.rec, wp.Sealer, t.m.Enc != nil)
			if err != nil {
				p.err = s.pgExplain(p.what, err)
				continue
			}
			written = append(written, p)
			if i, ok := byName[p.rec.Conn]; ok {
				datas[i] = data // two puts of one record: the later one wins, as it would alone
				continue
			}
			byName[p.rec.Conn] = len(names)
			names, datas = append(names, p.rec.Conn), append(datas, data)
		}
		if len(names) > 0 {
			t.putMany(names, datas, len(written))
		}
		return nil
	})
	if err != nil {
		for _, p := range in {
			if p.err == nil {
				p.err = fmt.Errorf("%s: %w", p.what, err)
			}
		}
	}
}

// Delete implements state.Store. It needs no passphrase: removing a record
// seals nothing. The deleted row version stays in the table's pages, and the
// record in the backup tables, until Purge (or Unlock) clears them.
func (s *Store) Delete(ctx context.Context, conn string) error {
	err := s.update(ctx, conn, fmt.Sprintf("removing %q from state", conn), false, func(t *pgTx, _ *state.WritePlan) error {
		return t.delete(conn)
	})
	if err == nil {
		s.base.Forget.Deleted(conn)
	}
	return err
}

// update makes one write (fn) in its own transaction, sealed as the state
// and the passphrase say (state.PlanWrite); sealing says fn writes
// records, which on an encrypted state needs the passphrase.
//
// When the store has a passphrase, the state is not encrypted and the
// store holds the operation lock, update turns encryption on
// (state.Base.Write takes every connection lock, lockAllConns, so that
// no refresh in flight elsewhere writes its record unsealed afterwards),
// and the write's transaction first seals every record, records the
// encryption in meta (one serial step), replaces the backup with the
// result, and then makes the write. Options.Notify is told. A write under
// a connection lock only (`token`) does not turn encryption on: it writes
// unsealed, and Notify says the state is not encrypted yet.
func (s *Store) update(ctx context.Context, conn, what string, sealing bool, fn func(*pgTx, *state.WritePlan) error) error {
	if err := s.base.Readable(ctx, what); err != nil {
		return err
	}
	if conn != batchConn && !s.holdsOpLock() && !s.holdsConnLock(conn) {
		return fmt.Errorf("%s %s: %w (take it with Lock or LockConn first)", what, s.display, state.ErrNotLocked)
	}
	meta := func() (*state.Meta, error) { return s.readMeta(ctx, s.pool) }
	return s.base.Write(ctx, what, s.holdsOpLock(), meta, s.pgExplain, s.lockAllConns, func(mayEnable bool) (int, bool, error) {
		return s.updateOnce(ctx, conn, what, sealing, mayEnable, fn)
	})
}

// updateOnce is update's write: sealed is the number of records sealed
// when it turned encryption on (-1 when it did not), postponed says it
// wrote unsealed although the store has a passphrase.
func (s *Store) updateOnce(ctx context.Context, conn, what string, sealing, mayEnable bool, fn func(*pgTx, *state.WritePlan) error) (sealed int, postponed bool, err error) {
	sealed = -1
	m, err := s.readMeta(ctx, s.pool)
	if errors.Is(err, state.ErrMissing) {
		if !s.opts.Create {
			return sealed, false, fmt.Errorf("%s %s: %w", what, s.display, state.ErrNoState)
		}
		if _, err := s.ensure(ctx); err != nil {
			return sealed, false, err
		}
		m, err = s.readMeta(ctx, s.pool)
	}
	if err != nil {
		return sealed, false, s.pgExplain(what, err)
	}
	// Outside the transaction: derive the keys, refuse early.
	plan, err := state.PlanWrite(s.base.Pass.For(m), m, sealing, mayEnable, s.base.Pass.Enforced())
	if err != nil {
		return sealed, false, s.pgExplain(what, err)
	}
	n, post := -1, false
	err = s.inTx(ctx, conn, what, func(t *pgTx) error {
		if plan.Enable != nil && t.m.Enc == nil {
			before := t.m.Serial
			k, err := t.rewriteAll(nil, plan.Sealer, false)
			if err != nil {
				return state.EnableFailed(err)
			}
			err = t.setEncryption(plan.Enable)
			if err == nil {
				err = t.step()
			}
			if err == nil && before > 0 {
				err = t.backup() // no unsealed copy is left in the backup
			}
			if err != nil {
				return fmt.Errorf("turning encryption on: %w", err)
			}
			t.backedUp, n = true, k
		}
		// Another client may have turned encryption on or rekeyed since
		// the first read.
		p, err := plan.Replan(s.base.Pass.For(t.m), t.m, sealing)
		if err != nil {
			return err
		}
		// A state never written (serial 0) holds nothing to keep, and
		// copying it would replace an older backup.
		if !t.backedUp {
			if t.m.Serial > 0 {
				if err := t.backup(); err != nil {
					return err
				}
			}
			t.backedUp = true
		}
		post = p.Postponed
		return fn(t, p)
	})
	if err != nil {
		return -1, false, err
	}
	return n, post, nil
}

// Rekey implements state.Rekeyer: one transaction rewrites every record under
// newPass, records the new encryption (or none) in meta and replaces the
// backup with the result.
func (s *Store) Rekey(ctx context.Context, newPass secret.Secret) (*state.RekeyResult, error) {
	const what = "re-encrypting state"
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	if !s.holdsOpLock() {
		return nil, s.base.NotLocked(what)
	}
	release, err := s.lockAllConns(ctx, what, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer release()
	m, err := s.readMeta(ctx, s.pool)
	if errors.Is(err, state.ErrMissing) {
		return nil, fmt.Errorf("%s %s: %w", what, s.display, state.ErrNoState)
	}
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	// Outside the transaction: check the current passphrase and derive
	// the new key.
	newEnc, to, err := state.PlanRekey(s.base.Pass.For(m), newPass, m, s.base.Pass.Enforced())
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	var res state.RekeyResult
	err = s.inTx(ctx, "", what, func(t *pgTx) error {
		from, err := state.OpenSealer(s.base.Pass.For(t.m), t.m) // cached, unless meta changed since the first read
		if err != nil {
			return err
		}
		was, before := t.m.Enc != nil, t.m.Serial
		n, err := t.rewriteAll(from, to, was)
		if err != nil {
			return err
		}
		if err := t.setEncryption(newEnc); err != nil {
			return err
		}
		if err := t.step(); err != nil {
			return err
		}
		if before > 0 {
			if err := t.backup(); err != nil {
				return err
			}
		}
		t.backedUp = true
		res = state.RekeyResult{Records: n, WasEncrypted: was, Encrypted: newEnc != nil, Serial: t.m.Serial}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.base.Pass.Store(newPass)
	return &res, nil
}

// lockAllConns takes the lock of every connection in the state that this
// store does not hold yet, for a change of encryption: with the operation
// lock, which the caller holds, no other client is then writing (`token`
// writes a record under its connection lock only, and would otherwise
// write it in the old encoding, or fail to write a refreshed token it can
// no longer seal). It waits up to the lock timeout, and at least minWait,
// for the refreshes in flight.
func (s *Store) lockAllConns(ctx context.Context, what string, minWait time.Duration) (release func(), err error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM `+s.t.conns+` ORDER BY name`)
	if err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("%s %s: %w", what, s.display, state.ErrNoState)
		}
		return nil, s.pgExplain(what, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.pgExplain(what, err)
	}
	s.mu.Lock()
	wait := max(s.opts.LockTimeout, minWait)
	s.mu.Unlock()
	return s.base.LockAll(ctx, what, names, wait, s.holdsConnLock, s.LockConn)
}
