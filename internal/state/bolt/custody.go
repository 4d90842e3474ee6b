package bolt

import (
	"context"

	bbolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/state"
)

// SealRecord implements state.Custodian.
func (s *Store) SealRecord(ctx context.Context, rec *state.Record) (string, []byte, error) {
	m, err := s.custodyMeta(ctx)
	if err != nil {
		return "", nil, err
	}
	return state.SealCustody(m, s.base.Pass.For(m), rec)
}

// OpenRecord implements state.Custodian.
func (s *Store) OpenRecord(ctx context.Context, conn, lineage string, data []byte) (*state.Record, error) {
	m, err := s.custodyMeta(ctx)
	if err != nil {
		return nil, err
	}
	return state.OpenCustody(m, s.base.Pass.For(m), conn, lineage, data)
}

// Encrypted implements state.EncryptionReporter, reading only the state's
// meta.
func (s *Store) Encrypted(ctx context.Context) (bool, error) {
	m, err := s.custodyMeta(ctx)
	if err != nil {
		return false, err
	}
	return m.Enc != nil, nil
}

func (s *Store) custodyMeta(ctx context.Context) (*state.Meta, error) {
	const what = "reading the state's meta for the custody journal"
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	m, err := s.meta()
	if err != nil {
		return nil, explain(what, s.path, err)
	}
	return m, nil
}

// Import implements state.Importer.
func (s *Store) Import(ctx context.Context, snap *state.Snapshot) error {
	enc, sl, err := s.base.PlanImport(snap, s.holdsOpLock())
	if err != nil {
		return err
	}
	return s.write(ctx, "", "importing a state into", nil, func(tx *bbolt.Tx, _ *state.Meta) error {
		conns := tx.Bucket([]byte(bucketConns))
		if k, _ := conns.Cursor().First(); k != nil {
			return state.ErrNotEmpty
		}
		mb := tx.Bucket([]byte(bucketMeta))
		if err := mb.Put([]byte(state.MetaLineage), []byte(snap.Lineage)); err != nil {
			return err
		}
		if err := setEncryption(mb, enc); err != nil {
			return err
		}
		for _, rec := range snap.Records {
			data, err := sl.Encode(rec)
			if err != nil {
				return err
			}
			if err := conns.Put([]byte(rec.Conn), data); err != nil {
				return err
			}
		}
		return nil
	})
}
