package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// authRequest is a validated authorization request (RFC 6749 §4.1.1).
type authRequest struct {
	clientID     string
	redirectURI  string // the one used: sent, or the single registered one
	redirectSent bool
	responseType string
	typeSent     bool
	scopeRaw     string
	scopeSent    bool
	scopes       []string
	state        string
	stateSent    bool
	challenge    string
	method       string
	burnerID     string
	ownerType    string
	ownerSent    bool
}

// hidden lists the request's parameters as the consent form carries them.
func (ar *authRequest) hidden() [][2]string {
	var out [][2]string
	add := func(ok bool, k, v string) {
		if ok {
			out = append(out, [2]string{k, v})
		}
	}
	add(true, "client_id", ar.clientID)
	add(ar.redirectSent, "redirect_uri", ar.redirectURI)
	add(ar.typeSent, "response_type", ar.responseType)
	add(ar.scopeSent, "scope", ar.scopeRaw)
	add(ar.stateSent, "state", ar.state)
	add(ar.challenge != "", "code_challenge", ar.challenge)
	add(ar.challenge != "", "code_challenge_method", ar.method)
	add(ar.burnerID != "", "burner_id", ar.burnerID)
	add(ar.ownerSent, "owner_type", ar.ownerType)
	return out
}

// ticket is a consent page waiting for the user's decision.
type ticket struct {
	req     authRequest
	expires time.Time
}

// ticketTTL is how long a consent page stays valid.
const ticketTTL = 10 * time.Minute

// handleAuthorize serves GET authorize (validate, then consent page or
// auto-approval) and POST authorize (the consent form's decision).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method == http.MethodPost {
		s.handleDecision(w, r, body)
		return
	}
	q, err := parseURLEncoded(r.URL.RawQuery)
	if err != nil {
		s.pageError(w, "The authorization request URL is malformed.", "malformed authorize query: "+err.Error())
		return
	}
	ar, fail, redirect := s.validateAuthorize(q)
	if fail != nil {
		if !redirect {
			s.pageError(w, fail.desc, fail.why())
			return
		}
		s.reject(fail.why())
		s.redirectError(w, r, &ar, fail.code, fail.desc)
		return
	}
	s.mu.Lock()
	s.stats.Authorizations++
	s.mu.Unlock()
	if s.opts.AutoApprove {
		s.approve(w, r, &ar, nil)
		return
	}
	s.showConsent(w, r, &ar)
}

// validateAuthorize checks an authorization request. redirect says whether
// a failure goes back to the client (true) or to an error page (false: the
// client or redirect URI cannot be trusted, RFC 6749 §4.1.2.1).
func (s *Server) validateAuthorize(q *form) (ar authRequest, fail *failure, redirect bool) {
	sp := s.spec
	for _, p := range []string{"client_id", "redirect_uri"} {
		if q.dups[p] {
			return ar, invalidRequest(p, p+" was sent more than once.", "authorize request repeats "+p), false
		}
	}
	ar.clientID = q.get("client_id")
	if ar.clientID == "" {
		return ar, invalidRequest("client_id", "The request has no client_id.", "authorize request without client_id"), false
	}
	c, ok := s.client(ar.clientID)
	if !ok {
		desc := "Unknown client_id."
		if sp.errs == shapePhoneBurner {
			desc = "invalid client_id: " + ar.clientID
		}
		return ar, invalidRequest("client_id", desc, fmt.Sprintf("authorize request with unknown client_id %q", ar.clientID)), false
	}
	if fail := s.bindRedirect(q, c, &ar); fail != nil {
		return ar, fail, false
	}
	ar.state, ar.stateSent = q.get("state"), q.has("state")
	if q.dup != "" {
		return ar, invalidRequest(q.dup, q.dup+" was sent more than once.", "authorize request repeats "+q.dup+" (RFC 6749 §3.1)"), true
	}
	if fail := s.checkResponseType(q, &ar); fail != nil {
		return ar, fail, true
	}
	ar.scopeRaw, ar.scopeSent = q.get("scope"), q.has("scope")
	if ar.scopes, fail = s.checkScopes(ar.scopeRaw); fail != nil {
		return ar, fail, true
	}
	if ar.challenge, ar.method, fail = s.checkPKCE(q, c); fail != nil {
		return ar, fail, true
	}
	if fail := s.checkExtraParams(q, &ar); fail != nil {
		return ar, fail, true
	}
	return ar, nil, true
}

