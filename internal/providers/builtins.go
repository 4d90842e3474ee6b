package providers

// The built-in profiles follow each provider's own documentation, quirk
// by quirk (docs/providers.md; `oauthform providers` lists them).

var sms77Scopes = []string{
	"analytics", "balance", "contacts", "hooks", "journal", "lookup",
	"pricing", "sms", "status", "subaccounts", "validate_for_voice", "voice",
}

// seedGrants are the grants every seed provider documents: the
// authorization code, nothing else.
var seedGrants = []Grant{GrantAuthorizationCode}

var builtins = map[string]*Profile{
	"burner": {
		Name:         "burner",
		Description:  "Burner (burnerapp.com): messaging and contacts of Burner phone numbers",
		Builtin:      true,
		AuthorizeURL: "https://app.burnerapp.com/oauth/authorize",
		TokenURL:     "https://api.burnerapp.com/oauth/access",
		CheckURL:     "https://api.burnerapp.com/v1/burners",
		// The auth page says comma, the scopes page and every working client
		// use a space; a provider block can set "," .
		ScopeSeparator: " ",
		ClientAuth:     AuthBody,
		// The documentation names camelCase parameters, working clients send
		// snake_case: send both.
		ParamAliases: map[string]string{
			"client_id":     "clientId",
			"client_secret": "clientSecret",
			"redirect_uri":  "redirectUri",
		},
		Expiry:       ExpiresIn,
		RevokeMethod: RevokeRFC7009,
		ErrorFormat:  ErrorsRFC6749,
		TokenType:    DefaultTokenType,
		Grants:       seedGrants,
		KnownScopes:  []string{"burners:read", "burners:write", "contacts:read", "contacts:write", "messages:connect"},
		Params: map[string]Param{
			"burner_id": {
				Description:   "connect this burner directly, skipping the picker",
				RequiresScope: "messages:connect",
			},
		},
		Metadata: []string{"connected_burners"},
		Quirks: []string{
			"token request sends camelCase (clientId, clientSecret, redirectUri) and snake_case names",
			"no refresh token: an expired token needs a new grant",
			"keeps connected_burners from the token response",
			"burner_id param only with scope messages:connect",
			"no remote revoke",
		},
	},
	"sms77": sms77("sms77", "https://oauth.sms77.io", sms77Scopes,
		"sms77.io (legacy host of seven.io): SMS, voice and lookup gateway"),
	"seven": sms77("seven", "https://oauth.seven.io", append(append([]string{}, sms77Scopes...), "rcs", "waba"),
		"seven.io (formerly sms77.io): SMS, voice, RCS and WhatsApp gateway"),
	"buffer": {
		Name:         "buffer",
		Description:  "Buffer v1 API (bufferapp.com), for apps registered before 2024",
		Builtin:      true,
		AuthorizeURL: "https://bufferapp.com/oauth2/authorize",
		TokenURL:     "https://api.bufferapp.com/1/oauth2/token.json",
		RevokeURL:    "https://api.bufferapp.com/1/user/deauthorize.json",
		RevokeMethod: RevokeBearer,
		CheckURL:     "https://api.bufferapp.com/1/user.json",
		// No scopes; the separator is never used.
		ScopeSeparator: " ",
		ClientAuth:     AuthBody,
		CodeRaw:        true,
		Expiry:         ExpiresNever,
		ErrorFormat:    ErrorsRFC6749,
		TokenType:      DefaultTokenType,
		Grants:         seedGrants,
		NoScopes:       true,
		Params:         map[string]Param{},
		Quirks: []string{
			"the code is written into the token request unencoded (1/abc, not 1%2Fabc)",
			"the code lives 30 seconds: it is exchanged inside the callback",
			"long-lived token, no expiry, no refresh",
			"no scopes",
			"revoke via /1/user/deauthorize.json",
		},
	},
	"buffer_v2": {
		Name:           "buffer_v2",
		Description:    "Buffer's current OAuth server (auth.buffer.com)",
		Builtin:        true,
		AuthorizeURL:   "https://auth.buffer.com/auth",
		TokenURL:       "https://auth.buffer.com/token",
		RevokeURL:      "https://auth.buffer.com/token/revocation",
		CheckURL:       "https://auth.buffer.com/me",
		ScopeSeparator: " ",
		ClientAuth:     AuthBody,
		PKCE:           true,
		Expiry:         ExpiresIn,
		Refresh:        true,
		RotatesRefresh: true,
		RevokeMethod:   RevokeRFC7009,
		ErrorFormat:    ErrorsRFC6749,
		TokenType:      DefaultTokenType,
		Grants:         seedGrants,
		KnownScopes: []string{
			"posts:read", "posts:write", "ideas:read", "ideas:write",
			"account:read", "account:write", "offline_access",
			"insights:read", "engagements:read", "engagements:write", "openid",
		},
		Params: map[string]Param{
			"prompt":   {Description: "ask for consent again", Values: []string{"consent", "login", "none"}},
			"resource": {Description: "RFC 8707 resource indicator"},
		},
		Issuer: "https://auth.buffer.com",
		Quirks: []string{
			"PKCE required",
			"offline_access needed for a refresh token",
			"refresh tokens are single-use; reuse revokes the grant",
			"iss in the callback is verified",
		},
	},
	"phoneburner": {
		Name:           "phoneburner",
		Description:    "PhoneBurner: power dialer and CRM",
		Builtin:        true,
		AuthorizeURL:   "https://www.phoneburner.com/oauth/authorize",
		TokenURL:       "https://www.phoneburner.com/oauth/accesstoken",
		RefreshURL:     "https://www.phoneburner.com/oauth/refreshtoken",
		CheckURL:       "https://www.phoneburner.com/rest/1/members/",
		ScopeSeparator: " ",
		ClientAuth:     AuthBody,
		Expiry:         ExpiresAbsolute,
		Refresh:        true,
		RevokeMethod:   RevokeRFC7009,
		ErrorFormat:    ErrorsPhoneBurner,
		TokenType:      DefaultTokenType,
		Grants:         seedGrants,
		NoScopes:       true,
		Params: map[string]Param{
			"owner_type": {
				Description: "act for a vendor account",
				Values:      []string{"vendor"},
			},
		},
		Quirks: []string{
			"refresh goes to a separate /oauth/refreshtoken endpoint",
			"expiry from the absolute `expires` (Unix time), else expires_in",
			"a refresh without refresh_token keeps the old one",
			"non-standard errors: error_message, a sentence in error, \"invalid client_id\"",
			"no scopes; param owner_type accepts only \"vendor\"",
			"no remote revoke: revoke in PhoneBurner's UI",
		},
	},
	"oauth2": {
		Name:           "oauth2",
		Description:    "any RFC 6749 provider; declare its endpoints in a provider block",
		Builtin:        true,
		ScopeSeparator: " ",
		ClientAuth:     AuthBasic,
		PKCE:           true,
		Expiry:         ExpiresIn,
		Refresh:        true,
		RevokeMethod:   RevokeRFC7009,
		ErrorFormat:    ErrorsRFC6749,
		TokenType:      DefaultTokenType,
		Grants:         GrantTypes,
		Quirks:         []string{"no endpoints of its own: a provider block must set authorize_url and token_url (or issuer)"},
	},
}

func sms77(name, base string, scopes []string, desc string) *Profile {
	return &Profile{
		Name:           name,
		Description:    desc,
		Builtin:        true,
		AuthorizeURL:   base + "/authorize",
		TokenURL:       base + "/token",
		RevokeURL:      base + "/revoke",
		CheckURL:       base + "/me",
		ScopeSeparator: " ",
		ClientAuth:     AuthBasic,
		PKCE:           true,
		Expiry:         ExpiresIn,
		Refresh:        true,
		RotatesRefresh: true,
		RevokeMethod:   RevokeRFC7009,
		ErrorFormat:    ErrorsRFC6749,
		TokenType:      DefaultTokenType,
		Grants:         seedGrants,
		KnownScopes:    scopes,
		Params:         map[string]Param{},
		Quirks: []string{
			"HTTP Basic client authentication",
			"PKCE S256",
			"refresh rotates the refresh token: the new one is stored first",
			"empty scope list means the provider's default scope",
			"1 hour access tokens",
		},
	}
}
