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

// custodyMeta is the state's meta for sealing and opening custody copies:
// what matters in it is the lineage and the encryption, which change only
// under the operation lock (a rekey, an import, the first write with a
// passphrase: state.Base.Write) and, even then, only under every
// connection's lock. While this store holds the operation lock, no other
// process can change them, so the meta of this store's own last commit
// is current, and a refresh answer is sealed without opening the file
// (where it would wait for the group commit being written: the answer
// waits for its custody copy, and the next request for its -parallelism
// slot, which is freed only then). Otherwise it is read.
func (s *Store) custodyMeta(ctx context.Context) (*state.Meta, error) {
	const what = "reading the state's meta for the custody journal"
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	if m := s.committedMeta(); m != nil {
		return m, nil
	}
	m, err := s.meta()
	if err != nil {
		return nil, explain(what, s.path, err)
	}
	return m, nil
}

// opEpoch returns the operation lock's epoch and whether this store
// holds it.
func (s *Store) opEpoch() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lockEpoch, s.lockFile != nil
}

// keepCustodyMeta remembers m, committed under the operation lock of
// epoch, unless the lock was released (or taken again) since. Only a
// commit keeps a meta: commits are ordered (fileLock), so the last one
// kept is the file's, whereas a read could finish after a commit that
// changed it.
func (s *Store) keepCustodyMeta(epoch uint64, m *state.Meta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockFile != nil && s.lockEpoch == epoch {
		s.custody = &cachedMeta{epoch: epoch, meta: m}
	}
}

// forgetCustodyMeta drops the remembered meta (a commit failed: what it
// left is not known).
func (s *Store) forgetCustodyMeta() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.custody = nil
}

// committedMeta is the meta kept by keepCustodyMeta in the current
// operation lock, or nil.
func (s *Store) committedMeta() *state.Meta {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.custody; c != nil && s.lockFile != nil && c.epoch == s.lockEpoch {
		return c.meta
	}
	return nil
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
