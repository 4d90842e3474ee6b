package emulator

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// enc encodes name/value pairs in order (url.Values sorts and cannot
// repeat deliberately).
func enc(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, url.QueryEscape(kv[i])+"="+url.QueryEscape(kv[i+1]))
	}
	return strings.Join(parts, "&")
}

// TestTokenRejections sends each documented quirk wrong and checks the
// emulator refuses it the way the provider does.
func TestTokenRejections(t *testing.T) {
	sentence := func(p string) map[string]string {
		return map[string]string{"error": fmt.Sprintf(pbSentence, p)}
	}
	tests := map[string]struct {
		provider string
		send     func(f *fixture, code string, pk pkcePair) result
		status   int
		body     map[string]string // exact JSON body, when set
		errCode  string            // the "error" field, when body is not set
		reason   string            // substring of Stats.LastRejection
	}{
		"burner snake_case only": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", enc("client_id", testID, "client_secret", testSecret, "code", code, "redirect_uri", testRedirect, "grant_type", "authorization_code"))
			},
			status: 400, errCode: "invalid_request", reason: "token request without clientId (Burner documents camelCase names)",
		},
		"burner without redirectUri": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", enc("clientId", testID, "clientSecret", testSecret, "code", code, "redirect_uri", testRedirect))
			},
			status: 400, errCode: "invalid_request", reason: "without redirectUri",
		},
		"burner camel and snake differ": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", enc("clientId", testID, "clientSecret", testSecret, "code", code, "redirectUri", testRedirect, "client_id", "other"))
			},
			status: 400, errCode: "invalid_request", reason: "client_id and clientId differ",
		},
		"burner wrong secret": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", enc("clientId", testID, "clientSecret", "nope", "code", code, "redirectUri", testRedirect))
			},
			status: 400, errCode: "invalid_client", reason: "wrong clientSecret",
		},
		"burner unknown client": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", enc("clientId", "nobody", "clientSecret", testSecret, "code", code, "redirectUri", testRedirect))
			},
			status: 400, errCode: "invalid_client", reason: "unknown clientId",
		},
		"burner basic differs": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", enc("clientId", testID, "clientSecret", testSecret, "code", code, "redirectUri", testRedirect),
					"Authorization", basic(testID, "other"))
			},
			status: 401, errCode: "invalid_client", reason: "HTTP Basic credentials differ",
		},
		"burner refresh grant": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", enc("grant_type", "refresh_token", "clientId", testID, "clientSecret", testSecret, "code", code, "redirectUri", testRedirect))
			},
			status: 400, errCode: "unsupported_grant_type", reason: "Burner documents no refresh flow",
		},
		"burner wrong redirectUri": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", enc("clientId", testID, "clientSecret", testSecret, "code", code, "redirectUri", testRedirect+"/"))
			},
			status: 400, errCode: "invalid_grant", reason: "differs from the authorization request",
		},
		"burner text body": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", "clientId="+testID, "Content-Type", "text/plain")
			},
			status: 400, errCode: "invalid_request", reason: "not application/x-www-form-urlencoded",
		},
		"burner malformed JSON": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", `{"clientId":`, "Content-Type", "application/json")
			},
			status: 400, errCode: "invalid_request", reason: "malformed JSON body",
		},
		"burner JSON non-string": {
			provider: "burner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/access", `{"clientId":["x"]}`, "Content-Type", "application/json")
			},
			status: 400, errCode: "invalid_request", reason: "is not a string",
		},
		"buffer code URL-encoded": {
			provider: "buffer",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/1/oauth2/token.json", "client_id=app&client_secret=s3cret&redirect_uri="+url.QueryEscape(testRedirect)+
					"&code="+url.QueryEscape(code)+"&grant_type=authorization_code")
			},
			status: 400, errCode: "invalid_grant", reason: "code was URL-encoded",
		},
		"buffer without grant_type": {
			provider: "buffer",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/1/oauth2/token.json", "client_id=app&client_secret=s3cret&redirect_uri="+url.QueryEscape(testRedirect)+"&code="+code)
			},
			status: 400, errCode: "invalid_request", reason: "without grant_type",
		},
		"buffer basic auth": {
			provider: "buffer",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/1/oauth2/token.json", "redirect_uri="+url.QueryEscape(testRedirect)+"&code="+code+"&grant_type=authorization_code",
					"Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_request", reason: "HTTP Basic client authentication at Buffer v1",
		},
		"buffer refresh grant": {
			provider: "buffer",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/1/oauth2/token.json", "client_id=app&client_secret=s3cret&redirect_uri=x&code="+code+"&grant_type=refresh_token")
			},
			status: 400, errCode: "unsupported_grant_type", reason: "no refresh exists",
		},
		"buffer wrong secret": {
			provider: "buffer",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/1/oauth2/token.json", "client_id=app&client_secret=bad&redirect_uri="+url.QueryEscape(testRedirect)+"&code="+code+"&grant_type=authorization_code")
			},
			status: 400, errCode: "invalid_client", reason: "wrong client secret",
		},
		"sms77 body credentials": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", testID, "client_secret", testSecret, "code_verifier", pk.verifier))
			},
			status: 400, errCode: "invalid_client", reason: "client_secret in the request body (sms77 requires HTTP Basic",
		},
		"sms77 basic plus body secret": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_secret", testSecret, "code_verifier", pk.verifier),
					"Authorization", basic(testID, testSecret))
			},
			status: 401, errCode: "invalid_client", reason: "client_secret in the request body",
		},
		"sms77 body client_id only": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", testID, "code_verifier", pk.verifier))
			},
			status: 401, errCode: "invalid_client", reason: "client_id in the body without HTTP Basic",
		},
		"sms77 no authentication": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "code_verifier", pk.verifier))
			},
			status: 401, errCode: "invalid_client", reason: "without client authentication",
		},
		"sms77 wrong basic secret": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "code_verifier", pk.verifier), "Authorization", basic(testID, "x"))
			},
			status: 401, errCode: "invalid_client", reason: "wrong client secret",
		},
		"sms77 malformed basic": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code), "Authorization", "Basic !!!")
			},
			status: 401, errCode: "invalid_client", reason: "malformed Authorization: Basic",
		},
		"sms77 basic user differs from body": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", "other"), "Authorization", basic(testID, testSecret))
			},
			status: 401, errCode: "invalid_client", reason: "differs from the HTTP Basic user",
		},
		"sms77 unknown basic client": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code), "Authorization", basic("nobody", testSecret))
			},
			status: 401, errCode: "invalid_client", reason: "unknown client_id",
		},
		"sms77 redirect_uri dropped at token": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "code_verifier", pk.verifier), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_grant", reason: "RFC 6749 §4.1.3",
		},
		"sms77 redirect_uri mismatch": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "redirect_uri", "http://127.0.0.1:9999/callback", "code_verifier", pk.verifier),
					"Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_grant", reason: "differs from the authorization request",
		},
		"sms77 PKCE mismatch": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect, "code_verifier", newPKCE().verifier),
					"Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_grant", reason: "code_verifier does not match the code_challenge",
		},
		"sms77 PKCE verifier missing": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_grant", reason: "without code_verifier",
		},
		"sms77 PKCE verifier malformed": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect, "code_verifier", "short"),
					"Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_grant", reason: "malformed code_verifier",
		},
		"sms77 no grant_type": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("code", code), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_request", reason: "without grant_type",
		},
		"sms77 password grant": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "password"), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "unsupported_grant_type", reason: `grant_type "password"`,
		},
		"sms77 no code": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code"), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_request", reason: "code exchange without code",
		},
		"sms77 refresh without token": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "refresh_token"), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_request", reason: "refresh without refresh_token",
		},
		"sms77 unknown refresh token": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "refresh_token", "refresh_token", "nope"), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_grant", reason: "unknown refresh token",
		},
		"sms77 parameters in query": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token?code="+code, enc("grant_type", "authorization_code"), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_request", reason: "parameters in the URL query",
		},
		"sms77 repeated parameter": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "code", code), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_request", reason: "parameter code sent more than once",
		},
		"sms77 malformed form": {
			provider: "sms77",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", "grant_type=%zz", "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_request", reason: "malformed form body",
		},
		"buffer_v2 basic auth": {
			provider: "buffer_v2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect, "code_verifier", pk.verifier),
					"Authorization", basic(testID, testSecret))
			},
			status: 401, errCode: "invalid_client", reason: "HTTP Basic client authentication refused",
		},
		"buffer_v2 no secret": {
			provider: "buffer_v2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect, "code_verifier", pk.verifier, "client_id", testID))
			},
			status: 400, errCode: "invalid_client", reason: "confidential client \"app\" without client_secret",
		},
		"buffer_v2 no client_id": {
			provider: "buffer_v2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code))
			},
			status: 400, errCode: "invalid_client", reason: "request without client_id",
		},
		"buffer_v2 unknown client": {
			provider: "buffer_v2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", "nobody"))
			},
			status: 400, errCode: "invalid_client", reason: "unknown client_id",
		},
		"buffer_v2 wrong secret": {
			provider: "buffer_v2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", testID, "client_secret", "x"))
			},
			status: 400, errCode: "invalid_client", reason: "wrong client secret",
		},
		"buffer_v2 redirect_uri missing": {
			provider: "buffer_v2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", testID, "client_secret", testSecret, "code_verifier", pk.verifier))
			},
			status: 400, errCode: "invalid_request", reason: "code exchange without redirect_uri",
		},
		"buffer_v2 code of another client": {
			provider: "buffer_v2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", pubID, "redirect_uri", testRedirect, "code_verifier", pk.verifier))
			},
			status: 400, errCode: "invalid_grant", reason: "authorization code of another client",
		},
		"phoneburner refresh at accesstoken": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/accesstoken", enc("client_id", testID, "client_secret", testSecret, "refresh_token", "x", "grant_type", "refresh_token"))
			},
			status: 400, body: sentence("grant_type"), reason: "refresh sent to /oauth/accesstoken",
		},
		"phoneburner code at refreshtoken": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/refreshtoken", enc("client_id", testID, "client_secret", testSecret, "code", code, "grant_type", "authorization_code"))
			},
			status: 400, body: sentence("grant_type"), reason: "at /oauth/refreshtoken",
		},
		"phoneburner missing client_id": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/accesstoken", enc("client_secret", testSecret, "redirect_uri", testRedirect, "grant_type", "authorization_code", "code", code))
			},
			status: 400, body: sentence("client_id"), reason: "without client_id",
		},
		"phoneburner missing grant_type": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/accesstoken", enc("client_id", testID))
			},
			status: 400, body: sentence("grant_type"), reason: "without grant_type",
		},
		"phoneburner missing client_secret": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/accesstoken", enc("client_id", testID, "redirect_uri", testRedirect, "grant_type", "authorization_code", "code", code))
			},
			status: 400, body: sentence("client_secret"), reason: "without client_secret",
		},
		"phoneburner missing redirect_uri": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/accesstoken", enc("client_id", testID, "client_secret", testSecret, "grant_type", "authorization_code", "code", code))
			},
			status: 400, body: sentence("redirect_uri"), reason: "without redirect_uri",
		},
		"phoneburner unknown client": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/accesstoken", enc("client_id", "878x518", "client_secret", testSecret, "redirect_uri", testRedirect, "grant_type", "authorization_code", "code", code))
			},
			status: 400, body: map[string]string{"error": "invalid client_id", "error_message": "invalid client_id: 878x518"}, reason: "unknown client_id",
		},
		"phoneburner wrong redirect_uri": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/accesstoken", enc("client_id", testID, "client_secret", testSecret, "redirect_uri", "http://127.0.0.1:8765/other", "grant_type", "authorization_code", "code", code))
			},
			status: 400, body: map[string]string{"error": "invalid_grant", "error_description": fmt.Sprintf(pbInvalidGrant, "code")}, reason: "differs from the authorization request",
		},
		"phoneburner bad refresh token": {
			provider: "phoneburner",
			send: func(f *fixture, code string, _ pkcePair) result {
				return f.post("/oauth/refreshtoken", enc("client_id", testID, "client_secret", testSecret, "refresh_token", "nope", "grant_type", "refresh_token"))
			},
			status: 400, body: map[string]string{"error": "invalid_grant", "error_description": fmt.Sprintf(pbInvalidGrant, "refresh_token")}, reason: "unknown refresh token",
		},
		"oauth2 basic and body secret": {
			provider: "oauth2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_secret", testSecret), "Authorization", basic(testID, testSecret))
			},
			status: 400, errCode: "invalid_request", reason: "both HTTP Basic and client_secret",
		},
		"oauth2 no authentication": {
			provider: "oauth2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code))
			},
			status: 401, errCode: "invalid_client", reason: "without client authentication",
		},
		"oauth2 public client sends secret": {
			provider: "oauth2",
			send: func(f *fixture, code string, pk pkcePair) result {
				return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", pubID, "client_secret", "x"))
			},
			status: 400, errCode: "invalid_client", reason: "public client \"pub\" sent a client_secret",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider)
			code, pk := f.code()
			res := tc.send(f, code, pk)
			wantStatus(t, res, tc.status)
			if tc.body != nil {
				var got map[string]string
				if err := json.Unmarshal(res.body, &got); err != nil {
					t.Fatalf("body %s: %v", res.body, err)
				}
				if !maps.Equal(got, tc.body) {
					t.Errorf("body = %v, want %v", got, tc.body)
				}
			} else if got := res.str(t, "error"); got != tc.errCode {
				t.Errorf("error = %q, want %q (body %s)", got, tc.errCode, res.body)
			}
			if tc.status == http.StatusUnauthorized && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without a Basic challenge: %q", res.header.Get("WWW-Authenticate"))
			}
			f.wantRejection(tc.reason)
			if f.srv.Stats().Rejections != 1 || f.srv.Stats().Exchanges != 0 {
				t.Errorf("stats = %+v, want one rejection and no exchange", f.srv.Stats())
			}
		})
	}
}

