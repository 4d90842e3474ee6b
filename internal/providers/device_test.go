package providers_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
)

// deviceEnv is the oauth2 emulator and a client of a generic provider
// declared with its endpoints, whose Sleep advances the shared fake clock
// and then runs the test's step for that wait (approve, deny, cancel).
type deviceEnv struct {
	*env
	mu     sync.Mutex
	sleeps []time.Duration
	step   func(n int) // called after the n-th wait (1-based)
	logs   *bytes.Buffer
}

func newDeviceEnv(t *testing.T, auth providers.ClientAuth) *deviceEnv {
	t.Helper()
	e := newEnv(t, "oauth2", nil, envOptions{})
	p := providers.Generic("acme")
	p.AuthorizeURL, p.TokenURL = e.srv.URL+"/authorize", e.srv.URL+"/token"
	p.RevokeURL, p.CheckURL = e.srv.URL+"/revoke", e.srv.URL+"/userinfo"
	p.DeviceAuthURL = e.srv.URL + "/device_authorization"
	p.ClientAuth = auth
	e.client.Profile = p
	d := &deviceEnv{env: e, logs: &bytes.Buffer{}}
	e.client.Logger = hclog.New(&hclog.LoggerOptions{Output: d.logs, Level: hclog.Debug})
	e.client.Sleep = func(ctx context.Context, w time.Duration) error {
		d.mu.Lock()
		d.sleeps = append(d.sleeps, w)
		n := len(d.sleeps)
		d.mu.Unlock()
		e.clock.Add(w)
		if d.step != nil {
			d.step(n)
		}
		return ctx.Err()
	}
	return d
}

// decide plays the person at the verification page.
func (d *deviceEnv) decide(t *testing.T, da *providers.DeviceAuth, approve bool) {
	t.Helper()
	if err := emulator.ApproveDevice(context.Background(), d.srv.Client(), da.VerificationURI, da.UserCode.Reveal(), approve); err != nil {
		t.Errorf("ApproveDevice: %v", err)
	}
}

// noCodesLogged fails when the log shows the device or user code.
func (d *deviceEnv) noCodesLogged(t *testing.T, da *providers.DeviceAuth) {
	t.Helper()
	logs := d.logs.String()
	for _, s := range []string{da.DeviceCode.Reveal(), da.UserCode.Reveal(), strings.ReplaceAll(da.UserCode.Reveal(), "-", "")} {
		if strings.Contains(logs, s) {
			t.Errorf("the log shows a device or user code:\n%s", logs)
		}
	}
}

