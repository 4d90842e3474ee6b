package providers

import (
	"strings"
	"testing"
	"time"
)

func TestImportToken(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	client := func(name string) *Client {
		p, ok := Builtin(name)
		if !ok {
			t.Fatalf("no built-in %s", name)
		}
		return &Client{Profile: p, ClientID: "id", Now: func() time.Time { return now }}
	}
	for _, tc := range []struct {
		name, provider, doc string
		access, refresh     string
		expiry              time.Time
		scopes              []string
	}{
		{"a standard token response", "sms77",
			`{"access_token":"at-1","refresh_token":"rt-1","token_type":"bearer","expires_in":3600,"scope":"sms analytics"}`,
			"at-1", "rt-1", now.Add(time.Hour), []string{"sms", "analytics"}},
		{"PhoneBurner's absolute expires", "phoneburner",
			`{"access_token":"at-2","refresh_token":"rt-2","token_type":"bearer","expires":1796299200}`,
			"at-2", "rt-2", time.Unix(1796299200, 0), nil},
		{"token -json's document", "sms77",
			`{"format_version":"1.0","connection":"c","access_token":"at-3","token_type":"Bearer","expiry":"2026-12-03T13:30:00Z","scopes":["sms"],"refreshed":false}`,
			"at-3", "", time.Date(2026, 12, 3, 13, 30, 0, 0, time.UTC), []string{"sms"}},
		{"no scope and no expiry", "sms77", `{"access_token":"at-4"}`, "at-4", "", time.Time{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := client(tc.provider).ImportToken(strings.NewReader(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken.Reveal() != tc.access || tok.RefreshToken.Reveal() != tc.refresh || !tok.Expiry.Equal(tc.expiry) ||
				strings.Join(tok.Scopes, " ") != strings.Join(tc.scopes, " ") || (tc.scopes == nil) != (tok.Scopes == nil) {
				t.Errorf("got access %q refresh %q expiry %v scopes %q; want %q %q %v %q",
					tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok.Expiry, tok.Scopes, tc.access, tc.refresh, tc.expiry, tc.scopes)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("token type %q", tok.TokenType)
			}
		})
	}
	for name, doc := range map[string]string{
		"not JSON":            "access_token=secret-xyz",
		"not an object":       `["secret-xyz"]`,
		"no access token":     `{"refresh_token":"secret-xyz"}`,
		"access not a string": `{"access_token":12345678}`,
		"another token type":  `{"access_token":"secret-xyz","token_type":"mac"}`,
		"a bad expiry":        `{"access_token":"secret-xyz","expiry":"tomorrow"}`,
		"too large":           `{"access_token":"secret-xyz","pad":"` + strings.Repeat("x", MaxImportSize) + `"}`,
	} {
		_, err := client("sms77").ImportToken(strings.NewReader(doc))
		if err == nil {
			t.Errorf("%s: imported", name)
			continue
		}
		if strings.Contains(err.Error(), "secret-xyz") {
			t.Errorf("%s: the error quotes the token: %v", name, err)
		}
	}
}
