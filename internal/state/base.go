package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Base is what every backend's store keeps besides its storage, and the
// steps its methods share around their storage: checks and messages,
// turning encryption on as a write goes, purging before the operation
// lock is given up. For backends: a store holds one in a field of its own
// (not embedded: its fields are not the store's API), set up with Init.
type Base struct {
	name   string
	notify func(string)
	// Pass is the store's passphrase: Options.Passphrase, changed by
	// Rekey.
	Pass PassphraseSlot
	// Forget is what the store deleted and has not purged yet.
	Forget Forgetting
	// Closed is set by the store's Close; no read, write or lock starts
	// after it.
	Closed atomic.Bool
	// postponedNoted: Notify was told that a write could not seal.
	postponedNoted atomic.Bool
}

// Init sets b up for the store of the state named name (its Path) opened
// with opts.
func (b *Base) Init(name string, opts Options) {
	b.name, b.notify = name, opts.Notify
	b.Pass.Store(opts.Passphrase)
	b.Pass.fallback, b.Pass.enforced = opts.Fallback, opts.Enforced
}

// Readable checks that a read (or the start of a write) named what may
// go on: the store is not closed and ctx has not ended.
func (b *Base) Readable(ctx context.Context, what string) error {
	if b.Closed.Load() {
		return fmt.Errorf("%s %s: %w", what, b.name, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", what, b.name, err)
	}
	return nil
}

// NotLocked is the error of an operation named what that needs the
// operation lock, which the store does not hold.
func (b *Base) NotLocked(what string) error {
	return fmt.Errorf("%s %s: %w (take it with Lock first)", what, b.name, ErrNotLocked)
}

// Write runs a backend's write (once), turning encryption at rest on as
// it goes when it may (see prepareEnable and sealingUpdate). holdsOp says the
// store holds the operation lock; meta reads the state's meta (ErrMissing:
// no state yet), explain explains its errors; lockAll takes every
// connection lock for what.
func (b *Base) Write(ctx context.Context, what string, holdsOp bool,
	meta func() (*Meta, error), explain func(what string, err error) error,
	lockAll func(ctx context.Context, what string, minWait time.Duration) (func(), error),
	once func(mayEnable bool) (sealed int, postponed bool, err error),
) error {
	mayEnable, release, err := prepareEnable(ctx, b.Pass.Load(), holdsOp, func() (*Meta, error) {
		m, err := meta()
		if err != nil && !errors.Is(err, ErrMissing) {
			err = explain(what, err)
		}
		return m, err
	}, func(ctx context.Context, minWait time.Duration) (func(), error) {
		return lockAll(ctx, what, minWait)
	})
	if err != nil {
		return err
	}
	defer release()
	return sealingUpdate(b.name, b.notify, &b.postponedNoted, mayEnable, once)
}

// LockAll takes the lock of every connection in names that the store
// does not hold yet (held), with lock, waiting up to wait for each
// (lockEach), for the change of encryption named what.
func (b *Base) LockAll(ctx context.Context, what string, names []string, wait time.Duration, held func(string) bool,
	lock func(context.Context, string, time.Duration) (func() error, error),
) (release func(), err error) {
	release, err = lockEach(ctx, names, wait, held, lock)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, b.name, err)
	}
	return release, nil
}

// Purge is a backend's Purge: it checks that the store may purge (it is
// open and holds the operation lock, holdsOp) and runs purge with what
// the purge is called in messages. purge takes what is to be purged from
// Forget.
func (b *Base) Purge(ctx context.Context, holdsOp bool, purge func(ctx context.Context, what string) error) error {
	const what = "clearing removed connections from state"
	if err := b.Readable(ctx, what); err != nil {
		return err
	}
	if !holdsOp {
		return b.NotLocked(what)
	}
	return purge(ctx, what)
}

// PurgeOnRelease is what a backend does before it gives up the operation
// lock (Unlock, Close): when records were deleted and the store still
// holds the operation lock (holdsOp) and is open, it purges. A failure is
// returned and told to Options.Notify, since callers that are releasing
// rarely look.
func (b *Base) PurgeOnRelease(ctx context.Context, holdsOp bool, purge func(context.Context) error) error {
	if !b.Forget.Pending() || !holdsOp || b.Closed.Load() {
		return nil
	}
	err := purge(context.WithoutCancel(ctx))
	if err != nil && b.notify != nil {
		b.notify("Warning: " + err.Error())
	}
	return err
}

// PlanImport checks snap before the store imports it (Importer), and that
// the store holds the operation lock (holdsOp), and returns the
// encryption the imported state gets: a new salt and check value bound to
// snap's lineage under the store's passphrase, with its Sealer, or none
// (both nil) without a passphrase.
func (b *Base) PlanImport(snap *Snapshot, holdsOp bool) (*Encryption, *Sealer, error) {
	const what = "importing a state into"
	if err := checkImport(snap); err != nil {
		return nil, nil, err
	}
	if !holdsOp {
		return nil, nil, b.NotLocked(what)
	}
	pass := b.Pass.Load()
	if pass.IsZero() {
		return nil, nil, nil
	}
	enc, sl, err := NewEncryption(pass, snap.Lineage, b.Pass.enforced)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", what, b.name, err)
	}
	return enc, sl, nil
}

// ReleaseOnce returns a func that runs release the first time it is
// called and returns its error, and does nothing (nil) after: the release
// func of a connection lock.
func ReleaseOnce(release func() error) func() error {
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() { err = release() })
		return err
	}
}
