package state

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/secret"
)

// Importer is implemented by stores that can take a whole state as it is,
// for `state migrate`: its lineage (so saved plans and secret fingerprints
// keep meaning the same) and every record.
type Importer interface {
	// Import writes snap into a state that holds no connection, in one
	// transaction, under the operation lock: snap's lineage replaces the
	// destination's, and its records (which must not be sealed) are
	// written sealed under this store's passphrase, bound to that
	// lineage, or in the clear without one. The serial moves on by one.
	Import(ctx context.Context, snap *Snapshot) error
}

var (
	_ Importer = (*BoltStore)(nil)
	_ Importer = (*PGStore)(nil)
)

// errNotEmpty: Import refuses a destination that already holds records.
var errNotEmpty = errors.New("the destination state already holds connections; import only into an empty state")

// importSealing is the encryption an imported state gets: a new salt and
// check value bound to the imported lineage under pass, or none.
func importSealing(pass secret.Secret, lineage string) (*encryptionMeta, *sealer, error) {
	if pass.IsZero() {
		return nil, nil, nil
	}
	e, key, err := newEncryption(pass, lineage)
	if err != nil {
		return nil, nil, err
	}
	return e, &sealer{key: key, lineage: lineage}, nil
}

func checkImport(snap *Snapshot) error {
	if snap == nil || snap.Lineage == "" {
		return errors.New("importing a state: the source has no lineage")
	}
	for _, rec := range snap.Records {
		if err := checkWritable(rec); err != nil {
			return fmt.Errorf("importing a state: %w", err)
		}
	}
	return nil
}

// Import implements Importer.
func (s *BoltStore) Import(ctx context.Context, snap *Snapshot) error {
	const what = "importing a state into"
	if err := checkImport(snap); err != nil {
		return err
	}
	if !s.holdsOpLock() {
		return fmt.Errorf("%s %s: %w (take it with Lock first)", what, s.path, ErrNotLocked)
	}
	enc, sl, err := importSealing(s.passphrase(), snap.Lineage)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, s.path, err)
	}
	return s.write(ctx, "", what, nil, func(tx *bolt.Tx, _ *metaInfo) error {
		conns := tx.Bucket([]byte(bucketConns))
		if k, _ := conns.Cursor().First(); k != nil {
			return errNotEmpty
		}
		mb := tx.Bucket([]byte(bucketMeta))
		if err := mb.Put([]byte(keyLineage), []byte(snap.Lineage)); err != nil {
			return err
		}
		if err := setEncryption(mb, enc); err != nil {
			return err
		}
		for _, rec := range snap.Records {
			data, err := encodeRecord(rec, sl)
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

// Import implements Importer.
func (s *PGStore) Import(ctx context.Context, snap *Snapshot) error {
	const what = "importing a state into"
	if err := checkImport(snap); err != nil {
		return err
	}
	if !s.holdsOpLock() {
		return fmt.Errorf("%s %s: %w (take it with Lock first)", what, s.display, ErrNotLocked)
	}
	if _, err := s.ensure(ctx); err != nil {
		return err
	}
	enc, sl, err := importSealing(s.passphrase(), snap.Lineage)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, s.display, err)
	}
	return s.inTx(ctx, "", what, func(t *pgTx) error {
		var n int
		if err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM `+s.t.conns).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errNotEmpty
		}
		if _, err := t.tx.Exec(t.ctx, `UPDATE `+s.t.meta+` SET value = $1 WHERE key = $2`, snap.Lineage, keyLineage); err != nil {
			return err
		}
		if err := t.setEncryption(enc); err != nil {
			return err
		}
		t.m.enc = enc
		for _, rec := range snap.Records {
			if err := t.put(rec, sl); err != nil {
				return err
			}
		}
		t.changed = true
		return nil
	})
}