// TestTokenAccepted covers the variants a provider accepts besides the
// happy path's request.
func TestTokenAccepted(t *testing.T) {
	tests := map[string]struct {
		provider string
		send     func(f *fixture, code string, pk pkcePair) result
	}{
		"burner camelCase only": {provider: "burner", send: func(f *fixture, code string, _ pkcePair) result {
			return f.post("/oauth/access", enc("clientId", testID, "clientSecret", testSecret, "code", code, "redirectUri", testRedirect))
		}},
		"burner JSON body": {provider: "burner", send: func(f *fixture, code string, _ pkcePair) result {
			b, _ := json.Marshal(map[string]string{"clientId": testID, "clientSecret": testSecret, "code": code, "redirectUri": testRedirect})
			return f.post("/oauth/access", string(b), "Content-Type", "application/json")
		}},
		"burner with matching basic": {provider: "burner", send: func(f *fixture, code string, _ pkcePair) result {
			return f.post("/oauth/access", enc("clientId", testID, "clientSecret", testSecret, "code", code, "redirectUri", testRedirect), "Authorization", basic(testID, testSecret))
		}},
		"phoneburner secret not verified": {provider: "phoneburner", send: func(f *fixture, code string, _ pkcePair) result {
			return f.post("/oauth/accesstoken", enc("client_id", testID, "client_secret", "anything", "redirect_uri", testRedirect, "grant_type", "authorization_code", "code", code))
		}},
		"sms77 basic with matching body client_id": {provider: "sms77", send: func(f *fixture, code string, pk pkcePair) result {
			return f.post("/token", enc("grant_type", "authorization_code", "code", code, "client_id", testID, "redirect_uri", testRedirect, "code_verifier", pk.verifier),
				"Authorization", basic(testID, testSecret))
		}},
		"oauth2 client_secret_post": {provider: "oauth2", send: func(f *fixture, code string, pk pkcePair) result {
			return f.post("/token", enc("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect, "code_verifier", pk.verifier, "client_id", testID, "client_secret", testSecret))
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider)
			code, pk := f.code()
			wantStatus(t, tc.send(f, code, pk), http.StatusOK)
		})
	}
}

// TestPublicClients: sms77/seven, buffer_v2 and oauth2 accept a client
// without a secret that proves itself with PKCE.
func TestPublicClients(t *testing.T) {
	for _, p := range []string{"sms77", "seven", "buffer_v2", "oauth2"} {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t, p, func(o *Options) { o.AutoApprove = true })
			pk := newPKCE()
			q := f.authQuery(pk)
			q.Set("client_id", pubID)
			loc := f.consent(q, true)
			body := enc("grant_type", "authorization_code", "code", loc.Query().Get("code"), "redirect_uri", testRedirect, "code_verifier", pk.verifier, "client_id", pubID)
			res := f.post("/token", body)
			wantStatus(t, res, http.StatusOK)
			rt := res.str(t, "refresh_token")
			wantStatus(t, f.post("/token", enc("grant_type", "refresh_token", "refresh_token", rt, "client_id", pubID)), http.StatusOK)
		})
	}
}

