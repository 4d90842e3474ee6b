package state

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// How a write turns encryption at rest on, the same for every backend
// (Base.Write): prepareEnable decides before the write whether it may
// (and takes every connection lock for it), sealingUpdate runs the write
// and tells the person what happened. The backend's write seals every
// record in its transaction (Reencode) when its WritePlan says Enable.

// prepareEnable decides whether a write may turn encryption on: when the
// store has a passphrase (pass), holds the operation lock (holdsOp) and
// the state, as meta reads it, is not encrypted, it takes every
// connection lock with lockAll, so that no refresh in flight elsewhere
// writes its record unsealed afterwards. A refresh in flight is waited
// for a little; if it takes longer, the write goes unsealed rather than
// fail (mayEnable false). release, never nil when err is nil, gives the
// connection locks back. meta's errors are returned as they are, except
// ErrMissing (no state yet: nothing to seal).
func prepareEnable(ctx context.Context, pass secret.Secret, holdsOp bool,
	meta func() (*Meta, error), lockAll func(ctx context.Context, minWait time.Duration) (func(), error),
) (mayEnable bool, release func(), err error) {
	none := func() {}
	if pass.IsZero() || !holdsOp {
		return false, none, nil
	}
	m, err := meta()
	switch {
	case errors.Is(err, ErrMissing):
		return false, none, nil
	case err != nil:
		return false, nil, err
	case m.Enc != nil:
		return false, none, nil
	}
	release, err = lockAll(ctx, 5*time.Second)
	switch {
	case err == nil:
		return true, release, nil
	case errors.Is(err, ErrLocked):
		return false, none, nil
	}
	return false, nil, err
}

// sealingUpdate runs a write (once) that may turn encryption at rest on
// (mayEnable): when a record that cannot be read blocks
// sealing (EnableFailed), the write is retried without sealing; notify
// tells the person what happened (noted: the postponement was told
// already). name names the state. once reports how many records it
// sealed when it turned encryption on (-1 when it did not), and whether
// it wrote unsealed although the store has a passphrase (postponed).
func sealingUpdate(name string, notify func(string), noted *atomic.Bool, mayEnable bool,
	once func(mayEnable bool) (sealed int, postponed bool, err error),
) error {
	sealed, postponed, err := once(mayEnable)
	var ee *enableError
	if errors.As(err, &ee) {
		// A record that cannot be read blocks sealing the state, but
		// this write may not need it (`state rm` of that very record).
		if notify != nil {
			notify(fmt.Sprintf("Encryption at rest could not be turned on for the state %s: %v. "+
				"This write is not sealed; remove or repair that record.", name, ee.err))
		}
		noted.Store(true)
		sealed, postponed, err = once(false)
	}
	switch {
	case notify == nil:
	case sealed >= 0:
		notify(fmt.Sprintf("Encryption at rest is now on for the state %s: the secrets of %d connection(s) were sealed in one transaction. "+
			"Commands that use tokens (apply, refresh, destroy, token, show -show-sensitive) now need the passphrase; plan and show do not.", name, sealed))
	case err == nil && postponed && !noted.Swap(true):
		notify(fmt.Sprintf("A passphrase is set but the state %s is not encrypted yet, so this write was not sealed. "+
			"The next apply or refresh seals every connection, or run \"oauthform state rekey\" now.", name))
	}
	return err
}

// enableError is a record that stopped encryption from being turned on
// because it cannot be read (corrupt, or from a newer oauthform).
type enableError struct{ err error }

func (e *enableError) Error() string { return "turning encryption on: " + e.err.Error() }
func (e *enableError) Unwrap() error { return e.err }

// EnableFailed is the error of a write whose turning encryption on failed
// with err, for backends: a record that cannot be read (ErrCorrupt,
// ErrNewerFormat) makes SealingUpdate retry the write unsealed; any other
// failure is the write's.
func EnableFailed(err error) error {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNewerFormat) {
		return &enableError{err}
	}
	return fmt.Errorf("turning encryption on: %w", err)
}
