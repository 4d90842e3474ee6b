package emulator

import (
	"net/http"
	"strings"
	"time"
)

// Endpoint kinds, as used by [Server.Paths] and [Faults.Endpoints].
const (
	kindAuthorize = "authorize"
	kindToken     = "token"
	kindRefresh   = "refresh"
	kindRevoke    = "revoke"
	kindCheck     = "check"
	kindMetadata  = "metadata"
	// kindDevice is RFC 8628's device authorization endpoint, kindVerify
	// its verification URI, where the person enters the user code.
	kindDevice = "device_authorization"
	kindVerify = "verification"
)

// scopeMode says what an empty or present scope parameter means.
type scopeMode int

const (
	scopeRequired   scopeMode = iota // an empty scope is invalid_scope
	scopeDefaultAll                  // an empty scope grants every documented scope
	scopeOptional                    // an empty scope grants nothing
	scopeNone                        // no scopes exist: any non-empty scope is invalid_scope
)

// redirectRule says how redirect_uri is bound between authorize and token.
type redirectRule int

const (
	// redirectExact: required at authorize, and identical at the token endpoint.
	redirectExact redirectRule = iota
	// redirectRFC: may be omitted at authorize when exactly one URI is
	// registered; required at the token endpoint iff it was sent at
	// authorize (RFC 6749 §4.1.3), and must match whenever sent.
	redirectRFC
)

// refreshMode says when a grant gets a refresh token.
type refreshMode int

const (
	refreshNone    refreshMode = iota // never
	refreshAlways                     // always
	refreshOffline                    // only when offline_access was granted
)

// errorShape is the body format of token-endpoint errors.
type errorShape int

const (
	shapeRFC         errorShape = iota // {"error","error_description"}
	shapePhoneBurner                   // the four shapes of seed 003
)

// apiShape is the body format of resource (check) errors.
type apiShape int

const (
	apiRFC         apiShape = iota // RFC 6750 WWW-Authenticate + {"error","error_description"}
	apiPhoneBurner                 // {"http_status","status","debug_codes"}
	apiBufferV1                    // {"success":false,"code","message"}
)

// handler serves one endpoint; body is the request body, already read.
type handler func(s *Server, w http.ResponseWriter, r *http.Request, body []byte)

// spec is one provider's documented behaviour.
type spec struct {
	name    string
	paths   map[string]string // kind -> canonical path
	aliases map[string]string // extra path -> kind

	scopes     []string // documented scopes (nil with scopeNone, or oauth2's "any")
	scopeSplit func(string) []string
	scopeMode  scopeMode

	responseTypeOptional bool // Burner does not document response_type
	redirect             redirectRule
	rawRedirectEncoded   bool // PhoneBurner: "This parameter must be urlencoded"
	pkceRequired         bool
	publicClients        bool
	secretUnverified     bool   // PhoneBurner: "client_secret is required but not verified"
	iss                  bool   // RFC 9207 iss in the authorization response
	deniedParam          string // name of the description parameter in callback errors

	codeTTL           time.Duration
	accessTTL         time.Duration // 0 = never expires
	refreshAccessTTL  time.Duration // lifetime of access tokens minted by a refresh (0 = accessTTL)
	refresh           refreshMode
	rotate            bool
	reuseRevokes      bool // reusing a rotated refresh token revokes the grant
	codeReuseRevokes  bool // reusing a code revokes the tokens minted from it
	deviceGrant       bool // the device authorization grant (RFC 8628)
	clientCredentials bool // the client credentials grant (RFC 6749 §4.4)

	errs        errorShape
	api         apiShape
	queryTokens bool // access_token accepted in the URL query and form body
	auth        authStyle

	newCode    func() string
	newAccess  func() string
	newRefresh func() string

	tokenHandler   handler
	refreshHandler handler // a refresh endpoint separate from the token endpoint
	revokeHandler  handler
	checkHandler   handler
	checkMethods   []string
}

