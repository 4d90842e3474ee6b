package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// StepError is the error of one step of a flow of several (Migrate,
// Rekeying): Step names it in words fit for a message's summary. Err is
// the store's error, or nil when Detail explains; Kind marks the
// failures whose advice depends on how the caller named the states.
type StepError struct {
	Kind   StepKind
	Step   string
	Detail string
	Err    error
	// Name is the state concerned (Store.Path); Records and Lineage are
	// what it held, for KindDestinationNotEmpty.
	Name    string
	Records int
	Lineage string
}

// StepKind classifies a StepError.
type StepKind int

// The kinds of StepError.
const (
	// KindFailed: a step failed; Step, and Err or Detail, say how.
	KindFailed StepKind = iota
	// KindNoSource: there is no source state (Name).
	KindNoSource
	// KindSourceSealed: the source (Name) is encrypted and no passphrase
	// opens it.
	KindSourceSealed
	// KindDestinationNotEmpty: the destination (Name) holds Records
	// connections of lineage Lineage.
	KindDestinationNotEmpty
	// KindDestinationEncrypted: the destination (Name) is encrypted and
	// no passphrase was given.
	KindDestinationEncrypted
)

func (e *StepError) Error() string {
	switch {
	case e.Err != nil:
		return e.Step + ": " + e.Err.Error()
	case e.Detail != "":
		return e.Step + ": " + e.Detail
	}
	return e.Step
}

func (e *StepError) Unwrap() error { return e.Err }

func newStepError(step string, err error) *StepError { return &StepError{Step: step, Err: err} }

func newStepDetail(step, detail string) *StepError { return &StepError{Step: step, Detail: detail} }

// MigrateSide is one end of a migration.
type MigrateSide struct {
	// Open opens the side's state with opts, whose Passphrase is used as
	// given (zero: none).
	Open func(ctx context.Context, opts Options) (Store, error)
	// SetAside, on a source, takes it out of use once the copy is
	// verified, under its locks (a local file is renamed), and returns
	// its new name. Nil leaves the source as it was.
	SetAside func() (string, error)
}

// Migration moves a whole state into an empty one: every connection with
// its tokens, encrypted at rest if the source is (with the same
// passphrase). Both states are locked for the move, and the source's
// connections too, so no refresh elsewhere is lost; the copy is read back
// and compared with the source before the source is set aside.
type Migration struct {
	Src, Dst MigrateSide
	// Passphrase opens the source and seals the copy.
	Passphrase secret.Secret
	// Fallback, when set, opens a source sealed under the previous key
	// (Options.Fallback); the copy is sealed under Passphrase.
	Fallback secret.Secret
	// Seal seals the copy under Passphrase even when the source is not
	// encrypted (encryption is enforced).
	Seal bool
	// LockTimeout is the wait for each state lock; ConnLockWait for each
	// connection lock.
	LockTimeout, ConnLockWait time.Duration
	// Rehash, when set, returns rec's client secret fingerprint under a
	// destination lineage that differs from the source's (HashSecret is
	// keyed by the lineage), "" to keep the stored one.
	Rehash func(rec *Record, oldLineage, newLineage string) string
}

// MigrateResult is what a migration did.
type MigrateResult struct {
	From, To        string
	Records         int
	SrcLineage      string
	Lineage         string
	Serial          uint64
	Encrypted       bool
	KeptAs          string // the source's new name (SetAside)
	LineageReplaced bool   // the destination could not take the source's lineage
}

const migrateOp = "state migrate"

// Migrate runs m. On error nothing was changed, unless the error says so.
func Migrate(ctx context.Context, m *Migration) (*MigrateResult, error) {
	src, err := m.Src.Open(ctx, Options{LockTimeout: m.LockTimeout, Passphrase: m.Passphrase, Fallback: m.Fallback})
	if err != nil {
		return nil, newStepError("Failed to open the state", err)
	}
	defer src.Close()
	snap, unlock, err := m.lockSource(ctx, src)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dstPass, err := m.checkDestination(ctx, snap)
	if err != nil {
		return nil, err
	}
	dst, err := m.Dst.Open(ctx, Options{LockTimeout: m.LockTimeout, Passphrase: dstPass, Enforced: m.Seal || snap.Enforced})
	if err != nil {
		return nil, newStepError("Failed to open the state", err)
	}
	defer dst.Close()
	dstLineage, unlockDst, err := migrateLockDestination(ctx, dst)
	if err != nil {
		return nil, err
	}
	defer unlockDst()
	res := &MigrateResult{From: src.Path(), To: dst.Path(), Records: len(snap.Records), SrcLineage: snap.Lineage, Encrypted: !dstPass.IsZero()}
	if err := m.copy(ctx, dst, snap, dstLineage, res); err != nil {
		return nil, err
	}
	if err := m.verify(ctx, dst, dstPass, snap, res, src.Path()); err != nil {
		return nil, err
	}
	if m.Src.SetAside != nil {
		kept, err := m.Src.SetAside()
		if err != nil {
			return nil, newStepDetail("Failed to set the local state aside",
				fmt.Sprintf("the state was copied and verified in %s, but %v; rename or remove it by hand before using the new state", dst.Path(), err))
		}
		res.KeptAs = kept
	}
	return res, nil
}

