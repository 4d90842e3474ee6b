package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// ErrBadStateFile is returned (wrapped, with the path) by [New] when
// Options.StateFile cannot be read or does not hold an emulator's state.
var ErrBadStateFile = errors.New("unusable state file")

// stateVersion is the format version written in state files.
const stateVersion = 1

// Pruning on save (persistent emulators only): how long dead codes and
// tokens are kept, so that the file does not grow forever.
const (
	pruneCodesAfter  = time.Hour
	pruneTokensAfter = 24 * time.Hour
)

// persister keeps a server's store in a JSON file that other emulators, in
// this process or others, share. Every store transaction runs under an
// exclusive flock of path+".lock" (a separate file, so that replacing the
// data file by rename does not break the lock): it reloads the file when it
// changed, runs, and writes the file back atomically when the store changed.
type persister struct {
	path string
	lock string

	// mu serializes the server's transactions in this process and guards
	// the fields below. Lock order: mu, the flock, Server.mu.
	mu     sync.Mutex
	held   *os.File // the locked lock file, during a transaction
	loaded []byte   // the file contents the store was loaded from or saved as
	valid  bool     // the store matches loaded
}

// newPersister prepares path: its directory is created (0700) if missing.
func newPersister(path string) (*persister, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, stateErr(path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, stateErr(path, err)
	}
	return &persister{path: abs, lock: abs + ".lock"}, nil
}

// stateErr wraps an error about the state file at path.
func stateErr(path string, err error) error {
	return fmt.Errorf("%w %s: %w", ErrBadStateFile, path, err)
}

// lockStore begins a store transaction: it takes s.mu and, for a
// persistent server, first the file lock, and loads the latest state.
// Every access to s.store goes through it; end with [Server.unlockStore].
// On error nothing is held.
func (s *Server) lockStore() error {
	p := s.persist
	if p == nil {
		s.mu.Lock()
		return nil
	}
	p.mu.Lock()
	fresh, data, err := p.begin(s.spec.name)
	if err != nil {
		p.end()
		p.mu.Unlock()
		return err
	}
	s.mu.Lock()
	if fresh != nil {
		s.store = *fresh
		p.loaded, p.valid = data, true
	}
	return nil
}

// unlockStore ends a store transaction. A persistent server writes the
// store back (pruned) when it changed; the error says the write failed, and
// the changes are then lost: the next transaction reloads the file.
func (s *Server) unlockStore() error {
	p := s.persist
	if p == nil {
		s.mu.Unlock()
		return nil
	}
	defer p.mu.Unlock()
	defer p.end()
	data := encodeState(s.spec.name, &s.store)
	if bytes.Equal(data, p.loaded) {
		s.mu.Unlock()
		return nil
	}
	pruneStore(&s.store, s.now())
	data = encodeState(s.spec.name, &s.store)
	s.mu.Unlock()
	if err := writeState(p.path, data); err != nil {
		p.valid = false
		return stateErr(p.path, err)
	}
	p.loaded = data
	return nil
}

// begin takes the file lock and reads the file. fresh is the decoded store
// when it differs from the one loaded; nil when the loaded one is current.
// Callers hold p.mu and call end whatever the result.
func (p *persister) begin(provider string) (fresh *store, data []byte, err error) {
	f, err := os.OpenFile(p.lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, stateErr(p.path, err)
	}
	p.held = f
	if err := lockFile(f); err != nil {
		return nil, nil, stateErr(p.path, fmt.Errorf("locking %s: %w", p.lock, err))
	}
	data, err = os.ReadFile(p.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, stateErr(p.path, err)
	}
	if p.valid && bytes.Equal(data, p.loaded) {
		return nil, data, nil
	}
	st, err := decodeState(provider, data)
	if err != nil {
		return nil, nil, stateErr(p.path, err)
	}
	return &st, data, nil
}

// end releases the file lock, if taken.
func (p *persister) end() {
	if p.held == nil {
		return
	}
	_ = unlockFile(p.held)
	_ = p.held.Close() // closing releases the lock anyway
	p.held = nil
}

// writeState writes the state file; a variable so tests can make it fail.
var writeState = writeAtomic

// writeAtomic replaces path with data: a temporary file in the same
// directory (mode 0600), fsynced, renamed over path.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: make the rename durable
		_ = d.Close()
	}
	return nil
}

// storeFailure answers a state-file error at an OAuth endpoint.
func storeFailure(err error) *failure {
	return &failure{status: http.StatusInternalServerError, code: "server_error",
		desc: "The emulator could not read or write its state file.", reason: err.Error()}
}

// The state file format. Grants are listed once, by id; codes and tokens,
// keyed by their value, name their grant's id. Times are UTC.
type (
	stateJSON struct {
		Version   int                  `json:"version"`
		Provider  string               `json:"provider"`
		NextGrant int                  `json:"next_grant"`
		Grants    []grantJSON          `json:"grants"`
		Codes     map[string]codeJSON  `json:"codes"`
		Access    map[string]tokenJSON `json:"access"`
		Refresh   map[string]tokenJSON `json:"refresh"`
	}
	grantJSON struct {
		ID       int      `json:"id"`
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
		Burners  []burner `json:"burners,omitempty"`
		Revoked  bool     `json:"revoked,omitempty"`
	}
	codeJSON struct {
		ClientID     string    `json:"client_id"`
		RedirectURI  string    `json:"redirect_uri"`
		RedirectSent bool      `json:"redirect_sent,omitempty"`
		Scopes       []string  `json:"scopes"`
		Challenge    string    `json:"challenge,omitempty"`
		Burners      []burner  `json:"burners,omitempty"`
		Expires      time.Time `json:"expires"`
		Used         bool      `json:"used,omitempty"`
		Grant        int       `json:"grant,omitempty"` // 0: not exchanged yet
	}
	tokenJSON struct {
		Grant    int       `json:"grant"`
		Scopes   []string  `json:"scopes"`
		Expires  time.Time `json:"expires,omitzero"`
		Consumed bool      `json:"consumed,omitempty"`
		Revoked  bool      `json:"revoked,omitempty"`
		Ended    time.Time `json:"ended,omitzero"`
	}
)