func TestOAuth2VerifierWithoutChallenge(t *testing.T) {
	f := newFixture(t, "oauth2", func(o *Options) { o.AutoApprove = true })
	loc := f.consent(f.authQuery(pkcePair{}), true)
	res := f.post("/token", enc("grant_type", "authorization_code", "code", loc.Query().Get("code"), "redirect_uri", testRedirect, "code_verifier", newPKCE().verifier),
		"Authorization", basic(testID, testSecret))
	wantStatus(t, res, http.StatusBadRequest)
	f.wantRejection("PKCE downgrade")
}

// TestCodeReuse: a code works once; buffer_v2 and oauth2 also revoke the
// tokens minted from it.
func TestCodeReuse(t *testing.T) {
	for _, p := range Providers() {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t, p)
			code, pk := f.code()
			first := f.exchange(code, pk)
			wantStatus(t, first, http.StatusOK)
			again := f.exchange(code, pk)
			wantStatus(t, again, http.StatusBadRequest)
			if got := again.str(t, "error"); got != "invalid_grant" {
				t.Errorf("error = %q, want invalid_grant", got)
			}
			f.wantRejection("authorization code reused")
			live := http.StatusOK
			if lookupSpec(p).codeReuseRevokes {
				live = http.StatusUnauthorized
			}
			wantStatus(t, f.get(f.path(kindCheck), first.str(t, "access_token")), live)
		})
	}
}

