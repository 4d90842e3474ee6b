package emulator

import (
	"fmt"
	"net/http"
)

// revokeRFC serves an RFC 7009 revocation endpoint (sms77/seven /revoke,
// buffer_v2 /token/revocation, oauth2 /revoke), with the same client
// authentication as the provider's token endpoint. Unknown tokens are
// answered 200 (§2.2). Revoking a refresh token revokes the whole grant, so
// its access tokens die with it; revoking an access token revokes only it.
// A token_type_hint other than access_token or refresh_token is refused with
// unsupported_token_type.
func (s *Server) revokeRFC(w http.ResponseWriter, r *http.Request, body []byte) {
	f, c, fail := s.clientForm(r, body)
	if fail == nil {
		fail = s.revokeToken(c, f.get("token"), f.get("token_type_hint"))
	}
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// revokeToken revokes one token of client c.
func (s *Server) revokeToken(c Client, tok, hint string) *failure {
	if tok == "" {
		return invalidRequest("token", "token is required.", "revocation request without token")
	}
	if hint != "" && hint != "access_token" && hint != "refresh_token" {
		return &failure{status: http.StatusBadRequest, code: "unsupported_token_type", param: "token_type_hint",
			desc: "Unsupported token_type_hint.", reason: fmt.Sprintf("token_type_hint %q is neither access_token nor refresh_token (RFC 7009 §2.1)", hint)}
	}
	if err := s.lockStore(); err != nil {
		return storeFailure(err)
	}
	fail := s.revokeLocked(c, tok)
	if err := s.unlockStore(); err != nil && fail == nil {
		return storeFailure(err)
	}
	return fail
}

// revokeLocked revokes one token of client c. Callers hold the store.
func (s *Server) revokeLocked(c Client, tok string) *failure {
	t, refresh := s.store.refresh[tok], true
	if t == nil {
		t, refresh = s.store.access[tok], false
	}
	if t != nil && t.grant.clientID != c.ID {
		return &failure{status: http.StatusBadRequest, code: "unauthorized_client", param: "token",
			desc: "The token was issued to another client.", reason: "revocation of a token issued to another client (RFC 7009 §2.1)"}
	}
	switch {
	case t == nil:
		// §2.2: invalid tokens do not cause an error.
	case refresh:
		t.grant.revoked = true
	default:
		t.revoked = true
	}
	s.stats.Revokes++
	return nil
}

// deauthorizeBufferV1 serves POST /1/user/deauthorize.json: it revokes the
// grant of the access token that authenticates the call. The answer body is
// undocumented; {"success":true} matches Buffer v1's API style.
func (s *Server) deauthorizeBufferV1(w http.ResponseWriter, r *http.Request, body []byte) {
	tok, ok := s.bearerValue(w, r, body)
	if !ok {
		return
	}
	if err := s.lockStore(); err != nil {
		s.apiFail(w, http.StatusInternalServerError, "server_error", "The emulator could not read its state file.", err.Error())
		return
	}
	// Look the token up again in this transaction: a persistent store may
	// have been reloaded since the check.
	t, live := s.store.access[tok]
	if live = live && t.live(s.now()); live {
		t.grant.revoked = true
		s.stats.Revokes++
	}
	if err := s.unlockStore(); err != nil {
		s.apiFail(w, http.StatusInternalServerError, "server_error", "The emulator could not write its state file.", err.Error())
		return
	}
	if !live {
		s.apiFail(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.", "API call with an invalid, expired or revoked access token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Client deauthorized"})
}