// lockSource takes the source's operation lock, then every connection's
// lock, and returns the snapshot to copy, read after any refresh that held
// a lock; unlock releases them all.
func (m *Migration) lockSource(ctx context.Context, src Store) (*Snapshot, func(), error) {
	var releases []func() error
	unlock := func() {
		for i := len(releases) - 1; i >= 0; i-- {
			_ = releases[i]()
		}
	}
	if _, err := src.Lock(ctx, migrateOp); err != nil {
		if errors.Is(err, ErrNoState) {
			return nil, nil, &StepError{Kind: KindNoSource, Step: "No state to migrate", Name: src.Path()}
		}
		return nil, nil, newStepError("Error acquiring the lock of the source state", err)
	}
	releases = append(releases, func() error { return src.Unlock(context.WithoutCancel(ctx)) })
	first, err := src.Snapshot(ctx)
	if err == nil && first.Empty() {
		err = &StepError{Kind: KindNoSource, Step: "No state to migrate", Name: src.Path()}
	}
	if err != nil {
		unlock()
		return nil, nil, asStepError("Failed to read the source state", err)
	}
	names := sortedConns(first)
	for _, name := range names {
		release, err := src.LockConn(ctx, name, m.ConnLockWait)
		if err != nil {
			unlock()
			return nil, nil, newStepError(fmt.Sprintf("Error acquiring the lock of connection %q", name), err)
		}
		releases = append(releases, release)
	}
	snap, err := src.Snapshot(ctx)
	if err == nil {
		err = migrateCheckSource(snap, names, src.Path())
	}
	if err != nil {
		unlock()
		return nil, nil, asStepError("Failed to read the source state", err)
	}
	return snap, unlock, nil
}

// asStepError is err as a StepError, step naming it unless it is one.
func asStepError(step string, err error) error {
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	return newStepError(step, err)
}

// migrateCheckSource refuses a source that gained connections since they were
// locked, or whose tokens the passphrase does not open.
func migrateCheckSource(snap *Snapshot, locked []string, name string) error {
	for _, conn := range sortedConns(snap) {
		if !slices.Contains(locked, conn) {
			// Only an operation adds connections, and we hold its lock.
			return newStepDetail("The source state changed", fmt.Sprintf("Connection %q appeared in %s during the migration. Nothing was copied; run it again.", conn, name))
		}
		if snap.Records[conn].Sealed {
			return &StepError{Kind: KindSourceSealed, Step: "The state is encrypted", Name: name}
		}
	}
	return nil
}

// checkDestination makes sure the destination holds no connections and
// returns the passphrase to open it with: the source's when the source is
// encrypted or the destination already is.
func (m *Migration) checkDestination(ctx context.Context, snap *Snapshot) (secret.Secret, error) {
	dstPass := secret.Secret{}
	if snap.Encrypted || m.Seal {
		dstPass = m.Passphrase
	}
	probe, err := m.Dst.Open(ctx, Options{Passphrase: dstPass, Notify: func(string) {}})
	if err != nil {
		return dstPass, newStepError("Failed to open the state", err)
	}
	before, err := probe.Snapshot(ctx)
	name := probe.Path()
	_ = probe.Close()
	if err != nil {
		return dstPass, newStepError("Failed to read the destination state", err)
	}
	if len(before.Records) > 0 {
		return dstPass, &StepError{Kind: KindDestinationNotEmpty, Step: "The destination state is not empty", Name: name,
			Records: len(before.Records), Lineage: before.Lineage}
	}
	if before.Encrypted && !snap.Encrypted {
		if m.Passphrase.IsZero() {
			return dstPass, &StepError{Kind: KindDestinationEncrypted, Step: "The destination state is encrypted", Name: name}
		}
		dstPass = m.Passphrase
	}
	return dstPass, nil
}

// migrateLockDestination creates the destination state, takes its lock and
// checks again that it is empty.
func migrateLockDestination(ctx context.Context, dst Store) (string, func(), error) {
	lineage, err := dst.Init(ctx)
	if err != nil {
		return "", nil, newStepError("Failed to create the destination state", err)
	}
	if _, err := dst.Lock(ctx, migrateOp); err != nil {
		return "", nil, newStepError("Error acquiring the lock of the destination state", err)
	}
	unlock := func() { _ = dst.Unlock(context.WithoutCancel(ctx)) }
	again, err := dst.Snapshot(ctx)
	switch {
	case err != nil:
		unlock()
		return "", nil, newStepError("Failed to read the destination state", err)
	case len(again.Records) > 0:
		unlock()
		return "", nil, newStepDetail("The destination state is not empty", fmt.Sprintf("Connections were written to %s while the migration started. Nothing was copied.", dst.Path()))
	}
	return lineage, unlock, nil
}

