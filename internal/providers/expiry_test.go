package providers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/secret"
)

// TestExpiryIsSane: an expiry of zero or less, or in the past, is
// "already expired" (the answer's time, so the next use refreshes), never
// "never expires"; one beyond ten years is capped at ten years with a
// warning naming the provider and no secret.
func TestExpiryIsSane(t *testing.T) {
	tenYears := testNow.Add(10 * 365 * 24 * time.Hour)
	tests := []struct {
		name, provider, body string
		ctype                string
		want                 time.Time
		warn                 bool
	}{
		{"expires_in 0", "sms77", `{"access_token":"at","expires_in":0}`, "", testNow, false},
		{"expires_in negative", "sms77", `{"access_token":"at","expires_in":-3600}`, "", testNow, false},
		{"expires_in \"0\"", "sms77", `{"access_token":"at","expires_in":"0"}`, "", testNow, false},
		{"form expires_in 0", "oauth2generic", `access_token=at&expires_in=0`, "application/x-www-form-urlencoded", testNow, false},
		{"form expires_in negative", "oauth2generic", `access_token=at&expires_in=-5`, "application/x-www-form-urlencoded", testNow, false},
		{"expires_in an hour", "sms77", `{"access_token":"at","expires_in":3600}`, "", testNow.Add(time.Hour), false},
		{"expires_in ten years exactly", "sms77", fmt.Sprintf(`{"access_token":"at","expires_in":%d}`, 10*365*24*3600), "", tenYears, false},
		{"expires_in beyond ten years", "sms77", `{"access_token":"at","expires_in":315360001}`, "", tenYears, true},
		{"expires_in beyond int32", "sms77", `{"access_token":"at","expires_in":99999999999}`, "", tenYears, true},
		{"expires_in milliseconds string", "sms77", `{"access_token":"at","expires_in":"3153600000000"}`, "", tenYears, true},
		{"absolute expires in the past", "phoneburner", `{"access_token":"at","expires":1406411164,"expires_in":604800}`, "", testNow, false},
		{"absolute expires now", "phoneburner", fmt.Sprintf(`{"access_token":"at","expires":%d}`, testNow.Unix()), "", testNow, false},
		{"absolute expires 0", "phoneburner", `{"access_token":"at","expires":0}`, "", testNow, false},
		{"absolute expires negative", "phoneburner", `{"access_token":"at","expires":-1,"expires_in":60}`, "", testNow, false},
		{"absolute expires in an hour", "phoneburner", fmt.Sprintf(`{"access_token":"at","expires":%d,"expires_in":1}`, testNow.Unix()+3600), "", testNow.Add(time.Hour), false},
		{"absolute expires beyond ten years", "phoneburner", fmt.Sprintf(`{"access_token":"at","expires":%d}`, tenYears.Unix()+1), "", tenYears, true},
		{"absolute expires in milliseconds, expires_in kept", "phoneburner", `{"access_token":"at","expires":1406411164000,"expires_in":60}`, "", testNow.Add(time.Minute), false},
		{"absolute expires in milliseconds alone", "phoneburner", `{"access_token":"at","expires":1406411164000}`, "", tenYears, true},
		{"absolute falls back to expires_in 0", "phoneburner", `{"access_token":"at","expires_in":0}`, "", testNow, false},
		{"no expiry at all", "buffer", `{"access_token":"1/long-lived"}`, "", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply{body: tt.body, ctype: tt.ctype}, reply{body: tt.body, ctype: tt.ctype})
			c := testClient(t, tt.provider, f)
			var logs bytes.Buffer
			c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
			req, _ := c.AuthCodeURL(nil, nil)
			tok, err := c.Exchange(context.Background(), req, secret.New("the-code"))
			if err != nil {
				t.Fatal(err)
			}
			if !tok.Expiry.Equal(tt.want) {
				t.Errorf("exchange: Expiry = %v, want %v", tok.Expiry, tt.want)
			}
			if tt.provider != "buffer" {
				tok, err := c.Refresh(context.Background(), secret.New("old-refresh"))
				if err != nil {
					t.Fatal(err)
				}
				if !tok.Expiry.Equal(tt.want) {
					t.Errorf("refresh: Expiry = %v, want %v", tok.Expiry, tt.want)
				}
			}
			warned := strings.Contains(logs.String(), "[WARN]")
			if warned != tt.warn {
				t.Errorf("warning logged = %v, want %v:\n%s", warned, tt.warn, logs.String())
			}
			if warned && (!strings.Contains(logs.String(), "ten years") || !strings.Contains(logs.String(), "provider="+c.Profile.Name)) {
				t.Errorf("the warning does not say what and for which provider:\n%s", logs.String())
			}
			for _, s := range []string{"s3cret-value", "the-code", "old-refresh", "\"at\"", "=at "} {
				if strings.Contains(logs.String(), s) {
					t.Errorf("the log shows %q:\n%s", s, logs.String())
				}
			}
		})
	}
}

