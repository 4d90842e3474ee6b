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
}

// step ends one change of the state: it increments the serial and records
// the writer's version. The transaction steps once more at its end when it
// changed the state since.
func (t *pgTx) step() error {
	t.m.Serial++
	_, err := t.tx.Exec(t.ctx, `INSERT INTO `+t.s.t.meta+` (key, value) VALUES ($1, $2), ($3, $4)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		state.MetaSerial, strconv.FormatUint(t.m.Serial, 10), state.MetaWrittenBy, t.version)
	t.changed = false
	return err
}

// backup replaces the backup with the state as the transaction has made it.
func (t *pgTx) backup() error {
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
	_, err = t.tx.Exec(t.ctx, `INSERT INTO `+t.s.t.conns+` (name, data) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET data = excluded.data`, rec.Conn, data)
	t.changed = true
	return err
}

func (t *pgTx) delete(conn string) error {
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
	if s.base.Closed.Load() {
		return fmt.Errorf("%s %s: %w", what, s.display, state.ErrClosed)
	}
	switch ok, lost := s.holdsFor(conn); {
	case lost && !ok:
		return fmt.Errorf("%s %s: %w", what, s.display, errLockLost)
	case !ok:
		return fmt.Errorf("%s %s: %w (take it with Lock or LockConn first)", what, s.display, state.ErrNotLocked)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", what, s.display, err)
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgSessionTimeout)
	defer cancel()
	s.mu.Lock()
	// Only a command that holds the operation lock takes the backup (see
	// the bbolt store's write): a refresh under a connection's lock alone
	// does not copy the whole state.
	t := &pgTx{s: s, ctx: qctx, version: s.opts.Version, backedUp: s.backedUp || s.op == nil}
	s.mu.Unlock()
	err := pgx.BeginFunc(qctx, s.sess, func(tx pgx.Tx) error {
		t.tx = tx
		if _, err := s.lockSerial(qctx, tx); err != nil {
			return err
		}
		m, err := s.readMeta(qctx, tx)
		if err != nil {
			return err
		}
		t.m = m
		if err := fn(t); err != nil {
			return err
		}
		if t.changed {
			return t.step()
		}
		return nil
	})
	switch {
	case err == nil:
	case s.sess.IsClosed():
		return fmt.Errorf("%s %s: %w (%v)", what, s.display, errLockLost, err)
	case errors.Is(err, state.ErrMissing):
		return fmt.Errorf("%s %s: %w", what, s.display, state.ErrNoState)
	default:
		return s.pgExplain(what, err)
	}
	if t.backedUp {
		s.mu.Lock()
		s.backedUp = true
		s.mu.Unlock()
	}
	return nil
}

// Put implements state.Store. With a passphrase on an unencrypted state it
// first turns encryption on (see update).
func (s *Store) Put(ctx context.Context, rec *state.Record) error {
	if err := state.CheckWritable(rec); err != nil {
		return fmt.Errorf("writing state %s: %w", s.display, err)
	}
	err := s.update(ctx, rec.Conn, fmt.Sprintf("writing %q to state", rec.Conn), true, func(t *pgTx, p *state.WritePlan) error {
		return t.put(rec, p.Sealer)
	})
	if err == nil {
		s.base.Forget.Written(rec.Conn)
	}
	return err
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
	if !s.holdsOpLock() && !s.holdsConnLock(conn) {
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
