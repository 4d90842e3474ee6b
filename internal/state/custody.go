package state

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/secret"
)

// Custodian encodes records for a copy kept outside the store: the refresh
// custody journal (internal/apply), which holds a provider's answer before
// the state does, so that a state write that fails (a full disk) or a
// state that goes back in time loses no rotated refresh token. The copy is
// encoded exactly as the store writes records now: sealed with the state's
// key when the state is encrypted, so the journal never holds a token the
// state itself would not show in plain text. Both stores implement it.
type Custodian interface {
	// SealRecord encodes rec the way the store writes it now and returns
	// the state's lineage with it. On an encrypted state it needs the
	// passphrase (ErrSealed otherwise).
	SealRecord(ctx context.Context, rec *Record) (lineage string, data []byte, err error)
	// OpenRecord decodes what SealRecord returned for the record conn of
	// the state whose lineage is given. A copy of another state (lineage)
	// or sealed under another key gives an error wrapping ErrCorrupt.
	OpenRecord(ctx context.Context, conn, lineage string, data []byte) (*Record, error)
}

// secretSource returns a store's current passphrase.
type secretSource func() secret.Secret

// ErrOtherState: a custody copy belongs to another state.
var ErrOtherState = errors.New("the copy belongs to another state (lineage)")

// sealCustody encodes rec for custody on a state described by m, with the
// store's passphrase pass.
func sealCustody(m *metaInfo, pass secretSource, rec *Record) (string, []byte, error) {
	sl, err := sealerFor(pass(), m)
	if err != nil {
		return "", nil, err
	}
	if m.enc != nil && sl == nil {
		return "", nil, ErrSealed
	}
	b, err := encodeRecord(rec, sl)
	if err != nil {
		return "", nil, err
	}
	return m.lineage, b, nil
}

// openCustody decodes a custody copy of conn on a state described by m.
func openCustody(m *metaInfo, pass secretSource, conn, lineage string, data []byte) (*Record, error) {
	if lineage != m.lineage {
		return nil, fmt.Errorf("custody copy of %q: %w: %w", conn, ErrCorrupt, ErrOtherState)
	}
	sl, err := sealerFor(pass(), m)
	if err != nil {
		return nil, err
	}
	if m.enc != nil && sl == nil {
		return nil, ErrSealed
	}
	return decodeStored(conn, data, m.enc != nil, sl)
}

// SealRecord implements Custodian.
func (s *BoltStore) SealRecord(ctx context.Context, rec *Record) (string, []byte, error) {
	m, err := s.custodyMeta(ctx)
	if err != nil {
		return "", nil, err
	}
	lineage, b, err := sealCustody(m, s.passphrase, rec)
	if err != nil {
		return "", nil, fmt.Errorf("encoding %q for the custody journal: %w", rec.Conn, err)
	}
	return lineage, b, nil
}

// OpenRecord implements Custodian.
func (s *BoltStore) OpenRecord(ctx context.Context, conn, lineage string, data []byte) (*Record, error) {
	m, err := s.custodyMeta(ctx)
	if err != nil {
		return nil, err
	}
	return openCustody(m, s.passphrase, conn, lineage, data)
}

func (s *BoltStore) custodyMeta(ctx context.Context) (*metaInfo, error) {
	const what = "reading the state's meta for the custody journal"
	if err := s.readable(ctx, what); err != nil {
		return nil, err
	}
	var meta *metaInfo
	err := view(s.path, func(_ *bolt.Tx, m *metaInfo) error {
		meta = m
		return nil
	})
	if err != nil {
		return nil, explain(what, s.path, err)
	}
	return meta, nil
}

// SealRecord implements Custodian.
func (s *PGStore) SealRecord(ctx context.Context, rec *Record) (string, []byte, error) {
	m, err := s.readMeta(ctx, s.pool)
	if err != nil {
		return "", nil, s.pgExplain("reading the state's meta for the custody journal", err)
	}
	lineage, b, err := sealCustody(m, s.passphrase, rec)
	if err != nil {
		return "", nil, fmt.Errorf("encoding %q for the custody journal: %w", rec.Conn, err)
	}
	return lineage, b, nil
}

// OpenRecord implements Custodian.
func (s *PGStore) OpenRecord(ctx context.Context, conn, lineage string, data []byte) (*Record, error) {
	m, err := s.readMeta(ctx, s.pool)
	if err != nil {
		return nil, s.pgExplain("reading the state's meta for the custody journal", err)
	}
	return openCustody(m, s.passphrase, conn, lineage, data)
}

// Encrypted reports whether the state is encrypted at rest, reading only
// its meta (token's fast path asks on every call).
func (s *BoltStore) Encrypted(ctx context.Context) (bool, error) {
	m, err := s.custodyMeta(ctx)
	if err != nil {
		return false, err
	}
	return m.enc != nil, nil
}

// Encrypted reports whether the state is encrypted at rest.
func (s *PGStore) Encrypted(ctx context.Context) (bool, error) {
	m, err := s.readMeta(ctx, s.pool)
	if err != nil {
		return false, s.pgExplain("reading the state's meta", err)
	}
	return m.enc != nil, nil
}

// EncryptionReporter is implemented by both stores.
type EncryptionReporter interface {
	Encrypted(ctx context.Context) (bool, error)
}