// TestCodeExpiry: codes expire after the provider's lifetime, on the
// injected clock.
func TestCodeExpiry(t *testing.T) {
	tests := map[string]struct {
		provider string
		ttl      time.Duration
		codeTTL  time.Duration // Options.CodeTTL
	}{
		"burner 10m":         {provider: "burner", ttl: 10 * time.Minute},
		"buffer 30s":         {provider: "buffer", ttl: 30 * time.Second},
		"sms77 60s":          {provider: "sms77", ttl: 60 * time.Second},
		"phoneburner 60s":    {provider: "phoneburner", ttl: 60 * time.Second},
		"buffer_v2 60s":      {provider: "buffer_v2", ttl: 60 * time.Second},
		"oauth2 override 5s": {provider: "oauth2", ttl: 5 * time.Second, codeTTL: 5 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider, func(o *Options) { o.CodeTTL = tc.codeTTL })
			code, pk := f.code()
			f.clock.Advance(tc.ttl - time.Second)
			wantStatus(t, f.exchange(code, pk), http.StatusOK)

			code, pk = f.code()
			f.clock.Advance(tc.ttl)
			res := f.exchange(code, pk)
			wantStatus(t, res, http.StatusBadRequest)
			if got := res.str(t, "error"); got != "invalid_grant" {
				t.Errorf("error = %q", got)
			}
			f.wantRejection("authorization code expired")
		})
	}
}