// Scope lists from the documentation.
var (
	burnerScopes = []string{"burners:read", "burners:write", "contacts:read", "contacts:write", "messages:connect"}
	sms77Scopes  = []string{"analytics", "balance", "contacts", "hooks", "journal", "lookup", "pricing", "sms", "status", "subaccounts", "validate_for_voice", "voice"}
	sevenScopes  = append(append([]string(nil), sms77Scopes...), "rcs", "waba")
	// bufferV2Scopes: the documented scopes plus those advertised only in
	// the discovery document.
	bufferV2Scopes = []string{"posts:read", "posts:write", "ideas:read", "ideas:write", "account:read", "account:write", "offline_access", "insights:read", "engagements:read", "engagements:write", "openid"}
)

// splitSpace splits a space-delimited scope string (RFC 6749 §3.3).
func splitSpace(s string) []string { return strings.Fields(s) }

// splitSpaceOrComma splits Burner scopes: its scopes page says space, its
// auth page says comma; both are accepted.
func splitSpaceOrComma(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}

// specs are the emulated providers, in [Providers] order.
var specs = []*spec{burnerSpec(), sms77Spec("sms77", sms77Scopes), sms77Spec("seven", sevenScopes), bufferV1Spec(), bufferV2Spec(), phoneBurnerSpec(), oauth2Spec()}

// lookupSpec finds a provider by name.
func lookupSpec(name string) *spec {
	for _, sp := range specs {
		if sp.name == name {
			return sp
		}
	}
	return nil
}

// burnerSpec: seed 000 plus the decision table. Undocumented: the token
// lifetime (30 days chosen: there is no refresh, so a short one would force a
// reconnect every hour) and the code/token formats.
func burnerSpec() *spec {
	return &spec{
		name: "burner",
		paths: map[string]string{
			kindAuthorize: "/oauth/authorize",
			kindToken:     "/oauth/access",
			kindCheck:     "/v1/burners",
		},
		scopes: burnerScopes, scopeSplit: splitSpaceOrComma, scopeMode: scopeRequired,
		responseTypeOptional: true,
		redirect:             redirectExact,
		deniedParam:          "error_description",
		codeTTL:              10 * time.Minute,
		accessTTL:            30 * 24 * time.Hour,
		refresh:              refreshNone,
		errs:                 shapeRFC, api: apiRFC,
		newCode:      func() string { return randAlnum(32) },
		newAccess:    func() string { return randAlnum(40) },
		tokenHandler: (*Server).tokenBurner,
		checkHandler: (*Server).checkBurner,
		checkMethods: []string{http.MethodGet},
	}
}

// sms77Spec: seed 001 (sms77) and its current hosts (seven). Codes and
// tokens are 40 characters like the seed's samples (bshaffer/oauth2-server-php).
func sms77Spec(name string, scopes []string) *spec {
	return &spec{
		name: name,
		paths: map[string]string{
			kindAuthorize: "/authorize",
			kindToken:     "/token",
			kindRefresh:   "/token",
			kindRevoke:    "/revoke",
			kindCheck:     "/me",
		},
		scopes: scopes, scopeSplit: splitSpace, scopeMode: scopeDefaultAll,
		redirect:      redirectRFC,
		publicClients: true,
		deniedParam:   "error_description",
		codeTTL:       60 * time.Second,
		accessTTL:     time.Hour,
		refresh:       refreshAlways,
		rotate:        true,
		errs:          shapeRFC, api: apiRFC,
		auth:          authBasic,
		newCode:       func() string { return randHex(20) },
		newAccess:     func() string { return randLowerAlnum(40) },
		newRefresh:    func() string { return randLowerAlnum(40) },
		tokenHandler:  (*Server).tokenStandard,
		revokeHandler: (*Server).revokeRFC,
		checkHandler:  (*Server).checkSms77,
		checkMethods:  []string{http.MethodGet},
	}
}

