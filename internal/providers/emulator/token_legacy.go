package emulator

import (
	"fmt"
	"net/http"
	"strings"
)

// burnerToken is Burner's token response (seed 000 plus go-burner's
// AccessResponse). There is no refresh token.
type burnerToken struct {
	AccessToken      string   `json:"access_token"`
	TokenType        string   `json:"token_type"`
	ExpiresIn        int64    `json:"expires_in"`
	Scope            string   `json:"scope"`
	ConnectedBurners []burner `json:"connected_burners,omitempty"`
}

// burnerParams are the token parameters seed 000 documents, in camelCase,
// each with the snake_case name working clients also send.
var burnerParams = [][2]string{{"clientId", "client_id"}, {"clientSecret", "client_secret"}, {"code", ""}, {"redirectUri", "redirect_uri"}}

// tokenBurner serves POST /oauth/access. The camelCase names are required;
// snake_case duplicates and grant_type=authorization_code are tolerated
// (they must agree). A JSON body is accepted too: Burner's API takes JSON
// bodies and the seed does not say which encoding its token call uses.
func (s *Server) tokenBurner(w http.ResponseWriter, r *http.Request, body []byte) {
	f, fail := tokenForm(r, body, true)
	if fail == nil {
		fail = checkBurnerParams(f)
	}
	var c Client
	if fail == nil {
		c, fail = s.burnerClient(parseBasic(r), f)
	}
	var iss issued
	if fail == nil {
		iss, fail = s.redeem(redeemRequest{
			clientID: c.ID, code: f.get("code"), redirectURI: f.get("redirectUri"), redirectSent: true,
			verifier: f.get("code_verifier"), verifierSent: f.has("code_verifier"),
		})
	}
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	g := iss.grant
	writeToken(w, burnerToken{
		AccessToken: iss.access, TokenType: "Bearer", ExpiresIn: int64(iss.ttl.Seconds()),
		Scope: strings.Join(iss.scopes, " "), ConnectedBurners: g.burners,
	})
}

// checkBurnerParams enforces the documented camelCase parameter names.
func checkBurnerParams(f *form) *failure {
	if gt := f.get("grant_type"); f.has("grant_type") && gt != "authorization_code" {
		return &failure{status: http.StatusBadRequest, code: "unsupported_grant_type", param: "grant_type",
			desc:   "Only the authorization code exchange is supported.",
			reason: fmt.Sprintf("grant_type %q at Burner's token endpoint (Burner documents no refresh flow)", gt)}
	}
	for _, p := range burnerParams {
		camel, snake := p[0], p[1]
		if f.get(camel) == "" {
			reason := fmt.Sprintf("token request without %s (Burner documents camelCase names)", camel)
			if snake != "" && f.has(snake) {
				reason += "; " + snake + " alone is not enough"
			}
			return invalidRequest(camel, camel+" is required.", reason)
		}
		if snake != "" && f.has(snake) && f.get(snake) != f.get(camel) {
			return invalidRequest(snake, snake+" and "+camel+" differ.", fmt.Sprintf("token request where %s and %s differ", snake, camel))
		}
	}
	return nil
}

// burnerClient authenticates clientId/clientSecret. A Basic header (as
// simple-oauth2 adds) is tolerated when it carries the same credentials.
func (s *Server) burnerClient(b basicCreds, f *form) (Client, *failure) {
	id, secret := f.get("clientId"), f.get("clientSecret")
	if b.present && (!b.ok || b.id != id || !secretsEqual(b.secret, secret)) {
		return Client{}, invalidClient(true, id, "HTTP Basic credentials differ from clientId/clientSecret.", "HTTP Basic credentials differ from clientId/clientSecret")
	}
	c, ok := s.client(id)
	if !ok {
		return Client{}, invalidClient(b.present, id, "Client authentication failed.", fmt.Sprintf("unknown clientId %q", id))
	}
	if !secretsEqual(c.Secret, secret) {
		return Client{}, invalidClient(b.present, id, "Client authentication failed.", fmt.Sprintf("wrong clientSecret for %q", id))
	}
	return c, nil
}

// bufferV1Params are the token parameters seed 002 documents.
var bufferV1Params = []string{"client_id", "client_secret", "redirect_uri", "code", "grant_type"}

// tokenBufferV1 serves POST /1/oauth2/token.json. The code is read from the
// raw body, verbatim: the seed says it "must not be url encoded", so a
// 1%2F… code matches no code. The answer is only {"access_token"}.
func (s *Server) tokenBufferV1(w http.ResponseWriter, r *http.Request, body []byte) {
	f, fail := tokenForm(r, body, false)
	if fail == nil {
		fail = checkBufferV1Params(r, f)
	}
	var c Client
	if fail == nil {
		c, fail = s.checkPost(f)
	}
	var iss issued
	if fail == nil {
		code := f.raw["code"]
		if strings.Contains(code, "%") {
			fail = invalidGrant("code", "Invalid authorization code.", "code was URL-encoded (1%2F…): Buffer v1 wants it verbatim, like 1/abc")
		} else {
			iss, fail = s.redeem(redeemRequest{
				clientID: c.ID, code: code, redirectURI: f.get("redirect_uri"), redirectSent: true,
				verifier: f.get("code_verifier"), verifierSent: f.has("code_verifier"),
			})
		}
	}
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	writeToken(w, map[string]string{"access_token": iss.access})
}