func TestDeviceFlowAgainstEmulator(t *testing.T) {
	for _, auth := range []providers.ClientAuth{providers.AuthBasic, providers.AuthBody} {
		t.Run(string(auth), func(t *testing.T) {
			d := newDeviceEnv(t, auth)
			start := d.clock.Now()
			da, err := d.client.DeviceAuth(context.Background(), []string{"read", "write"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if da.DeviceCode.IsZero() || da.UserCode.IsZero() || da.VerificationURI != d.srv.URL+"/device" ||
				da.VerificationURIComplete.Reveal() != da.VerificationURI+"?user_code="+da.UserCode.Reveal() {
				t.Fatalf("device authorization %+v", da)
			}
			if da.Interval != 5*time.Second || !da.Expiry.Equal(start.Add(10*time.Minute)) {
				t.Errorf("interval %s, expiry %s; want 5s and %s", da.Interval, da.Expiry, start.Add(10*time.Minute))
			}
			// Pending at the first poll; the person approves during the
			// second wait.
			d.step = func(n int) {
				if n == 2 {
					d.decide(t, da, true)
				}
			}
			tok, err := d.client.DeviceAccessToken(context.Background(), da)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.sleeps, []time.Duration{5 * time.Second, 5 * time.Second}) {
				t.Errorf("waits %v, want 5s twice", d.sleeps)
			}
			if tok.AccessToken.IsZero() || tok.RefreshToken.IsZero() || !slices.Equal(tok.Scopes, []string{"read", "write"}) ||
				!tok.Expiry.Equal(d.clock.Now().Add(time.Hour)) || tok.TokenType != "Bearer" {
				t.Errorf("token %+v", tok)
			}
			if _, err := d.client.Check(context.Background(), tok.AccessToken); err != nil {
				t.Errorf("check with the device token: %v", err)
			}
			// The device grant's refresh token refreshes as any other.
			if _, err := d.client.Refresh(context.Background(), tok.RefreshToken); err != nil {
				t.Errorf("refresh: %v", err)
			}
			d.noCodesLogged(t, da)
			if n := strings.Count(d.logs.String(), "provider call"); n != 5 {
				t.Errorf("%d log lines for 5 requests:\n%s", n, d.logs)
			}
		})
	}
}

func TestDeviceSlowDownThroughClient(t *testing.T) {
	d := newDeviceEnv(t, providers.AuthBasic)
	da, err := d.client.DeviceAuth(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A client that polls too fast is told to slow down, and adds 5s.
	da.Interval = 2 * time.Second
	d.step = func(n int) {
		if n == 3 {
			d.decide(t, da, true)
		}
	}
	if _, err := d.client.DeviceAccessToken(context.Background(), da); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{2 * time.Second, 7 * time.Second, 7 * time.Second}; !slices.Equal(d.sleeps, want) {
		t.Errorf("waits %v, want %v", d.sleeps, want)
	}
	if !strings.Contains(d.logs.String(), "slow_down") {
		t.Errorf("the slow_down is not in the log:\n%s", d.logs)
	}
}

func TestDeviceDeniedThroughClient(t *testing.T) {
	d := newDeviceEnv(t, providers.AuthBasic)
	da, err := d.client.DeviceAuth(context.Background(), []string{"read"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.step = func(n int) {
		if n == 1 {
			d.decide(t, da, false)
		}
	}
	_, err = d.client.DeviceAccessToken(context.Background(), da)
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.KindAccessDenied || pe.Op != "device_token" {
		t.Fatalf("err = %v, want a device_token access_denied *Error", err)
	}
	if len(d.sleeps) != 1 {
		t.Errorf("polled after %d waits, want 1", len(d.sleeps))
	}
	d.noCodesLogged(t, da)
}

func TestDeviceExpiryThroughClient(t *testing.T) {
	t.Run("by the client's clock", func(t *testing.T) {
		d := newDeviceEnv(t, providers.AuthBasic)
		da, err := d.client.DeviceAuth(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.client.DeviceAccessToken(context.Background(), da)
		if kindOf(err) != providers.KindExpiredToken || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("err = %v, want expired_token", err)
		}
		if d.clock.Now().After(da.Expiry) {
			t.Errorf("polled past the expiry: now %s, expiry %s", d.clock.Now(), da.Expiry)
		}
		if n := len(d.sleeps); n != 120 {
			t.Errorf("%d waits in 10 minutes at 5s, want 120", n)
		}
	})
	t.Run("by the server's expired_token", func(t *testing.T) {
		d := newDeviceEnv(t, providers.AuthBasic)
		da, err := d.client.DeviceAuth(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		da.Interval = 11 * time.Minute // beyond the codes' life at the server
		da.Expiry = da.Expiry.Add(time.Hour)
		_, err = d.client.DeviceAccessToken(context.Background(), da)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Kind != providers.KindExpiredToken || pe.Code != "expired_token" {
			t.Fatalf("err = %v, want the server's expired_token", err)
		}
	})
}

func TestDeviceCancelled(t *testing.T) {
	d := newDeviceEnv(t, providers.AuthBasic)
	da, err := d.client.DeviceAuth(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.step = func(n int) {
		if n == 3 {
			cancel() // Ctrl-C during the third wait
		}
	}
	_, err = d.client.DeviceAccessToken(ctx, da)
	if !errors.Is(err, context.Canceled) || kindOf(err) != providers.KindNetwork {
		t.Fatalf("err = %v, want a cancelled network error", err)
	}
	if len(d.sleeps) != 3 {
		t.Errorf("%d waits, want 3", len(d.sleeps))
	}
}

func TestDeviceDiscovered(t *testing.T) {
	d := newDeviceEnv(t, providers.AuthBasic)
	p := providers.Generic("acme")
	p.Issuer = d.srv.URL
	d.client.Profile = p
	da, err := d.client.DeviceAuth(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.client.Profile.DeviceAuthURL != d.srv.URL+"/device_authorization" || d.client.Discovered().DeviceAuthURL != d.client.Profile.DeviceAuthURL {
		t.Errorf("discovered device endpoint %q, Discovered %+v", d.client.Profile.DeviceAuthURL, d.client.Discovered())
	}
	d.step = func(int) { d.decide(t, da, true) }
	if _, err := d.client.DeviceAccessToken(context.Background(), da); err != nil {
		t.Fatal(err)
	}
}

func TestClientCredentialsAgainstEmulator(t *testing.T) {
	for _, auth := range []providers.ClientAuth{providers.AuthBasic, providers.AuthBody} {
		t.Run(string(auth), func(t *testing.T) {
			d := newDeviceEnv(t, auth)
			tok, err := d.client.ClientCredentials(context.Background(), []string{"read"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken.IsZero() || !tok.RefreshToken.IsZero() || !slices.Equal(tok.Scopes, []string{"read"}) ||
				!tok.Expiry.Equal(d.clock.Now().Add(time.Hour)) {
				t.Errorf("token %+v", tok)
			}
			if id, err := d.client.Check(context.Background(), tok.AccessToken); err != nil || id.Fields["client_id"] != testClientID {
				t.Errorf("check: %v %v", id, err)
			}
			if err := d.client.Revoke(context.Background(), tok.AccessToken, tok.RefreshToken); err != nil {
				t.Errorf("revoke: %v", err)
			}
			if _, err := d.client.Check(context.Background(), tok.AccessToken); kindOf(err) != providers.KindInvalidToken {
				t.Errorf("check after revoke: %v", err)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		d := newDeviceEnv(t, providers.AuthBasic)
		d.client.ClientSecret = secret.New("not-the-secret")
		_, err := d.client.ClientCredentials(context.Background(), nil, nil)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Kind != providers.KindInvalidClient || pe.Op != "client_credentials" {
			t.Fatalf("err = %v, want a client_credentials invalid_client", err)
		}
		if strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("the error shows the secret: %v", err)
		}
	})
	t.Run("public client", func(t *testing.T) {
		d := newDeviceEnv(t, providers.AuthNone)
		if _, err := d.client.ClientCredentials(context.Background(), nil, nil); !errors.Is(err, providers.ErrPublicClientCredentials) {
			t.Fatalf("err = %v, want ErrPublicClientCredentials", err)
		}
	})
	t.Run("unknown scope", func(t *testing.T) {
		d := newDeviceEnv(t, providers.AuthBasic)
		if _, err := d.client.ClientCredentials(context.Background(), []string{"bad\"scope"}, nil); kindOf(err) != providers.KindInvalidScope {
			t.Fatalf("err = %v, want invalid_scope", err)
		}
	})
}