// bufferV1Spec: seed 002, the legacy v1 flow. Undocumented: error bodies
// (RFC-shaped at the token endpoint, as the seed says the server follows
// draft 20; Buffer's v1 API shape {"success":false,"code","message"} on the
// API paths) and the token format ("1/" + 32 hex digits).
func bufferV1Spec() *spec {
	return &spec{
		name: "buffer",
		paths: map[string]string{
			kindAuthorize: "/oauth2/authorize",
			kindToken:     "/1/oauth2/token.json",
			kindRevoke:    "/1/user/deauthorize.json",
			kindCheck:     "/1/user.json",
		},
		scopeMode:   scopeNone,
		scopeSplit:  splitSpace,
		redirect:    redirectExact,
		deniedParam: "error_description",
		codeTTL:     30 * time.Second,
		refresh:     refreshNone,
		errs:        shapeRFC, api: apiBufferV1,
		queryTokens: true,
		// The seed's sample code is "1/" + 23 letters and digits.
		newCode:       func() string { return "1/" + randAlnum(23) },
		newAccess:     func() string { return "1/" + randHex(16) },
		tokenHandler:  (*Server).tokenBufferV1,
		revokeHandler: (*Server).deauthorizeBufferV1,
		checkHandler:  (*Server).checkBufferV1,
		checkMethods:  []string{http.MethodGet},
	}
}

// bufferV2Spec: auth.buffer.com (node-oidc-provider routes). Undocumented:
// code lifetime (60 s) and token format (43-character base64url).
func bufferV2Spec() *spec {
	return &spec{
		name: "buffer_v2",
		paths: map[string]string{
			kindAuthorize: "/auth",
			kindToken:     "/token",
			kindRefresh:   "/token",
			kindRevoke:    "/token/revocation",
			kindCheck:     "/me",
			kindMetadata:  "/.well-known/oauth-authorization-server",
		},
		scopes: bufferV2Scopes, scopeSplit: splitSpace, scopeMode: scopeRequired,
		redirect:         redirectExact,
		pkceRequired:     true,
		publicClients:    true,
		iss:              true,
		deniedParam:      "error_description",
		codeTTL:          60 * time.Second,
		accessTTL:        time.Hour,
		refresh:          refreshOffline,
		rotate:           true,
		reuseRevokes:     true,
		codeReuseRevokes: true,
		errs:             shapeRFC, api: apiRFC,
		auth:          authPostOrNone,
		newCode:       func() string { return randB64(32) },
		newAccess:     func() string { return randB64(32) },
		newRefresh:    func() string { return randB64(32) },
		tokenHandler:  (*Server).tokenStandard,
		revokeHandler: (*Server).revokeRFC,
		checkHandler:  (*Server).checkUserinfo,
		checkMethods:  []string{http.MethodGet, http.MethodPost},
	}
}

// phoneBurnerSpec: seed 003. Access tokens live 7 days from a code exchange
// and 31 days from a refresh, as the seed's two sample responses say.
// Undocumented: code lifetime (60 s).
func phoneBurnerSpec() *spec {
	return &spec{
		name: "phoneburner",
		paths: map[string]string{
			kindAuthorize: "/oauth/authorize",
			kindToken:     "/oauth/accesstoken",
			kindRefresh:   "/oauth/refreshtoken",
			kindCheck:     "/rest/1/members/",
		},
		aliases: map[string]string{
			"/oauth/index":    kindAuthorize,
			"/rest/1/members": kindCheck,
		},
		scopeMode:          scopeNone,
		scopeSplit:         splitSpace,
		redirect:           redirectExact,
		rawRedirectEncoded: true,
		secretUnverified:   true,
		deniedParam:        "error_message",
		codeTTL:            60 * time.Second,
		accessTTL:          7 * 24 * time.Hour,
		refreshAccessTTL:   31 * 24 * time.Hour,
		refresh:            refreshAlways,
		errs:               shapePhoneBurner, api: apiPhoneBurner,
		newCode:        func() string { return randAlnum(40) },
		newAccess:      func() string { return randAlnum(40) },
		newRefresh:     func() string { return randAlnum(40) },
		tokenHandler:   (*Server).tokenPhoneBurner,
		refreshHandler: (*Server).refreshPhoneBurner,
		checkHandler:   (*Server).checkPhoneBurner,
		checkMethods:   []string{http.MethodGet},
	}
}