// bindRedirect matches redirect_uri against the client's registered URIs by
// exact string comparison.
func (s *Server) bindRedirect(q *form, c Client, ar *authRequest) *failure {
	ru := q.get("redirect_uri")
	switch {
	case ru != "":
		if !slices.Contains(c.RedirectURIs, ru) {
			return invalidRequest("redirect_uri", "The redirect_uri does not match the one registered for this client.",
				fmt.Sprintf("redirect_uri %q is not registered for client %q (exact string match)", ru, c.ID))
		}
		if s.spec.rawRedirectEncoded && strings.ContainsAny(q.raw["redirect_uri"], ":/") {
			return invalidRequest("redirect_uri", "The redirect_uri parameter must be urlencoded.",
				"redirect_uri not URL-encoded in the authorize URL (PhoneBurner: \"This parameter must be urlencoded\")")
		}
		ar.redirectURI, ar.redirectSent = ru, true
	case s.spec.redirect == redirectRFC && len(c.RedirectURIs) == 1:
		ar.redirectURI = c.RedirectURIs[0]
	default:
		return invalidRequest("redirect_uri", "The request has no redirect_uri.", "authorize request without redirect_uri")
	}
	return nil
}

// checkResponseType requires response_type=code (Burner: when sent).
func (s *Server) checkResponseType(q *form, ar *authRequest) *failure {
	ar.responseType, ar.typeSent = q.get("response_type"), q.has("response_type")
	switch {
	case !ar.typeSent && s.spec.responseTypeOptional:
		return nil
	case ar.responseType == "":
		return invalidRequest("response_type", "response_type is required.", "authorize request without response_type")
	case ar.responseType != "code":
		return &failure{status: http.StatusBadRequest, code: "unsupported_response_type", param: "response_type",
			desc: "Only response_type=code is supported.", reason: fmt.Sprintf("response_type %q is not code", ar.responseType)}
	}
	return nil
}

