// Package apply carries out a plan against the providers: grants,
// refreshes, updates and revocations, each written to the state as soon as
// it is done.
//
// Every change to a connection's tokens goes through [Refresher] or the
// executor under that connection's lock (state.Store.LockConn), re-reading
// the record first: a rotating refresh token is single-use, so it is never
// taken from a stale snapshot, and two processes never refresh one
// connection at once.
package apply

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// ErrNeedsPerson: the connection cannot be made valid without a new grant
// (it is marked needs_reconnect, or its token expired with no refresh
// token). The message says to run `oauthform apply`.
var ErrNeedsPerson = errors.New("needs a new authorization")

// DefaultLockWait is how long a refresh waits for another process that is
// refreshing the same connection: longer than one provider call.
const DefaultLockWait = 2 * time.Minute

// Refresher refreshes one connection's tokens safely.
type Refresher struct {
	Store state.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LockWait bounds the wait for the connection lock; 0 means
	// DefaultLockWait.
	LockWait time.Duration
	// EmergencyDir is where tokens go when the provider issued them but
	// the state write failed; "" means the state's own folder.
	EmergencyDir string
	// OnAnswer, when set, is called once the provider has answered a
	// refresh (or failed to), before the result is written: the Executor
	// uses it to let the next action talk to a provider while this one
	// writes to the state.
	OnAnswer func()
}

// Result is what Ensure did.
type Result struct {
	Record *state.Record
	// Refreshed is true when this call refreshed the token; false when it
	// was still valid (perhaps because another process just refreshed it).
	Refreshed bool
}

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Ensure makes conn's access token valid for at least minValid: under the
// connection's lock it re-reads the record and refreshes only if the token
// still expires within minValid, so concurrent callers make one refresh and
// all see its result. The new tokens (a rotated refresh token included) are
// written in one transaction before Ensure returns them. An invalid_grant
// marks the record needs_reconnect (kept, not deleted) and returns an error
// wrapping ErrNeedsPerson; any other failure is recorded as the record's
// last error, with its tokens kept.
func (r *Refresher) Ensure(ctx context.Context, conn string, client *providers.Client, minValid time.Duration) (*Result, error) {
	wait := r.LockWait
	if wait == 0 {
		wait = DefaultLockWait
	}
	release, err := r.Store.LockConn(ctx, conn, wait)
	if err != nil {
		return nil, fmt.Errorf("refreshing %s: %w", conn, err)
	}
	defer func() { _ = release() }()

	rec, err := r.Store.Get(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("refreshing %s: reading the state: %w", conn, err)
	}
	now := r.now()
	if rec.Status == state.StatusNeedsReconnect {
		return nil, needsPerson(conn, "the provider rejected its grant")
	}
	if !expiresWithin(rec, now, minValid) {
		return &Result{Record: rec}, nil
	}
	if rec.Refresh.IsZero() || !client.Profile.Refresh {
		return nil, needsPerson(conn, "its token expired and there is no refresh token")
	}

	tok, err := client.Refresh(ctx, rec.Refresh)
	if r.OnAnswer != nil {
		r.OnAnswer()
	}
	if err != nil {
		return nil, r.recordFailure(ctx, rec, err)
	}
	rec.Access = tok.AccessToken
	rec.Refresh = tok.RefreshToken
	if tok.TokenType != "" {
		rec.TokenType = tok.TokenType
	}
	rec.Expiry = tok.Expiry
	if tok.Scopes != nil {
		rec.GrantedScopes = tok.Scopes
	}
	rec.Status = state.StatusActive
	rec.LastError = nil
	rec.Refreshed = now
	// The write must not be abandoned half-way because the caller gave
	// up: the provider has answered, and with a rotating provider the old
	// refresh token is already dead.
	if err := r.Store.Put(context.WithoutCancel(ctx), rec); err != nil {
		return nil, r.saveEmergency(rec, err)
	}
	return &Result{Record: rec, Refreshed: true}, nil
}

// saveEmergency handles a state write that failed after the provider
// issued new tokens: they are the only copy, so they go to an emergency
// file, and the error says how to restore them.
func (r *Refresher) saveEmergency(rec *state.Record, writeErr error) error {
	dir := r.EmergencyDir
	if dir == "" {
		dir = filepath.Dir(r.Store.Path())
	}
	path, err := writeEmergency(dir, rec, r.now())
	if err != nil {
		return fmt.Errorf("refreshing %s: the provider issued new tokens but writing them to the state failed: %w; "+
			"saving them to an emergency file failed too (%v): the connection may need a new grant (oauthform apply)", rec.Conn, writeErr, err)
	}
	return fmt.Errorf("refreshing %s: the provider issued new tokens but writing them to the state failed: %w. "+
		"They were saved to %s (mode 0600); once the state is writable, run `oauthform state restore %s` and then delete the file",
		rec.Conn, writeErr, path, path)
}

// recordFailure writes a failed refresh into the record and returns the
// error to report.
func (r *Refresher) recordFailure(ctx context.Context, rec *state.Record, cause error) error {
	le := &state.LastError{Kind: "error", Message: cause.Error(), At: r.now()}
	var pe *providers.Error
	if errors.As(cause, &pe) {
		le.Kind, le.Code, le.Message = string(pe.Kind), pe.Code, pe.Message
	}
	rec.LastError = le
	salvaged := false
	if pe != nil && !pe.NewRefresh.IsZero() {
		// The provider rotated and its answer was otherwise unusable:
		// the old refresh token is dead, this one is the only live one.
		rec.Refresh, salvaged = pe.NewRefresh, true
	}
	reconnect := providers.NeedsReconnect(cause)
	if reconnect {
		rec.Status = state.StatusNeedsReconnect
	}
	if err := r.Store.Put(context.WithoutCancel(ctx), rec); err != nil {
		if salvaged {
			return fmt.Errorf("%w (after: %w)", r.saveEmergency(rec, err), cause)
		}
		return fmt.Errorf("refreshing %s: %w (and recording the failure in the state failed: %v)", rec.Conn, cause, err)
	}
	if salvaged {
		return fmt.Errorf("refreshing %s: %w; the answer carried a new refresh token, which was stored, so the next refresh can succeed", rec.Conn, cause)
	}
	if reconnect {
		return fmt.Errorf("%w: %w", needsPerson(rec.Conn, "the provider rejected its refresh token"), cause)
	}
	return fmt.Errorf("refreshing %s: %w", rec.Conn, cause)
}

func needsPerson(conn, why string) error {
	return fmt.Errorf("connection %s %w: %s; run `oauthform apply` to authorize it again", conn, ErrNeedsPerson, why)
}

// expiresWithin reports whether rec's access token is missing or expires
// within d of now. A token without expiry never does.
func expiresWithin(rec *state.Record, now time.Time, d time.Duration) bool {
	if rec.Access.IsZero() {
		return true
	}
	if rec.Expiry.IsZero() {
		return false
	}
	return !rec.Expiry.After(now.Add(d))
}
