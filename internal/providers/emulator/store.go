package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"time"
)

// store holds the grants, codes and tokens of one emulator. It is only
// touched between Server.lockStore and Server.unlockStore (which take
// Server.mu and, for a persistent server, the state file's lock), and is
// persisted by persist.go.
type store struct {
	nextGrant int
	codes     map[string]*authCode
	access    map[string]*token
	refresh   map[string]*token
}

func newStore() store {
	return store{codes: map[string]*authCode{}, access: map[string]*token{}, refresh: map[string]*token{}}
}

// grant is one user's approval of one client: every token minted from the
// same code (or the same IssueTokens call) shares it, so revoking it kills
// them all.
type grant struct {
	id       int
	clientID string
	scopes   []string
	burners  []burner // Burner: the burners connected with messages:connect
	revoked  bool
}

// authCode is an issued authorization code and what it is bound to.
type authCode struct {
	clientID     string
	redirectURI  string
	redirectSent bool // redirect_uri was in the authorize request
	scopes       []string
	challenge    string // PKCE S256 challenge, empty without PKCE
	burners      []burner
	expires      time.Time
	used         bool
	grant        *grant // the grant minted from it, once exchanged
}

// token is an access or refresh token.
type token struct {
	grant    *grant
	scopes   []string
	expires  time.Time // zero: never
	consumed bool      // a refresh token rotated away
	revoked  bool
	ended    time.Time // persistent store: when first seen consumed or revoked (for pruning)
}

// live reports whether t can be used at now.
func (t *token) live(now time.Time) bool {
	return !t.revoked && !t.consumed && !t.grant.revoked && (t.expires.IsZero() || now.Before(t.expires))
}

// burner is one entry of Burner's connected_burners node.
type burner struct {
	ID                 string  `json:"id"`
	Name               string  `json:"name"`
	Status             string  `json:"status"`
	OutgoingWebhookURL *string `json:"outgoing_webhook_url"`
}

// userBurners are the emulated Burner user's burners (undocumented shape:
// the fields BASK and go-burner read).
var userBurners = []burner{
	{ID: "b1f0c6a2-0001", Name: "Main Line", Status: "active"},
	{ID: "b1f0c6a2-0002", Name: "Side Hustle", Status: "active"},
}

// issued is what one exchange or refresh hands out.
type issued struct {
	grant     *grant
	access    string
	accessExp time.Time
	ttl       time.Duration
	refresh   string
	scopes    []string
}

// accessTTL is the lifetime of access tokens from a code exchange.
func (s *Server) accessTTL() time.Duration {
	if s.opts.AccessTTL > 0 {
		return s.opts.AccessTTL
	}
	return s.spec.accessTTL
}

// refreshedTTL is the lifetime of access tokens from a refresh.
func (s *Server) refreshedTTL() time.Duration {
	if s.opts.AccessTTL > 0 {
		return s.opts.AccessTTL
	}
	return s.spec.refreshedAccessTTL()
}

// codeTTL is the lifetime of authorization codes.
func (s *Server) codeTTL() time.Duration {
	if s.opts.CodeTTL > 0 {
		return s.opts.CodeTTL
	}
	return s.spec.codeTTL
}

// mintLocked creates a grant and its first tokens. Callers hold the store (lockStore).
func (s *Server) mintLocked(clientID string, scopes []string, burners []burner) issued {
	s.store.nextGrant++
	g := &grant{id: s.store.nextGrant, clientID: clientID, scopes: slices.Clone(scopes), burners: burners}
	out := issued{grant: g, scopes: g.scopes}
	out.access, out.accessExp, out.ttl = s.newAccessLocked(g, g.scopes, s.accessTTL())
	if s.issuesRefresh(g.scopes) {
		out.refresh = s.newRefreshLocked(g)
	}
	return out
}

// issuesRefresh reports whether a grant of scopes gets a refresh token.
func (s *Server) issuesRefresh(scopes []string) bool {
	switch s.spec.refresh {
	case refreshAlways:
		return true
	case refreshOffline:
		return slices.Contains(scopes, "offline_access")
	}
	return false
}

// newAccessLocked mints an access token of g. Callers hold the store (lockStore).
func (s *Server) newAccessLocked(g *grant, scopes []string, ttl time.Duration) (string, time.Time, time.Duration) {
	v := s.spec.newAccess()
	t := &token{grant: g, scopes: slices.Clone(scopes)}
	if ttl > 0 {
		t.expires = s.now().Add(ttl)
	}
	s.store.access[v] = t
	return v, t.expires, ttl
}

// newRefreshLocked mints a refresh token of g. Callers hold the store (lockStore).
func (s *Server) newRefreshLocked(g *grant) string {
	v := s.spec.newRefresh()
	t := &token{grant: g, scopes: g.scopes}
	if s.opts.RefreshTTL > 0 {
		t.expires = s.now().Add(s.opts.RefreshTTL)
	}
	s.store.refresh[v] = t
	return v
}

// liveAccess finds an access token that can be used now.
// The token is nil when there is none; the error is the state file's.
func (s *Server) liveAccess(v string) (*token, error) {
	if err := s.lockStore(); err != nil {
		return nil, err
	}
	t, ok := s.store.access[v]
	if !ok || !t.live(s.now()) {
		t = nil
	}
	return t, s.unlockStore()
}

const (
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// randFrom returns n random characters of alphabet (len ≤ 256), without
// modulo bias.
func randFrom(alphabet string, n int) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet)
	buf := make([]byte, n*2)
	for len(out) < n {
		_, _ = rand.Read(buf) // never fails (crypto/rand docs)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func randAlnum(n int) string      { return randFrom(alnum, n) }
func randLowerAlnum(n int) string { return randFrom(lowerAlnum, n) }

// randHex returns 2n hex digits.
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randB64 returns n random bytes, base64url without padding.
func randB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
