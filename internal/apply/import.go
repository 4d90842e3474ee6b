package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// ErrAlreadyConnected: import over a connection that holds tokens, without
// Replace.
var ErrAlreadyConnected = errors.New("the connection already holds tokens")

// ImportRequest is a grant obtained outside oauthform, to be brought under
// management (`oauthform import`).
type ImportRequest struct {
	// Conn is the connection's name; Connection its declaration.
	Conn       string
	Connection *config.Connection
	// Client is the provider client of the connection's app (its profile
	// decides the assumed expiry).
	Client *providers.Client
	// Token is the imported grant (providers.Client.ImportToken).
	Token *providers.Token
	// Replace allows importing over a connection that holds tokens; its
	// custody and emergency files, which belong to the grant replaced,
	// are removed.
	Replace bool
	// Dir is the state's local folder (custody journal, emergency files).
	Dir string
	Now time.Time
}

// ImportResult says what Import wrote.
type ImportResult struct {
	Record *state.Record
	// ScopesAssumed: the document named no scope, so the declared scopes
	// were recorded as granted.
	ScopesAssumed bool
	// Replaced: a connected record was replaced.
	Replaced bool
}

// Import writes req's grant as the connection's record, under the
// connection's lock, so that no refresh in flight elsewhere is overwritten.
// The record matches the configuration (as a grant by apply would), so the
// next plan shows no change for it, or a refresh when it is about to
// expire. A connection that holds tokens is refused (ErrAlreadyConnected)
// unless req.Replace.
func Import(ctx context.Context, st state.Store, req ImportRequest) (*ImportResult, error) {
	lineage, err := st.Init(ctx)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", req.Conn, err)
	}
	release, err := st.LockConn(ctx, req.Conn, DefaultLockWait)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", req.Conn, err)
	}
	defer func() { _ = release() }()
	old, err := st.Get(ctx, req.Conn)
	switch {
	case errors.Is(err, state.ErrNotFound):
		old = nil
	case err != nil:
		return nil, fmt.Errorf("importing %s: reading the state: %w", req.Conn, err)
	}
	replaced := old != nil && (!old.Access.IsZero() || !old.Refresh.IsZero())
	if replaced && !req.Replace {
		return nil, fmt.Errorf("importing %s: %w; pass -replace to replace them (the grant they belong to stays valid at the provider until revoked)", req.Conn, ErrAlreadyConnected)
	}
	res := &ImportResult{Replaced: replaced}
	tok := *req.Token
	if tok.Scopes == nil {
		tok.Scopes, res.ScopesAssumed = slices.Clone(req.Connection.Scopes), true
	}
	res.Record = grantRecord(req.Conn, req.Connection, req.Client, &tok, lineage, req.Now)
	if err := st.Put(ctx, res.Record); err != nil {
		return nil, fmt.Errorf("importing %s: writing the state: %w (nothing was imported)", req.Conn, err)
	}
	if replaced && req.Dir != "" {
		if err := Forget(req.Dir, req.Conn); err != nil {
			return res, fmt.Errorf("importing %s: imported, but removing the replaced grant's custody files failed: %w", req.Conn, err)
		}
	}
	return res, nil
}

// MarkRejected records that a program's request with access was refused
// (git's `erase` after a rejected password): when access is still conn's
// access token, the record is marked expired, so that the next `token` or
// credential helper refreshes it, and the refusal is its last error. The
// grant is never deleted. It reports whether it marked the record: a
// password that is not conn's current token (an older one, or another
// helper's) changes nothing.
func MarkRejected(ctx context.Context, st state.Store, conn string, access secret.Secret, now time.Time) (bool, error) {
	release, err := st.LockConn(ctx, conn, DefaultLockWait)
	if err != nil {
		return false, fmt.Errorf("marking %s's token refused: %w", conn, err)
	}
	defer func() { _ = release() }()
	rec, err := st.Get(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("marking %s's token refused: %w", conn, err)
	}
	if access.IsZero() || !rec.Access.Equal(access) {
		return false, nil
	}
	if rec.Expiry.IsZero() || rec.Expiry.After(now) {
		rec.Expiry, rec.ExpiryAssumed = now, false
	}
	rec.LastError = &state.LastError{Kind: "rejected", Message: "a program reported the access token refused", At: now}
	if err := st.Put(ctx, rec); err != nil {
		return false, fmt.Errorf("marking %s's token refused: writing the state: %w", conn, err)
	}
	return true, nil
}