// oauth2Spec: a strict RFC 6749 + 7636 + 7009 + 8414 + 8628 server, with
// the client credentials grant (RFC 6749 §4.4).
func oauth2Spec() *spec {
	return &spec{
		name: "oauth2",
		paths: map[string]string{
			kindAuthorize: "/authorize",
			kindToken:     "/token",
			kindRefresh:   "/token",
			kindRevoke:    "/revoke",
			kindCheck:     "/userinfo",
			kindMetadata:  "/.well-known/oauth-authorization-server",
			kindDevice:    "/device_authorization",
			kindVerify:    "/device",
		},
		scopeSplit: splitSpace, scopeMode: scopeOptional,
		redirect:          redirectRFC,
		publicClients:     true,
		iss:               true,
		deniedParam:       "error_description",
		codeTTL:           60 * time.Second,
		accessTTL:         time.Hour,
		refresh:           refreshAlways,
		codeReuseRevokes:  true,
		deviceGrant:       true,
		clientCredentials: true,
		errs:              shapeRFC, api: apiRFC,
		auth:          authBasicOrPost,
		newCode:       func() string { return randB64(32) },
		newAccess:     func() string { return randB64(32) },
		newRefresh:    func() string { return randB64(32) },
		tokenHandler:  (*Server).tokenStandard,
		revokeHandler: (*Server).revokeRFC,
		checkHandler:  (*Server).checkUserinfo,
		checkMethods:  []string{http.MethodGet, http.MethodPost},
	}
}

// routes builds the path table of a provider.
func (sp *spec) routes() map[string]route {
	post := []string{http.MethodPost}
	byKind := map[string]route{
		kindAuthorize: {kind: kindAuthorize, methods: []string{http.MethodGet, http.MethodPost}, handle: (*Server).handleAuthorize},
		kindToken:     {kind: kindToken, methods: post, handle: sp.tokenHandler},
		kindCheck:     {kind: kindCheck, methods: sp.checkMethods, handle: sp.checkHandler},
	}
	if sp.refreshHandler != nil {
		byKind[kindRefresh] = route{kind: kindRefresh, methods: post, handle: sp.refreshHandler}
	}
	if sp.revokeHandler != nil {
		byKind[kindRevoke] = route{kind: kindRevoke, methods: post, handle: sp.revokeHandler}
	}
	if sp.deviceGrant {
		byKind[kindDevice] = route{kind: kindDevice, methods: post, handle: (*Server).handleDeviceAuthorization}
		byKind[kindVerify] = route{kind: kindVerify, methods: []string{http.MethodGet, http.MethodPost}, handle: (*Server).handleVerification}
	}
	if _, ok := sp.paths[kindMetadata]; ok {
		byKind[kindMetadata] = route{kind: kindMetadata, methods: []string{http.MethodGet}, handle: (*Server).serveMetadata}
	}
	out := map[string]route{}
	for kind, path := range sp.paths {
		if rt, ok := byKind[kind]; ok {
			if _, taken := out[path]; !taken || kind == kindToken {
				out[path] = rt
			}
		}
	}
	for path, kind := range sp.aliases {
		out[path] = byKind[kind]
	}
	return out
}

// refreshedAccessTTL is the default lifetime of an access token minted by a
// refresh.
func (sp *spec) refreshedAccessTTL() time.Duration {
	if sp.refreshAccessTTL != 0 {
		return sp.refreshAccessTTL
	}
	return sp.accessTTL
}