// checkBufferV1Params requires every documented body parameter.
func checkBufferV1Params(r *http.Request, f *form) *failure {
	if parseBasic(r).present {
		return invalidRequest("client_id", "Send client_id and client_secret in the POST body.",
			"HTTP Basic client authentication at Buffer v1 (the seed documents body parameters)")
	}
	for _, p := range bufferV1Params {
		if f.get(p) == "" {
			return invalidRequest(p, p+" is required.", "Buffer v1 token request without "+p)
		}
	}
	if gt := f.get("grant_type"); gt != "authorization_code" {
		return &failure{status: http.StatusBadRequest, code: "unsupported_grant_type", param: "grant_type",
			desc: "Only authorization_code is supported.", reason: fmt.Sprintf("grant_type %q at Buffer v1 (no refresh exists)", gt)}
	}
	return nil
}

// pbToken is PhoneBurner's token response: absolute expires and relative
// expires_in, lowercase bearer.
type pbToken struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	Expires      int64  `json:"expires"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// pbMissing is PhoneBurner's sentence error about param.
func pbMissing(param, reason string) *failure {
	return invalidRequest(param, fmt.Sprintf(pbSentence, param), reason)
}

// pbRequire checks PhoneBurner's required body parameters, in order.
func (s *Server) pbRequire(f *form, endpoint, wantGrant string, params ...string) (Client, *failure) {
	gt := f.get("grant_type")
	switch {
	case gt == "":
		return Client{}, pbMissing("grant_type", endpoint+" request without grant_type")
	case gt != wantGrant:
		reason := fmt.Sprintf("grant_type %q at %s (it accepts only %s)", gt, endpoint, wantGrant)
		if gt == "refresh_token" {
			reason = "refresh sent to /oauth/accesstoken (PhoneBurner refreshes only at /oauth/refreshtoken)"
		}
		return Client{}, pbMissing("grant_type", reason)
	case f.get("client_id") == "":
		return Client{}, pbMissing("client_id", endpoint+" request without client_id")
	}
	c, ok := s.client(f.get("client_id"))
	if !ok {
		return Client{}, invalidClient(false, f.get("client_id"), "", fmt.Sprintf("unknown client_id %q", f.get("client_id")))
	}
	// "client_secret is required but not verified".
	for _, p := range append([]string{"client_secret"}, params...) {
		if f.get(p) == "" {
			return Client{}, pbMissing(p, endpoint+" request without "+p)
		}
	}
	return c, nil
}

// tokenPhoneBurner serves POST /oauth/accesstoken: the code exchange only.
func (s *Server) tokenPhoneBurner(w http.ResponseWriter, r *http.Request, body []byte) {
	f, fail := tokenForm(r, body, false)
	var c Client
	if fail == nil {
		c, fail = s.pbRequire(f, "/oauth/accesstoken", "authorization_code", "redirect_uri", "code")
	}
	var iss issued
	if fail == nil {
		iss, fail = s.redeem(redeemRequest{
			clientID: c.ID, code: f.get("code"), redirectURI: f.get("redirect_uri"), redirectSent: true,
			verifier: f.get("code_verifier"), verifierSent: f.has("code_verifier"),
		})
	}
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	writeToken(w, pbToken{
		AccessToken: iss.access, TokenType: "bearer", Expires: iss.accessExp.Unix(),
		ExpiresIn: int64(iss.ttl.Seconds()), RefreshToken: iss.refresh,
	})
}

// refreshPhoneBurner serves POST /oauth/refreshtoken. By default the answer
// has no refresh_token (the seed's sample) and the old one stays valid;
// with Options.RotateRefresh it returns a new one (the seed's prose).
func (s *Server) refreshPhoneBurner(w http.ResponseWriter, r *http.Request, body []byte) {
	f, fail := tokenForm(r, body, false)
	var c Client
	if fail == nil {
		c, fail = s.pbRequire(f, "/oauth/refreshtoken", "refresh_token", "refresh_token")
	}
	var iss issued
	if fail == nil {
		iss, fail = s.useRefresh(refreshRequest{clientID: c.ID, token: f.get("refresh_token")})
	}
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	writeToken(w, pbToken{
		AccessToken: iss.access, TokenType: "bearer", Expires: iss.accessExp.Unix(),
		ExpiresIn: int64(iss.ttl.Seconds()), RefreshToken: iss.refresh,
	})
}