func TestUnknownCode(t *testing.T) {
	f := newFixture(t, "buffer")
	res := f.exchange("1/doesnotexist", pkcePair{})
	wantStatus(t, res, http.StatusBadRequest)
	f.wantRejection("unknown authorization code")
}

func TestRefreshOfAnotherClient(t *testing.T) {
	f := newFixture(t, "oauth2", func(o *Options) {
		o.Clients = append(o.Clients, Client{ID: "other", Secret: "x", RedirectURIs: []string{testRedirect}})
	})
	rt := f.tokens().str(t, "refresh_token")
	res := f.post("/token", enc("grant_type", "refresh_token", "refresh_token", rt), "Authorization", basic("other", "x"))
	wantStatus(t, res, http.StatusBadRequest)
	f.wantRejection("refresh token of another client")
}

func TestRevokeRejections(t *testing.T) {
	tests := map[string]struct {
		provider string
		body     func(tok string) string
		hdr      []string
		status   int
		errCode  string
		reason   string
	}{
		"no token": {provider: "oauth2", body: func(string) string { return "" }, hdr: []string{"Authorization", basic(testID, testSecret)},
			status: 400, errCode: "invalid_request", reason: "without token"},
		"bad hint": {provider: "sms77", body: func(tok string) string { return enc("token", tok, "token_type_hint", "id_token") },
			hdr: []string{"Authorization", basic(testID, testSecret)}, status: 400, errCode: "unsupported_token_type", reason: "token_type_hint"},
		"sms77 body credentials": {provider: "sms77", body: func(tok string) string { return enc("token", tok, "client_id", testID, "client_secret", testSecret) },
			status: 400, errCode: "invalid_client", reason: "client_secret in the request body"},
		"buffer_v2 basic": {provider: "buffer_v2", body: func(tok string) string { return enc("token", tok) },
			hdr: []string{"Authorization", basic(testID, testSecret)}, status: 401, errCode: "invalid_client", reason: "HTTP Basic"},
		"another client's token": {provider: "oauth2", body: func(tok string) string { return enc("token", tok, "client_id", pubID) },
			status: 400, errCode: "unauthorized_client", reason: "issued to another client"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.provider)
			at := f.tokens().str(t, "access_token")
			res := f.post(f.path(kindRevoke), tc.body(at), tc.hdr...)
			wantStatus(t, res, tc.status)
			if got := res.str(t, "error"); got != tc.errCode {
				t.Errorf("error = %q, want %q", got, tc.errCode)
			}
			f.wantRejection(tc.reason)
			wantStatus(t, f.get(f.path(kindCheck), at), http.StatusOK)
		})
	}
}
