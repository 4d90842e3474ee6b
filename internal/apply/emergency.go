package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// An emergency file holds tokens a provider issued that could not be
// written to the state. With a rotating provider the old refresh token is
// dead the moment the provider answers, so these tokens are the only way
// back in without a new grant: they go to a 0600 file next to the state,
// and `oauthform state restore FILE` puts them in the state later.

// emergencyFormat is the format tag of an emergency file.
const emergencyFormat = "oauthform-emergency/v1"

// emergencyTokens is the content of an emergency file. It is written by
// hand (not as a state.Record) so that a file stays readable whatever the
// state's encoding, and holds only what a restore needs.
type emergencyTokens struct {
	Format        string    `json:"format"`
	Conn          string    `json:"connection"`
	Provider      string    `json:"provider"`
	ClientID      string    `json:"client_id"`
	Written       time.Time `json:"written"`
	AccessToken   string    `json:"access_token"`
	RefreshToken  string    `json:"refresh_token,omitempty"`
	TokenType     string    `json:"token_type,omitempty"`
	Expiry        time.Time `json:"expiry,omitzero"`
	ExpiryAssumed bool      `json:"expiry_assumed,omitempty"`
	GrantedScopes []string  `json:"granted_scopes,omitempty"`
	// The grant's settings, so that a restore can recreate the record of
	// a new grant the state could not take.
	RedirectURI   string            `json:"redirect_uri,omitempty"`
	Scopes        []string          `json:"scopes,omitempty"`
	Params        map[string]string `json:"params,omitempty"`
	RefreshBefore string            `json:"refresh_before,omitempty"`
	Created       time.Time         `json:"created,omitzero"`
}

// writeEmergency writes rec's tokens to a new 0600 file in dir and returns
// its path.
func writeEmergency(dir string, rec *state.Record, now time.Time) (string, error) {
	e := emergencyTokens{
		Format: emergencyFormat, Conn: rec.Conn, Provider: rec.Provider, ClientID: rec.ClientID,
		Written: now.UTC(), AccessToken: rec.Access.Reveal(), RefreshToken: rec.Refresh.Reveal(),
		TokenType: rec.TokenType, Expiry: rec.Expiry, ExpiryAssumed: rec.ExpiryAssumed, GrantedScopes: rec.GrantedScopes,
		RedirectURI: rec.RedirectURI, Scopes: rec.Scopes, Params: rec.Params, Created: rec.Created,
	}
	if rec.RefreshBefore != 0 {
		e.RefreshBefore = rec.RefreshBefore.String()
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding the emergency file: %w", err)
	}
	name := fmt.Sprintf("oauthform-emergency-%s-%s.json", safeName(rec.Conn), now.UTC().Format("20060102T150405.000000000Z"))
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating the emergency file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("writing the emergency file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("writing the emergency file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing the emergency file %s: %w", path, err)
	}
	return path, nil
}

// safeName keeps a connection name usable in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// ErrStaleEmergency: the state already holds tokens newer than the
// emergency file's.
var ErrStaleEmergency = errors.New("the state holds newer tokens than the emergency file")

// emergencyFile is an emergency file found next to the state.
type emergencyFile struct {
	path   string
	tokens *emergencyTokens
}

// emergencyFiles returns conn's emergency files in dir, oldest first.
func emergencyFiles(dir, conn string) ([]emergencyFile, error) {
	names, err := filepath.Glob(filepath.Join(dir, "oauthform-emergency-"+safeName(conn)+"-*.json"))
	if err != nil {
		return nil, fmt.Errorf("looking for emergency files: %w", err)
	}
	var out []emergencyFile
	for _, n := range names {
		e, err := readEmergency(n)
		if err != nil {
			return nil, err
		}
		if e.Conn == conn {
			out = append(out, emergencyFile{path: n, tokens: e})
		}
	}
	slices.SortFunc(out, func(a, b emergencyFile) int { return a.tokens.Written.Compare(b.tokens.Written) })
	return out, nil
}

// EmergencyFiles returns every emergency file in dir by connection, for
// show and plan to report.
func EmergencyFiles(dir string) (map[string][]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "oauthform-emergency-*.json"))
	if err != nil {
		return nil, fmt.Errorf("looking for emergency files: %w", err)
	}
	out := map[string][]string{}
	for _, n := range names {
		e, err := readEmergency(n)
		if err != nil {
			return nil, err
		}
		out[e.Conn] = append(out[e.Conn], n)
	}
	return out, nil
}

func readEmergency(path string) (*emergencyTokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the emergency file: %w", err)
	}
	var e emergencyTokens
	if err := json.Unmarshal(b, &e); err != nil || e.Format != emergencyFormat || e.Conn == "" || e.AccessToken == "" {
		return nil, fmt.Errorf("%s is not an oauthform emergency file", path)
	}
	return &e, nil
}

