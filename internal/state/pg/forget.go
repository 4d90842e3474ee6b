package pg

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/oauthform/oauthform/internal/state"
)

// Purge implements state.Store. It removes the connections deleted since the
// last purge from the backup tables (in one transaction ordered with every
// write; the serial does not move, the backup is otherwise the state as it
// was), and then runs VACUUM FULL on the connections and backup tables:
// a plain VACUUM marks the space of deleted row versions free but leaves
// their bytes in the pages, while VACUUM FULL writes each table anew and
// truncates its old files. It holds an ACCESS EXCLUSIVE lock on each table
// while it copies it (milliseconds for a state's few rows), so readers
// elsewhere wait that long. It needs the right to VACUUM those tables (the
// role that owns them, which is the one that ran `oauthform init`); without
// it, the error says so.
//
// What PostgreSQL keeps beyond the tables is out of reach: the
// write-ahead log until it is recycled, WAL archives, replicas' own
// storage, base backups and dumps, and the blocks of the truncated files
// on disk.
func (s *Store) Purge(ctx context.Context) error {
	return s.base.Purge(ctx, s.holdsOpLock(), s.purge)
}

// purge is Purge once the store may purge.
func (s *Store) purge(ctx context.Context, what string) error {
	names, pending := s.base.Forget.Take()
	if !pending {
		return nil
	}
	tables := fmt.Sprintf("the tables %s and %s (dead row versions)", s.t.conns, s.t.backupConns)
	if len(names) > 0 {
		err := s.inTx(ctx, "", what, func(t *pgTx) error {
			_, err := t.tx.Exec(t.ctx, `DELETE FROM `+s.t.backupConns+` WHERE name = ANY($1)`, names)
			return err
		})
		if err != nil {
			return &state.PurgeError{Conns: names, Where: []string{"the backup (" + s.t.backupConns + ")", tables}, Err: err}
		}
	}
	if err := s.vacuumFull(ctx, s.t.conns, s.t.backupConns); err != nil {
		return &state.PurgeError{Conns: names, Where: []string{tables}, Err: fmt.Errorf("%s %s: %w", what, s.display, err)}
	}
	return nil
}

// vacuumFull runs VACUUM FULL on tables, on a connection of its own
// (VACUUM cannot run in a transaction, and this one must hear PostgreSQL's
// warnings: a table the role may not vacuum is skipped with a warning,
// not an error).
func (s *Store) vacuumFull(ctx context.Context, tables ...string) error {
	cfg := s.sessCfg.Copy()
	var mu sync.Mutex
	var skipped []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if n.Severity == "WARNING" {
			mu.Lock()
			skipped = append(skipped, n.Message)
			mu.Unlock()
		}
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgSessionTimeout)
	defer cancel()
	c, err := pgx.ConnectConfig(qctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting for VACUUM: %w", err)
	}
	defer c.Close(context.WithoutCancel(qctx))
	if _, err := c.Exec(qctx, `VACUUM (FULL) `+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("VACUUM FULL: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(skipped) > 0 {
		// The messages name tables and roles, never data.
		return fmt.Errorf("VACUUM FULL: PostgreSQL skipped tables: %s; the role that owns them must run VACUUM FULL on them",
			strings.Join(skipped, "; "))
	}
	return nil
}

// purgeBeforeRelease purges what this store deleted before it gives up
// the operation lock (Unlock, Close).
func (s *Store) purgeBeforeRelease(ctx context.Context) error {
	return s.base.PurgeOnRelease(ctx, s.holdsOpLock(), s.Purge)
}
