package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// stdToken is the RFC 6749 §5.1 response, fields in the order of the sms77
// seed's sample.
type stdToken struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// tokenStandard serves the token endpoint of sms77, seven, buffer_v2 and
// oauth2: code exchange and refresh on one path, and for oauth2 the device
// code (RFC 8628 §3.4) and client credentials (RFC 6749 §4.4) grants.
func (s *Server) tokenStandard(w http.ResponseWriter, r *http.Request, body []byte) {
	f, c, fail := s.clientForm(r, body)
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	var iss issued
	switch gt := f.get("grant_type"); gt {
	case "authorization_code":
		if f.get("code") == "" {
			fail = invalidRequest("code", "code is required.", "code exchange without code")
			break
		}
		iss, fail = s.redeem(redeemRequest{
			clientID: c.ID, code: f.get("code"),
			redirectURI: f.get("redirect_uri"), redirectSent: f.has("redirect_uri"),
			verifier: f.get("code_verifier"), verifierSent: f.has("code_verifier"),
		})
	case "refresh_token":
		if f.get("refresh_token") == "" {
			fail = invalidRequest("refresh_token", "refresh_token is required.", "refresh without refresh_token")
			break
		}
		iss, fail = s.useRefresh(refreshRequest{
			clientID: c.ID, token: f.get("refresh_token"), scope: f.get("scope"), scopeSent: f.has("scope"),
		})
	case deviceGrantType:
		if !s.spec.deviceGrant {
			fail = unsupportedGrant(gt, s.spec.name)
			break
		}
		iss, fail = s.deviceToken(c, f)
	case "client_credentials":
		if !s.spec.clientCredentials {
			fail = unsupportedGrant(gt, s.spec.name)
			break
		}
		iss, fail = s.clientCredentialsToken(c, f)
	case "":
		fail = invalidRequest("grant_type", "grant_type is required.", "token request without grant_type")
	default:
		fail = unsupportedGrant(gt, s.spec.name)
	}
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	writeToken(w, stdToken{
		AccessToken: iss.access, ExpiresIn: int64(iss.ttl.Seconds()), TokenType: "Bearer",
		Scope: strings.Join(iss.scopes, " "), RefreshToken: iss.refresh,
	})
}

// unsupportedGrant refuses a grant type the provider does not offer.
func unsupportedGrant(gt, provider string) *failure {
	return &failure{status: http.StatusBadRequest, code: "unsupported_grant_type", param: "grant_type",
		desc: "Unsupported grant_type.", reason: fmt.Sprintf("grant_type %q is not supported by %s", gt, provider)}
}

// writeToken answers a successful token response (RFC 6749 §5.1).
func writeToken(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, v)
}

// redeemRequest is a code exchange, as read from the provider's parameters.
type redeemRequest struct {
	clientID     string
	code         string
	redirectURI  string
	redirectSent bool
	verifier     string
	verifierSent bool
}

// redeem checks a code against everything it is bound to, consumes it and
// mints the grant. A reused code is refused; where the provider's server
// revokes on reuse (buffer_v2's node-oidc-provider, oauth2 following the
// RFC 6749 §4.1.2 SHOULD), the tokens minted from it are revoked too. The
// legacy providers simply delete used codes, so reuse only fails.
func (s *Server) redeem(q redeemRequest) (iss issued, fail *failure) {
	if err := s.lockStore(); err != nil {
		return issued{}, storeFailure(err)
	}
	defer func() {
		if err := s.unlockStore(); err != nil && fail == nil {
			iss, fail = issued{}, storeFailure(err)
		}
	}()
	ac, ok := s.store.codes[q.code]
	switch {
	case !ok:
		return issued{}, invalidGrant("code", "The authorization code is invalid.", "unknown authorization code")
	case ac.used:
		reason := "authorization code reused"
		if s.spec.codeReuseRevokes && ac.grant != nil {
			ac.grant.revoked = true
			reason += "; the tokens issued from it are revoked"
		}
		return issued{}, invalidGrant("code", "The authorization code was already used.", reason)
	case !s.now().Before(ac.expires):
		return issued{}, invalidGrant("code", "The authorization code has expired.", fmt.Sprintf("authorization code expired (lifetime %s)", s.codeTTL()))
	case ac.clientID != q.clientID:
		return issued{}, invalidGrant("code", "The authorization code was issued to another client.", "authorization code of another client")
	}
	if fail := s.checkRedirect(ac, q); fail != nil {
		return issued{}, fail
	}
	if fail := s.checkVerifier(ac, q); fail != nil {
		return issued{}, fail
	}
	ac.used = true
	iss = s.mintLocked(ac.clientID, ac.scopes, ac.burners)
	ac.grant = iss.grant
	s.stats.Exchanges++
	return iss, nil
}