// TestTokenTypeChecked: a token_type other than Bearer (without case) is
// refused with an *Error saying how to declare it, unless the profile
// declares it; a missing token_type is Bearer.
func TestTokenTypeChecked(t *testing.T) {
	tests := []struct {
		name, declared, answered string
		ok                       bool
	}{
		{"Bearer", "", `"token_type":"Bearer",`, true},
		{"bearer lower case", "", `"token_type":"bearer",`, true},
		{"BEARER", "", `"token_type":"BEARER",`, true},
		{"missing", "", ``, true},
		{"empty", "", `"token_type":"",`, true},
		{"mac refused", "", `"token_type":"mac",`, false},
		{"DPoP refused", "", `"token_type":"DPoP",`, false},
		{"DPoP declared", "DPoP", `"token_type":"dpop",`, true},
		{"Bearer refused when DPoP declared", "DPoP", `"token_type":"Bearer",`, false},
		{"missing is taken as the declared type", "DPoP", ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"access_token":"at-value",` + tt.answered + `"expires_in":60}`
			f := newFake(t, reply{body: body}, reply{body: body})
			c := testClient(t, "acme", f)
			if tt.declared != "" {
				c.Profile.TokenType = tt.declared
			}
			req, _ := c.AuthCodeURL(nil, nil)
			tok, errX := c.Exchange(context.Background(), req, secret.New("the-code"))
			_, errR := c.Refresh(context.Background(), secret.New("old-refresh"))
			for op, err := range map[string]error{"exchange": errX, "refresh": errR} {
				if tt.ok {
					if err != nil {
						t.Errorf("%s: %v", op, err)
					}
					continue
				}
				var pe *Error
				if !errors.As(err, &pe) || pe.Op != op || pe.Provider != "acme" || pe.Kind != KindMalformed {
					t.Fatalf("%s: err = %v, want a malformed_response *Error", op, err)
				}
				got := strings.Trim(strings.TrimSuffix(strings.TrimPrefix(tt.answered, `"token_type":`), ","), `"`)
				msg := pe.Error()
				if !strings.Contains(msg, fmt.Sprintf("answered token_type %q", got)) ||
					!strings.Contains(msg, fmt.Sprintf("declare token_type = %q", got)) {
					t.Errorf("%s: %q should name the type and how to declare it", op, msg)
				}
				if tt.declared == "" && !strings.Contains(msg, "only sends Bearer tokens") {
					t.Errorf("%s: %q should say oauthform sends Bearer tokens", op, msg)
				}
				if strings.Contains(msg, "at-value") || !pe.NewRefresh.IsZero() {
					t.Errorf("%s: %q, NewRefresh %v", op, msg, pe.NewRefresh)
				}
			}
			if want := firstNonEmpty(tt.declared, "Bearer"); tt.ok && errX == nil && !strings.EqualFold(tok.TokenType, want) {
				t.Errorf("TokenType = %q, want %q", tok.TokenType, want)
			}
		})
	}
}

// TestTokenTypeRefusedRefreshSalvagesTheRotatedToken: a refresh answer
// refused for its token_type that carries a new refresh token hands it
// over in NewRefresh: a rotating provider has retired the old one. The
// token_type is scrubbed of the answer's tokens.
func TestTokenTypeRefusedRefreshSalvagesTheRotatedToken(t *testing.T) {
	for _, tt := range []struct {
		name, provider, body, want string
	}{
		{"rotating sms77", "sms77", `{"access_token":"at-2","token_type":"mac","expires_in":3600,"refresh_token":"rt-2"}`, "rt-2"},
		{"form answer", "oauth2generic", `access_token=at-2&token_type=mac&refresh_token=rt-2`, "rt-2"},
		{"same refresh token", "sms77", `{"access_token":"at-2","token_type":"mac","expires_in":3600,"refresh_token":"rt-1"}`, ""},
		{"no refresh token", "sms77", `{"access_token":"at-2","token_type":"mac","expires_in":3600}`, ""},
		{"token_type echoes the tokens", "sms77", `{"access_token":"at-2-long","token_type":"x at-2-long rt-2-long","refresh_token":"rt-2-long"}`, "rt-2-long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctype := ""
			if !strings.HasPrefix(tt.body, "{") {
				ctype = "application/x-www-form-urlencoded"
			}
			f := newFake(t, reply{body: tt.body, ctype: ctype})
			c := testClient(t, tt.provider, f)
			tok, err := c.Refresh(context.Background(), secret.New("rt-1"))
			var pe *Error
			if tok != nil || !errors.As(err, &pe) || pe.Op != "refresh" {
				t.Fatalf("Refresh = %+v, %v; want a refused token_type", tok, err)
			}
			if got := pe.NewRefresh.Reveal(); got != tt.want {
				t.Errorf("NewRefresh = %q, want %q", got, tt.want)
			}
			if msg := pe.Error(); strings.Contains(msg, "at-2") || strings.Contains(msg, "rt-2") || strings.Contains(msg, "rt-1") {
				t.Errorf("the error shows a token: %q", msg)
			}
		})
	}
}