// encodeState renders st canonically: the same store always gives the
// same bytes, so comparing them tells whether a transaction changed it.
func encodeState(provider string, st *store) []byte {
	out := stateJSON{
		Version: stateVersion, Provider: provider, NextGrant: st.nextGrant,
		Codes:   make(map[string]codeJSON, len(st.codes)),
		Access:  make(map[string]tokenJSON, len(st.access)),
		Refresh: make(map[string]tokenJSON, len(st.refresh)),
	}
	grants := map[int]*grant{}
	for v, c := range st.codes {
		cj := codeJSON{
			ClientID: c.clientID, RedirectURI: c.redirectURI, RedirectSent: c.redirectSent, Scopes: c.scopes,
			Challenge: c.challenge, Burners: c.burners, Expires: c.expires.UTC(), Used: c.used,
		}
		if c.grant != nil {
			cj.Grant = c.grant.id
			grants[c.grant.id] = c.grant
		}
		out.Codes[v] = cj
	}
	for _, m := range []struct {
		from map[string]*token
		to   map[string]tokenJSON
	}{{st.access, out.Access}, {st.refresh, out.Refresh}} {
		for v, t := range m.from {
			m.to[v] = tokenJSON{Grant: t.grant.id, Scopes: t.scopes, Expires: t.expires.UTC(),
				Consumed: t.consumed, Revoked: t.revoked, Ended: t.ended.UTC()}
			grants[t.grant.id] = t.grant
		}
	}
	ids := slices.Sorted(maps.Keys(grants))
	out.Grants = make([]grantJSON, 0, len(ids))
	for _, id := range ids {
		g := grants[id]
		out.Grants = append(out.Grants, grantJSON{ID: g.id, ClientID: g.clientID, Scopes: g.scopes, Burners: g.burners, Revoked: g.revoked})
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic("emulator: encoding state: " + err.Error()) // plain data: cannot fail
	}
	return append(b, '\n')
}

// decodeState reads a state file; empty data is an empty store.
func decodeState(provider string, data []byte) (store, error) {
	st := newStore()
	if len(bytes.TrimSpace(data)) == 0 {
		return st, nil
	}
	var in stateJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return store{}, fmt.Errorf("corrupt state: %w", err)
	}
	if in.Version != stateVersion {
		return store{}, fmt.Errorf("state format version %d, want %d", in.Version, stateVersion)
	}
	if in.Provider != provider {
		return store{}, fmt.Errorf("state of the %q emulator, not %q", in.Provider, provider)
	}
	st.nextGrant = in.NextGrant
	grants := make(map[int]*grant, len(in.Grants))
	for _, g := range in.Grants {
		if g.ID <= 0 || g.ID > in.NextGrant || grants[g.ID] != nil {
			return store{}, fmt.Errorf("corrupt state: bad or repeated grant id %d", g.ID)
		}
		grants[g.ID] = &grant{id: g.ID, clientID: g.ClientID, scopes: g.Scopes, burners: g.Burners, revoked: g.Revoked}
	}
	for v, c := range in.Codes {
		ac := &authCode{
			clientID: c.ClientID, redirectURI: c.RedirectURI, redirectSent: c.RedirectSent, scopes: c.Scopes,
			challenge: c.Challenge, burners: c.Burners, expires: c.Expires, used: c.Used,
		}
		if c.Grant != 0 {
			if ac.grant = grants[c.Grant]; ac.grant == nil {
				return store{}, fmt.Errorf("corrupt state: a code names unknown grant %d", c.Grant)
			}
		}
		st.codes[v] = ac
	}
	for _, m := range []struct {
		from map[string]tokenJSON
		to   map[string]*token
	}{{in.Access, st.access}, {in.Refresh, st.refresh}} {
		for v, t := range m.from {
			g := grants[t.Grant]
			if g == nil {
				return store{}, fmt.Errorf("corrupt state: a token names unknown grant %d", t.Grant)
			}
			m.to[v] = &token{grant: g, scopes: t.Scopes, expires: t.Expires, consumed: t.Consumed, revoked: t.Revoked, ended: t.Ended}
		}
	}
	return st, nil
}

// pruneStore drops what can no longer matter: codes expired more than
// pruneCodesAfter ago, and tokens expired, or consumed or revoked (the
// token or its grant), more than pruneTokensAfter ago. The moment a token
// is first seen dead is recorded in its ended field. Grants go with their
// last code and token.
func pruneStore(st *store, now time.Time) {
	for v, c := range st.codes {
		if now.Sub(c.expires) > pruneCodesAfter {
			delete(st.codes, v)
		}
	}
	for _, m := range []map[string]*token{st.access, st.refresh} {
		for v, t := range m {
			if t.ended.IsZero() && (t.consumed || t.revoked || t.grant.revoked) {
				t.ended = now
			}
			if (!t.ended.IsZero() && now.Sub(t.ended) > pruneTokensAfter) ||
				(!t.expires.IsZero() && now.Sub(t.expires) > pruneTokensAfter) {
				delete(m, v)
			}
		}
	}
}
