package state

import (
	"context"
	"errors"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// ErrCannotRekey: the state's backend cannot change its encryption (it is
// no Rekeyer).
var ErrCannotRekey = errors.New("this state backend cannot change its encryption")

// Rekeying changes the passphrase that seals a state's secrets at rest,
// or turns encryption on or off (state rekey): Probe first learns whether
// the state is encrypted and whether Current opens it, then Run rewrites
// every record in one transaction under the state lock.
type Rekeying struct {
	// Open opens the state with opts, whose Passphrase is used as given.
	Open func(ctx context.Context, opts Options) (Store, error)
	// Current is the passphrase that opens the state now (zero: none).
	Current secret.Secret
	// LockTimeout is the wait for the state lock.
	LockTimeout time.Duration
}

// Probe reads the state with r.Current to learn whether it is encrypted
// and whether the passphrase opens it (a record stays Sealed when it does
// not). It returns the snapshot and the state's name (Store.Path).
func (r *Rekeying) Probe(ctx context.Context) (*Snapshot, string, error) {
	st, err := r.Open(ctx, Options{Passphrase: r.Current, Notify: func(string) {}})
	if err != nil {
		return nil, "", newStepError("Failed to open the state", err)
	}
	defer st.Close()
	snap, err := st.Snapshot(ctx)
	if err != nil {
		return nil, "", newStepError("Failed to read the state", err)
	}
	return snap, st.Path(), nil
}

// Run seals every record under newPass, or unseals them all when newPass
// is zero, under the state lock, after the refreshes in flight.
func (r *Rekeying) Run(ctx context.Context, newPass secret.Secret) (*RekeyResult, error) {
	st, err := r.Open(ctx, Options{LockTimeout: r.LockTimeout, Passphrase: r.Current})
	if err != nil {
		return nil, newStepError("Failed to open the state", err)
	}
	defer st.Close()
	if _, ok := st.(Rekeyer); !ok {
		return nil, &StepError{Step: "Cannot re-encrypt this state", Err: ErrCannotRekey, Name: st.Path()}
	}
	if _, err := st.Lock(ctx, "state rekey"); err != nil {
		return nil, newStepError("Error acquiring the state lock", err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx)) }()
	res, err := Rekey(ctx, st, newPass)
	if err != nil {
		return nil, newStepError("Failed to re-encrypt the state", err)
	}
	return res, nil
}

// Rekey reseals st's records under newPass (zero: unsealed) in one
// transaction, then rewrites its file and backup so that no copy in the
// old form is left. The caller holds the state lock. A backend that
// cannot change its encryption gives ErrCannotRekey.
func Rekey(ctx context.Context, st Store, newPass secret.Secret) (*RekeyResult, error) {
	rk, ok := st.(Rekeyer)
	if !ok {
		return nil, ErrCannotRekey
	}
	return rk.Rekey(ctx, newPass)
}
