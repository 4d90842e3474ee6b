package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/oauthform/oauthform/internal/secret"
)

// Custodian encodes records for a copy kept outside the store: the refresh
// custody journal (internal/apply), which holds a provider's answer before
// the state does, so that a state write that fails (a full disk) or a
// state that goes back in time loses no rotated refresh token. The copy is
// encoded exactly as the store writes records now: sealed with the state's
// key when the state is encrypted, so the journal never holds a token the
// state itself would not show in plain text. Both backends implement it,
// with SealCustody and OpenCustody.
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

// WritePreparer is a store that can do ahead of time what its first write
// under the operation lock does first (the local backend: the backup of
// the state), so that a command about to write can have it done while it
// does something else. A write made meanwhile waits for it. A store
// without it does that work at its first write.
type WritePreparer interface {
	PrepareWrite(ctx context.Context) error
}

// ErrOtherState: a custody copy belongs to another state.
var ErrOtherState = errors.New("the copy belongs to another state (lineage)")

// SealCustody is Custodian.SealRecord for a backend, given the state's
// meta m and the store's passphrase pass.
func SealCustody(m *Meta, pass secret.Secret, rec *Record) (string, []byte, error) {
	sl, err := ReadSealer(pass, m)
	var b []byte
	if err == nil {
		b, err = encodeRecord(rec, sl)
	}
	if err != nil {
		return "", nil, fmt.Errorf("encoding %q for the custody journal: %w", rec.Conn, err)
	}
	return m.Lineage, b, nil
}

// OpenCustody is Custodian.OpenRecord for a backend, given the state's
// meta m and the store's passphrase pass.
func OpenCustody(m *Meta, pass secret.Secret, conn, lineage string, data []byte) (*Record, error) {
	if lineage != m.Lineage {
		return nil, fmt.Errorf("custody copy of %q: %w: %w", conn, ErrCorrupt, ErrOtherState)
	}
	sl, err := ReadSealer(pass, m)
	if err != nil {
		return nil, err
	}
	return DecodeStored(conn, data, m.Enc != nil, sl)
}

// EncryptionReporter is implemented by both backends: Encrypted reports
// whether the state is encrypted at rest, reading only its meta (token's
// fast path asks on every call).
type EncryptionReporter interface {
	Encrypted(ctx context.Context) (bool, error)
}