// checkScopes splits and validates a scope parameter against the provider's
// documented list and returns the scopes to grant.
func (s *Server) checkScopes(raw string) ([]string, *failure) {
	sp := s.spec
	toks := sp.scopeSplit(raw)
	invalid := func(desc, reason string) *failure {
		return &failure{status: http.StatusBadRequest, code: "invalid_scope", param: "scope", desc: desc, reason: reason}
	}
	if len(toks) == 0 {
		switch sp.scopeMode {
		case scopeRequired:
			return nil, invalid("scope is required.", "request without scope ("+sp.name+" requires one)")
		case scopeDefaultAll:
			return slices.Clone(sp.scopes), nil
		}
		return nil, nil
	}
	if sp.scopeMode == scopeNone {
		return nil, invalid(sp.name+" has no scopes.", fmt.Sprintf("scope %q sent to %s, which documents no scopes", raw, sp.name))
	}
	known := sp.scopes
	if sp.name == "oauth2" {
		known = s.opts.Scopes
	}
	var out []string
	for _, t := range toks {
		switch {
		case known != nil && !slices.Contains(known, t):
			return nil, invalid("Unknown scope: "+t, fmt.Sprintf("scope %q is not one of %s's documented scopes", t, sp.name))
		case !validScopeToken(t):
			return nil, invalid("Malformed scope: "+t, fmt.Sprintf("scope %q is not a valid scope-token (RFC 6749 §3.3)", t))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// validScopeToken checks RFC 6749 §3.3: 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(t string) bool {
	for _, c := range []byte(t) {
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return t != ""
}

// checkPKCE validates code_challenge and code_challenge_method (RFC 7636
// §4.3): only S256 is accepted, never plain.
func (s *Server) checkPKCE(q *form, c Client) (challenge, method string, fail *failure) {
	challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
	if challenge == "" {
		switch {
		case q.has("code_challenge_method"):
			return "", "", invalidRequest("code_challenge", "code_challenge_method without code_challenge.", "code_challenge_method sent without code_challenge")
		case s.spec.pkceRequired:
			return "", "", invalidRequest("code_challenge", "PKCE is required: send code_challenge and code_challenge_method=S256.",
				"authorize request without code_challenge ("+s.spec.name+" requires PKCE)")
		case c.Secret == "" && s.spec.publicClients:
			return "", "", invalidRequest("code_challenge", "Public clients must use PKCE.", "public client without code_challenge (RFC 9700 §2.1.1)")
		}
		return "", "", nil
	}
	if method != "S256" {
		return "", "", invalidRequest("code_challenge_method", "code_challenge_method must be S256.",
			fmt.Sprintf("code_challenge_method %q refused: only S256 is accepted (plain is not)", method))
	}
	if len(challenge) != 43 || !isBase64URL(challenge) {
		return "", "", invalidRequest("code_challenge", "code_challenge must be a base64url S256 value.", "malformed code_challenge (S256 gives 43 base64url characters)")
	}
	return challenge, method, nil
}

// checkExtraParams validates the provider-specific authorize parameters.
func (s *Server) checkExtraParams(q *form, ar *authRequest) *failure {
	switch s.spec.name {
	case "burner":
		if !q.has("burner_id") {
			return nil
		}
		ar.burnerID = q.get("burner_id")
		if ar.burnerID == "" {
			return invalidRequest("burner_id", "burner_id is empty.", "empty burner_id")
		}
		if !slices.Contains(ar.scopes, "messages:connect") {
			return invalidRequest("burner_id", "burner_id requires the messages:connect scope.",
				"burner_id sent without the messages:connect scope (Burner: the scope is required for it to work)")
		}
	case "phoneburner":
		ar.ownerType, ar.ownerSent = q.get("owner_type"), q.has("owner_type")
		if ar.ownerSent && ar.ownerType != "vendor" {
			return invalidRequest("owner_type", fmt.Sprintf(pbSentence, "owner_type"),
				fmt.Sprintf("owner_type %q: PhoneBurner accepts only vendor", ar.ownerType))
		}
	}
	return nil
}

// pageError counts a refusal and shows an error page (no redirect).
func (s *Server) pageError(w http.ResponseWriter, msg, reason string) {
	s.reject(reason)
	w.Header().Set("Cache-Control", "no-store")
	writeHTMLError(w, http.StatusBadRequest, msg)
}

// approve issues a code bound to the request and redirects to the client.
// picked is the burner chosen on the consent page (Burner only).
func (s *Server) approve(w http.ResponseWriter, r *http.Request, ar *authRequest, picked *burner) {
	code := s.spec.newCode()
	ac := &authCode{
		clientID: ar.clientID, redirectURI: ar.redirectURI, redirectSent: ar.redirectSent,
		scopes: ar.scopes, challenge: ar.challenge, burners: connectedBurners(ar, picked),
		expires: s.now().Add(s.codeTTL()),
	}
	if err := s.lockStore(); err != nil {
		s.reject(err.Error())
		s.redirectError(w, r, ar, "server_error", "The emulator could not store the authorization code.")
		return
	}
	s.store.codes[code] = ac
	s.stats.Approvals++
	if err := s.unlockStore(); err != nil {
		s.reject(err.Error())
		s.redirectError(w, r, ar, "server_error", "The emulator could not store the authorization code.")
		return
	}
	params := [][2]string{{"code", code}}
	s.redirectBack(w, r, ar, params)
}

// connectedBurners is the connected_burners node of a Burner grant: the
// burner named by burner_id, or the one picked on the consent page, when
// messages:connect was requested.
func connectedBurners(ar *authRequest, picked *burner) []burner {
	if !slices.Contains(ar.scopes, "messages:connect") {
		return nil
	}
	if ar.burnerID != "" {
		for _, b := range userBurners {
			if b.ID == ar.burnerID {
				return []burner{b}
			}
		}
		return []burner{{ID: ar.burnerID, Name: "Burner " + ar.burnerID, Status: "active"}}
	}
	if picked == nil {
		picked = &userBurners[0]
	}
	return []burner{*picked}
}

// redirectError sends the user back to the client with an error.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, ar *authRequest, code, desc string) {
	s.redirectBack(w, r, ar, [][2]string{{"error", code}, {s.spec.deniedParam, desc}})
}

// redirectBack answers 302 to the request's redirect URI with params, the
// state and (RFC 9207) the issuer appended to its query.
func (s *Server) redirectBack(w http.ResponseWriter, r *http.Request, ar *authRequest, params [][2]string) {
	if ar.stateSent {
		params = append(params, [2]string{"state", ar.state})
	}
	if s.spec.iss {
		params = append(params, [2]string{"iss", s.issuer(r)})
	}
	// Buffer v1 writes its code verbatim, slash included (seed 002:
	// "?code=1/mWot20jTwojsd00jFlaaR45").
	raw := s.spec.name == "buffer"
	w.Header().Set("Location", appendQuery(ar.redirectURI, params, raw))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}
