package emulator

import (
	"fmt"
	"slices"
	"strings"
)

// IssueTokens mints a grant directly, as if the user had approved clientID
// for scopes, so tests can reach a state without walking a browser flow.
// The scopes are checked like an authorization request's (an empty list
// means the provider's default); Burner grants with messages:connect get
// the user's first burner connected.
func (s *Server) IssueTokens(clientID string, scopes []string) (TokenSet, error) {
	if _, ok := s.client(clientID); !ok {
		return TokenSet{}, fmt.Errorf("emulator: %s: %w %q", s.spec.name, ErrUnknownClient, clientID)
	}
	granted, fail := s.checkScopes(strings.Join(scopes, " "))
	if fail != nil {
		return TokenSet{}, fmt.Errorf("emulator: %s: %w: %s", s.spec.name, ErrInvalidScope, fail.desc)
	}
	var burners []burner
	if s.spec.name == "burner" && slices.Contains(granted, "messages:connect") {
		burners = []burner{userBurners[0]}
	}
	if err := s.lockStore(); err != nil {
		return TokenSet{}, fmt.Errorf("emulator: %s: %w", s.spec.name, err)
	}
	iss := s.mintLocked(clientID, granted, burners)
	if err := s.unlockStore(); err != nil {
		return TokenSet{}, fmt.Errorf("emulator: %s: %w", s.spec.name, err)
	}
	return TokenSet{AccessToken: iss.access, RefreshToken: iss.refresh, ExpiresAt: iss.accessExp}, nil
}

// RevokeGrants revokes every grant the emulator has issued, as a person
// removing the app's access in the provider's own settings does: every
// token of those grants dies (refreshes answer invalid_grant, API calls
// 401), and no revocation request counts in the stats. It returns how many
// grants it revoked.
func (s *Server) RevokeGrants() (int, error) {
	if err := s.lockStore(); err != nil {
		return 0, fmt.Errorf("emulator: %s: %w", s.spec.name, err)
	}
	seen := map[*grant]bool{}
	for _, m := range []map[string]*token{s.store.access, s.store.refresh} {
		for _, t := range m {
			if !t.grant.revoked && !seen[t.grant] {
				seen[t.grant] = true
				t.grant.revoked = true
			}
		}
	}
	if err := s.unlockStore(); err != nil {
		return 0, fmt.Errorf("emulator: %s: %w", s.spec.name, err)
	}
	return len(seen), nil
}

// DisconnectBurners disconnects every burner from every grant, as a Burner
// user does in the app (or by deleting the burner): the grants stay valid,
// and GET /v1/burners of a messages:connect grant then lists none. It
// returns how many grants had burners.
func (s *Server) DisconnectBurners() (int, error) {
	if err := s.lockStore(); err != nil {
		return 0, fmt.Errorf("emulator: %s: %w", s.spec.name, err)
	}
	seen := map[*grant]bool{}
	for _, m := range []map[string]*token{s.store.access, s.store.refresh} {
		for _, t := range m {
			if len(t.grant.burners) > 0 && !seen[t.grant] {
				seen[t.grant] = true
				t.grant.burners = nil
			}
		}
	}
	if err := s.unlockStore(); err != nil {
		return 0, fmt.Errorf("emulator: %s: %w", s.spec.name, err)
	}
	return len(seen), nil
}