// newRecord is the record of the grant the file saved, without tokens
// (apply puts them in) and without the client secret's fingerprint (the
// next apply records it as an update).
func (e *emergencyTokens) newRecord() *state.Record {
	rec := &state.Record{Conn: e.Conn, Provider: e.Provider, ClientID: e.ClientID, RedirectURI: e.RedirectURI,
		Scopes: slices.Clone(e.Scopes), Params: maps.Clone(e.Params), Created: e.Created}
	if d, err := time.ParseDuration(e.RefreshBefore); err == nil {
		rec.RefreshBefore = d
	}
	return rec
}

// apply puts the file's tokens into rec.
func (e *emergencyTokens) apply(rec *state.Record) {
	rec.Access, rec.Refresh = secret.New(e.AccessToken), secret.New(e.RefreshToken)
	if e.TokenType != "" {
		rec.TokenType = e.TokenType
	}
	rec.Expiry, rec.ExpiryAssumed = e.Expiry, e.ExpiryAssumed
	if e.GrantedScopes != nil {
		rec.GrantedScopes = slices.Clone(e.GrantedScopes)
	}
	rec.Status, rec.LastError, rec.Refreshed, rec.InFlight = state.StatusActive, nil, e.Written, nil
}

// removeSecretFile overwrites a file holding tokens with zeros and deletes
// it (best effort: it is applied already).
func removeSecretFile(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		if st, err := f.Stat(); err == nil {
			_, _ = f.WriteAt(make([]byte, st.Size()), 0)
			_ = f.Sync()
		}
		_ = f.Close()
	}
	_ = os.Remove(path)
}

// Restore puts the tokens of the emergency file or custody file at path
// into the state, under the connection's lock, and returns the
// connection's name. The record must still exist and belong to the same
// provider and client (an emergency file) or grant (a custody file); it is
// not overwritten when it holds newer tokens than the file
// (ErrStaleEmergency), unless force is set.
func Restore(ctx context.Context, st state.Store, path string, force bool) (string, error) {
	if e, err := readCustody(path); err == nil {
		return e.Conn, restoreCustody(ctx, st, e, force)
	}
	e, err := readEmergency(path)
	if err != nil {
		return "", err
	}
	release, err := st.LockConn(ctx, e.Conn, DefaultLockWait)
	if err != nil {
		return e.Conn, fmt.Errorf("restoring %s: %w", e.Conn, err)
	}
	defer func() { _ = release() }()
	rec, err := st.Get(ctx, e.Conn)
	if errors.Is(err, state.ErrNotFound) && !e.Created.IsZero() {
		// A new grant the state could not take: the file recreates it.
		rec, err = e.newRecord(), nil
	}
	if err != nil {
		return e.Conn, fmt.Errorf("restoring %s: %w", e.Conn, err)
	}
	if rec.Provider != e.Provider || rec.ClientID != e.ClientID {
		return e.Conn, fmt.Errorf("restoring %s: the file's tokens are for %s client %q, the state's connection is %s client %q",
			e.Conn, e.Provider, e.ClientID, rec.Provider, rec.ClientID)
	}
	if !force && rec.Refreshed.After(e.Written) {
		return e.Conn, fmt.Errorf("restoring %s: %w (refreshed %s, file written %s); use -force to restore anyway",
			e.Conn, ErrStaleEmergency, rec.Refreshed.UTC().Format(time.RFC3339), e.Written.Format(time.RFC3339))
	}
	e.apply(rec)
	if err := st.Put(ctx, rec); err != nil {
		return e.Conn, fmt.Errorf("restoring %s: %w", e.Conn, err)
	}
	return e.Conn, nil
}

// restoreCustody replays the answer kept in a custody file.
func restoreCustody(ctx context.Context, st state.Store, e *CustodyEntry, force bool) error {
	cust, ok := st.(state.Custodian)
	if !ok {
		return fmt.Errorf("restoring %s: this state backend keeps no custody journal", e.Conn)
	}
	if !e.Answered() {
		return fmt.Errorf("restoring %s: the custody file %s holds no answer: its refresh was sent %s and never answered", e.Conn, e.Path, &e.Flight)
	}
	release, err := st.LockConn(ctx, e.Conn, DefaultLockWait)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", e.Conn, err)
	}
	defer func() { _ = release() }()
	rec, err := st.Get(ctx, e.Conn)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", e.Conn, err)
	}
	newer, err := cust.OpenRecord(ctx, e.Conn, e.Lineage, e.Record)
	if err != nil {
		return fmt.Errorf("restoring %s from %s: %w", e.Conn, e.Path, err)
	}
	if !e.Grant.Equal(rec.Created) && !force {
		return fmt.Errorf("restoring %s: the custody file belongs to a grant made %s, the state's connection was granted %s; use -force to restore anyway",
			e.Conn, e.Grant.UTC().Format(time.RFC3339), rec.Created.UTC().Format(time.RFC3339))
	}
	if rec.Generation >= e.Generation && !force {
		return fmt.Errorf("restoring %s: %w (generation %d in the state, %d in the file); use -force to restore anyway",
			e.Conn, ErrStaleEmergency, rec.Generation, e.Generation)
	}
	adopt(rec, newer, e.Generation, e.AnsweredAt)
	if err := st.Put(ctx, rec); err != nil {
		return fmt.Errorf("restoring %s: %w", e.Conn, err)
	}
	return nil
}