// copy writes snap into dst: at once with its lineage where the backend
// can take it (Importer), else record by record under dst's lineage.
func (m *Migration) copy(ctx context.Context, dst Store, snap *Snapshot, dstLineage string, res *MigrateResult) error {
	if im, ok := dst.(Importer); ok {
		if err := im.Import(ctx, snap); err != nil {
			return newStepError("Failed to copy the state", err)
		}
		res.Lineage = snap.Lineage
		return nil
	}
	res.Lineage, res.LineageReplaced = dstLineage, dstLineage != snap.Lineage
	return m.copyRecords(ctx, dst, snap, dstLineage)
}

// copyRecords writes every record of snap into dst, whose lineage is
// lineage (Rehash). On failure the records written are removed again.
func (m *Migration) copyRecords(ctx context.Context, dst Store, snap *Snapshot, lineage string) error {
	var written []string
	for _, name := range sortedConns(snap) {
		rec := *snap.Records[name]
		if m.Rehash != nil && lineage != snap.Lineage {
			if h := m.Rehash(&rec, snap.Lineage, lineage); h != "" {
				rec.ClientSecretHash = h
			}
		}
		if err := dst.Put(ctx, &rec); err != nil {
			for _, w := range written {
				_ = dst.Delete(context.WithoutCancel(ctx), w)
			}
			return newStepError(fmt.Sprintf("Failed to copy connection %q (the copies made were removed; the source is unchanged)", name), err)
		}
		written = append(written, name)
	}
	return nil
}

// verify reads the copy back through a store of its own and compares it
// with the source; a copy that differs is removed again.
func (m *Migration) verify(ctx context.Context, dst Store, dstPass secret.Secret, snap *Snapshot, res *MigrateResult, srcName string) error {
	check, err := m.Dst.Open(ctx, Options{Passphrase: dstPass, Notify: func(string) {}})
	if err != nil {
		return newStepError("Failed to open the state", err)
	}
	got, err := check.Snapshot(ctx)
	_ = check.Close()
	if err != nil {
		return newStepError("Failed to read the copy back", err)
	}
	if problem := compareMigrated(snap, got, res.Lineage, res.Encrypted); problem != "" {
		removed := "its connections were removed again"
		for name := range got.Records {
			if err := dst.Delete(context.WithoutCancel(ctx), name); err != nil && !errors.Is(err, ErrNotFound) {
				removed = "remove its connections before trying again"
			}
		}
		return newStepDetail("The copy does not match the source", fmt.Sprintf("Reading %s back: %s. The source %s is unchanged and still in use; %s.",
			dst.Path(), problem, srcName, removed))
	}
	res.Serial = got.Serial
	return nil
}

// compareMigrated returns what differs between the source snapshot and the
// copy read back, "" when they match.
func compareMigrated(src, got *Snapshot, lineage string, encrypted bool) string {
	if got.Lineage != lineage {
		return fmt.Sprintf("its lineage is %s, not %s", got.Lineage, lineage)
	}
	if len(got.Records) != len(src.Records) {
		return fmt.Sprintf("it holds %d connection(s), the source %d", len(got.Records), len(src.Records))
	}
	if got.Encrypted != encrypted {
		return fmt.Sprintf("it is encrypted at rest: %v, want %v", got.Encrypted, encrypted)
	}
	for name, a := range src.Records {
		b, ok := got.Records[name]
		switch {
		case !ok:
			return fmt.Sprintf("connection %q is missing", name)
		case b.Sealed:
			return fmt.Sprintf("connection %q cannot be opened with the passphrase", name)
		case !a.Access.Equal(b.Access) || !a.Refresh.Equal(b.Refresh):
			return fmt.Sprintf("the tokens of connection %q differ", name)
		case !a.Expiry.Equal(b.Expiry) || a.ExpiryAssumed != b.ExpiryAssumed || a.Status != b.Status || a.Provider != b.Provider || a.ClientID != b.ClientID ||
			a.RedirectURI != b.RedirectURI || a.Grant != b.Grant || !slices.Equal(a.Scopes, b.Scopes) || a.RefreshBefore != b.RefreshBefore:
			return fmt.Sprintf("connection %q differs", name)
		}
	}
	return ""
}

func sortedConns(snap *Snapshot) []string {
	names := make([]string, 0, len(snap.Records))
	for n := range snap.Records {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
