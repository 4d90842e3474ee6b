package providers

import (
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// TestAssumeExpiry: a token whose answer gave no expiry is not valid for
// ever (issue 14, item 3). The connection's token_lifetime wins over the
// provider's; with neither, a token that can be refreshed lives an hour,
// except at a provider documented to issue non-expiring tokens (Buffer
// v1); one without a refresh token keeps no expiry. An expiry the
// provider gave is never replaced.
func TestAssumeExpiry(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	withLifetime := func(name string, d time.Duration) *Profile {
		p, _ := Builtin(name)
		p.TokenLifetime = d
		return p
	}
	sms77, _ := Builtin("sms77")
	buffer, _ := Builtin("buffer")
	tests := []struct {
		name     string
		p        *Profile
		override time.Duration
		refresh  bool
		expiry   time.Time // what the answer said
		want     time.Time // zero: no expiry
	}{
		{"refreshable, nothing set", sms77, 0, true, time.Time{}, at.Add(time.Hour)},
		{"no refresh token, nothing set", sms77, 0, false, time.Time{}, time.Time{}},
		{"provider token_lifetime", withLifetime("sms77", 2*time.Hour), 0, true, time.Time{}, at.Add(2 * time.Hour)},
		{"provider token_lifetime, no refresh token", withLifetime("sms77", 2*time.Hour), 0, false, time.Time{}, at.Add(2 * time.Hour)},
		{"connection overrides provider", withLifetime("sms77", 2*time.Hour), 15 * time.Minute, true, time.Time{}, at.Add(15 * time.Minute)},
		{"buffer v1 keeps never", buffer, 0, true, time.Time{}, time.Time{}},
		{"buffer v1 with connection token_lifetime", buffer, 24 * time.Hour, false, time.Time{}, at.Add(24 * time.Hour)},
		{"the provider's expiry stands", withLifetime("sms77", 2*time.Hour), time.Minute, true, at.Add(5 * time.Minute), at.Add(5 * time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := &Token{AccessToken: secret.New("at"), Expiry: tc.expiry}
			if tc.refresh {
				tok.RefreshToken = secret.New("rt")
			}
			assumed := tc.p.AssumeExpiry(tok, tc.override, at)
			if !tok.Expiry.Equal(tc.want) {
				t.Errorf("Expiry = %v, want %v", tok.Expiry, tc.want)
			}
			if wantAssumed := tc.expiry.IsZero() && !tc.want.IsZero(); assumed != wantAssumed {
				t.Errorf("assumed = %v, want %v", assumed, wantAssumed)
			}
		})
	}
}

// TestTokenLifetimeValidate: a provider's token_lifetime must be positive.
func TestTokenLifetimeValidate(t *testing.T) {
	p, _ := Builtin("sms77")
	p.TokenLifetime = -time.Second
	errs := p.Validate()
	if len(errs) != 1 || errs[0].Field != "token_lifetime" {
		t.Errorf("Validate() = %v, want one token_lifetime error", errs)
	}
}
