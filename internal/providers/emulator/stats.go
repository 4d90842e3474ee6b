package emulator

import (
	"net/http"
)

// Stats counts what an emulator has seen. It is also served as JSON at
// GET /_emulator/stats.
type Stats struct {
	// Requests counts every request except those for the stats themselves.
	Requests int `json:"requests"`
	// Authorizations counts valid authorization requests: consent pages
	// shown, or requests approved at once with AutoApprove.
	Authorizations int `json:"authorizations"`
	Approvals      int `json:"approvals"`
	Denials        int `json:"denials"`
	// Exchanges counts successful code exchanges.
	Exchanges int `json:"exchanges"`
	// Refreshes counts successful refreshes.
	Refreshes int `json:"refreshes"`
	// DeviceAuthorizations counts device codes issued (RFC 8628 §3.2);
	// DeviceTokens the device grants that ended in tokens. The person's
	// decisions count as Approvals and Denials.
	DeviceAuthorizations int `json:"device_authorizations"`
	DeviceTokens         int `json:"device_tokens"`
	// ClientCredentials counts tokens issued by the client credentials
	// grant.
	ClientCredentials int `json:"client_credentials"`
	// Revokes counts answered revocations (RFC 7009: unknown tokens too)
	// and Buffer v1 deauthorizations.
	Revokes int `json:"revokes"`
	// APICalls counts check calls answered 200.
	APICalls      int `json:"api_calls"`
	MetadataCalls int `json:"metadata_calls"`
	// Rejections counts refused requests (error pages, error redirects,
	// error responses); faults are not rejections.
	Rejections int `json:"rejections"`
	// LastRejection is a short human reason naming the rule broken last.
	LastRejection string `json:"last_rejection"`
	// Faults counts injected faults (failures, drops, invalid_grant,
	// truncated responses).
	Faults int `json:"faults"`
	// QueryTokens and BodyTokens count API calls that carried the access
	// token in the URL query or the form body (Buffer v1 accepts both; the
	// decision table says a client should use the header).
	QueryTokens int `json:"query_tokens"`
	BodyTokens  int `json:"body_tokens"`
	// LiveGrants counts grants not revoked.
	LiveGrants int `json:"live_grants"`
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	// LiveGrants reads the store; should the state file be unreadable,
	// count from the store as last loaded.
	if err := s.lockStore(); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
	} else {
		defer func() { _ = s.unlockStore() }()
	}
	st := s.stats
	seen := map[*grant]bool{}
	for _, m := range []map[string]*token{s.store.access, s.store.refresh} {
		for _, t := range m {
			if !t.grant.revoked && !seen[t.grant] {
				seen[t.grant] = true
				st.LiveGrants++
			}
		}
	}
	return st
}

// serveStats answers GET /_emulator/stats.
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	writeJSON(w, http.StatusOK, s.Stats())
}

// reject counts a refusal.
func (s *Server) reject(reason string) {
	s.mu.Lock()
	s.stats.Rejections++
	s.stats.LastRejection = reason
	s.mu.Unlock()
	s.logf("%s refused: %s", s.spec.name, reason)
}
