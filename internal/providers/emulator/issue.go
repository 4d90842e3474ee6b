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