// checkRedirect applies the provider's redirect_uri binding.
func (s *Server) checkRedirect(ac *authCode, q redeemRequest) *failure {
	mismatch := invalidGrant("code", "The redirect_uri does not match the authorization request.",
		fmt.Sprintf("redirect_uri %q differs from the authorization request's", q.redirectURI))
	switch s.spec.redirect {
	case redirectExact:
		if !q.redirectSent {
			return invalidRequest("redirect_uri", "redirect_uri is required.", "code exchange without redirect_uri")
		}
		if q.redirectURI != ac.redirectURI {
			return mismatch
		}
	case redirectRFC:
		if ac.redirectSent && !q.redirectSent {
			return invalidGrant("redirect_uri", "redirect_uri is required because the authorization request had one.",
				"code exchange without the redirect_uri the authorization request had (RFC 6749 §4.1.3)")
		}
		if q.redirectSent && q.redirectURI != ac.redirectURI {
			return mismatch
		}
	}
	return nil
}

// checkVerifier verifies PKCE (RFC 7636 §4.6).
func (s *Server) checkVerifier(ac *authCode, q redeemRequest) *failure {
	if ac.challenge == "" {
		if q.verifierSent && s.spec.name == "oauth2" {
			return invalidRequest("code_verifier", "code_verifier sent, but the authorization request had no code_challenge.",
				"code_verifier without a code_challenge (PKCE downgrade, RFC 9700 §2.1.1)")
		}
		return nil
	}
	if q.verifier == "" {
		return invalidGrant("code_verifier", "code_verifier is required.", "code exchange without code_verifier although the authorization request had a code_challenge")
	}
	if !validVerifier(q.verifier) {
		return invalidGrant("code_verifier", "Malformed code_verifier.", "malformed code_verifier (RFC 7636 §4.1: 43-128 unreserved characters)")
	}
	sum := sha256.Sum256([]byte(q.verifier))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != ac.challenge {
		return invalidGrant("code_verifier", "PKCE verification failed.", "code_verifier does not match the code_challenge (S256)")
	}
	return nil
}

// validVerifier checks RFC 7636 §4.1: 43-128 characters of [A-Za-z0-9-._~].
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', strings.ContainsRune("-._~", c):
		default:
			return false
		}
	}
	return true
}

// refreshRequest is a refresh, as read from the provider's parameters.
type refreshRequest struct {
	clientID  string
	token     string
	scope     string
	scopeSent bool
}

// useRefresh redeems a refresh token (RFC 6749 §6). With rotation the old
// refresh token is consumed; where the provider detects reuse (buffer_v2),
// presenting a consumed one revokes every token of the grant.
func (s *Server) useRefresh(q refreshRequest) (iss issued, fail *failure) {
	if err := s.lockStore(); err != nil {
		return issued{}, storeFailure(err)
	}
	defer func() {
		if err := s.unlockStore(); err != nil && fail == nil {
			iss, fail = issued{}, storeFailure(err)
		}
	}()
	t, ok := s.store.refresh[q.token]
	bad := func(desc, reason string) (issued, *failure) {
		return issued{}, invalidGrant("refresh_token", desc, reason)
	}
	switch {
	case !ok:
		return bad("The refresh token is invalid.", "unknown refresh token")
	case t.grant.clientID != q.clientID:
		return bad("The refresh token was issued to another client.", "refresh token of another client")
	case t.consumed:
		if s.spec.reuseRevokes {
			t.grant.revoked = true
			return bad("The refresh token was already used; the grant is revoked.", "rotated refresh token reused: every token of the grant is revoked")
		}
		return bad("The refresh token was already used.", "rotated refresh token reused")
	case t.revoked || t.grant.revoked:
		return bad("The refresh token was revoked.", "refresh token revoked")
	case !t.live(s.now()):
		return bad("The refresh token has expired.", "refresh token expired")
	}
	scopes := t.grant.scopes
	if q.scopeSent && q.scope != "" {
		scopes = nil
		for _, sc := range s.spec.scopeSplit(q.scope) {
			if !slices.Contains(t.grant.scopes, sc) {
				return issued{}, &failure{status: http.StatusBadRequest, code: "invalid_scope", param: "scope",
					desc: "The requested scope exceeds the original grant.", reason: fmt.Sprintf("refresh asks for scope %q beyond the grant (RFC 6749 §6)", sc)}
			}
			scopes = append(scopes, sc)
		}
	}
	out := issued{grant: t.grant, scopes: scopes}
	out.access, out.accessExp, out.ttl = s.newAccessLocked(t.grant, scopes, s.refreshedTTL())
	if s.rotate() {
		t.consumed = true
		out.refresh = s.newRefreshLocked(t.grant)
	}
	s.stats.Refreshes++
	return out, nil
}
