package pg

import (
	"context"

	"github.com/oauthform/oauthform/internal/state"
)

// SealRecord implements state.Custodian.
func (s *Store) SealRecord(ctx context.Context, rec *state.Record) (string, []byte, error) {
	m, err := s.readMeta(ctx, s.pool)
	if err != nil {
		return "", nil, s.pgExplain("reading the state's meta for the custody journal", err)
	}
	return state.SealCustody(m, s.base.Pass.For(m), rec)
}

// OpenRecord implements state.Custodian.
func (s *Store) OpenRecord(ctx context.Context, conn, lineage string, data []byte) (*state.Record, error) {
	m, err := s.readMeta(ctx, s.pool)
	if err != nil {
		return nil, s.pgExplain("reading the state's meta for the custody journal", err)
	}
	return state.OpenCustody(m, s.base.Pass.For(m), conn, lineage, data)
}

// Encrypted implements state.EncryptionReporter.
func (s *Store) Encrypted(ctx context.Context) (bool, error) {
	m, err := s.readMeta(ctx, s.pool)
	if err != nil {
		return false, s.pgExplain("reading the state's meta", err)
	}
	return m.Enc != nil, nil
}

// Import implements state.Importer.
func (s *Store) Import(ctx context.Context, snap *state.Snapshot) error {
	enc, sl, err := s.base.PlanImport(snap, s.holdsOpLock())
	if err != nil {
		return err
	}
	if _, err := s.ensure(ctx); err != nil {
		return err
	}
	return s.inTx(ctx, "", "importing a state into", func(t *pgTx) error {
		var n int
		if err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM `+s.t.conns).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return state.ErrNotEmpty
		}
		if _, err := t.tx.Exec(t.ctx, `UPDATE `+s.t.meta+` SET value = $1 WHERE key = $2`, snap.Lineage, state.MetaLineage); err != nil {
			return err
		}
		if err := t.setEncryption(enc); err != nil {
			return err
		}
		for _, rec := range snap.Records {
			if err := t.put(rec, sl); err != nil {
				return err
			}
		}
		t.changed = true
		return nil
	})
}
