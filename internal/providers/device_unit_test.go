package providers

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// deviceClient is a generic provider's client on f, with a device
// endpoint, whose waits are recorded and take no time.
func deviceClient(t *testing.T, f *fakeServer) (*Client, *[]time.Duration) {
	t.Helper()
	c := testClient(t, "acme", f)
	c.Profile.DeviceAuthURL = f.URL + "/device"
	var waits []time.Duration
	now := testNow
	c.Now = func() time.Time { return now }
	c.Sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		now = now.Add(d)
		return ctx.Err()
	}
	return c, &waits
}

func TestDeviceAuthOnTheWire(t *testing.T) {
	f := newFake(t, reply{body: `{"device_code":"dc-123456","user_code":"WDJB-MJHT","verification_url":"https://x.example/device",` +
		`"expires_in":"900","interval":"7"}`})
	c, _ := deviceClient(t, f)
	c.Profile.ScopeSeparator = ","
	da, err := c.DeviceAuth(context.Background(), []string{"a", "b"}, map[string]string{"audience": "api"})
	if err != nil {
		t.Fatal(err)
	}
	// Google's verification_url, numbers as strings.
	if da.VerificationURI != "https://x.example/device" || da.Interval != 7*time.Second || !da.Expiry.Equal(testNow.Add(15*time.Minute)) ||
		da.UserCode.Reveal() != "WDJB-MJHT" || !da.VerificationURIComplete.IsZero() {
		t.Errorf("device authorization %+v", da)
	}
	r := f.requests()[0]
	q, _ := url.ParseQuery(r.body)
	if r.path != "/device" || !r.basic || r.user != "the-client" || r.pass != "s3cret-value" ||
		q.Get("client_id") != "the-client" || q.Get("scope") != "a,b" || q.Get("audience") != "api" || q.Has("client_secret") {
		t.Errorf("request %+v", r)
	}
	if _, err := c.DeviceAuth(context.Background(), nil, map[string]string{"device_code": "x"}); err == nil {
		t.Error("a reserved param was accepted")
	}
}

func TestDeviceAuthDefaultsAndRefusals(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		f := newFake(t, reply{body: `{"device_code":"dc-123456","user_code":"U","verification_uri":"https://x.example/d"}`})
		c, _ := deviceClient(t, f)
		da, err := c.DeviceAuth(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if da.Interval != DefaultDeviceInterval || !da.Expiry.Equal(testNow.Add(DefaultDeviceExpiry)) {
			t.Errorf("interval %s expiry %s", da.Interval, da.Expiry)
		}
	})
	for name, body := range map[string]string{
		"javascript URI":   `{"device_code":"d","user_code":"u","verification_uri":"javascript:alert(1)","expires_in":600}`,
		"plain http":       `{"device_code":"d","user_code":"u","verification_uri":"http://evil.example/d","expires_in":600}`,
		"escape in code":   `{"device_code":"d","user_code":"u\u001b[2J","verification_uri":"https://x.example/d","expires_in":600}`,
		"bidi in code":     `{"device_code":"d","user_code":"AB\u202eCD","verification_uri":"https://x.example/d","expires_in":600}`,
		"no device code":   `{"user_code":"u","verification_uri":"https://x.example/d","expires_in":600}`,
		"no user code":     `{"device_code":"d","verification_uri":"https://x.example/d","expires_in":600}`,
		"bad complete URI": `{"device_code":"d","user_code":"u","verification_uri":"https://x.example/d","verification_uri_complete":"data:x"}`,
		"not JSON":         `<html>`,
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := deviceClient(t, newFake(t, reply{body: body}))
			_, err := c.DeviceAuth(context.Background(), nil, nil)
			var pe *Error
			if !errors.As(err, &pe) || pe.Kind != KindMalformed || pe.Op != "device_authorization" {
				t.Fatalf("err = %v, want a malformed device_authorization", err)
			}
		})
	}
	t.Run("no endpoint", func(t *testing.T) {
		c := testClient(t, "acme", newFake(t))
		if _, err := c.DeviceAuth(context.Background(), nil, nil); !errors.Is(err, ErrNoDeviceAuth) {
			t.Errorf("err = %v, want ErrNoDeviceAuth", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		c, _ := deviceClient(t, newFake(t, reply{status: 400, body: `{"error":"unauthorized_client","error_description":"no device grant for the-client"}`}))
		if _, err := c.DeviceAuth(context.Background(), nil, nil); kindOf(err) != KindInvalidClient {
			t.Errorf("err = %v, want invalid_client", err)
		}
	})
}

func kindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return ""
}

func TestDeviceAccessTokenOnTheWire(t *testing.T) {
	pending := reply{status: 400, body: `{"error":"authorization_pending"}`}
	f := newFake(t,
		pending,
		reply{status: 400, body: `{"error":"slow_down"}`},
		reply{status: 429, header: map[string]string{"Retry-After": "30"}, body: `{"error":"temporarily_unavailable"}`},
		pending,
		reply{body: `{"access_token":"at-1","token_type":"bearer","expires_in":60,"refresh_token":"rt-1","scope":"a"}`},
	)
	c, waits := deviceClient(t, f)
	da := &DeviceAuth{DeviceCode: secret.New("dc-secret-1"), UserCode: secret.New("UCODE-1"), Interval: 5 * time.Second,
		Expiry: testNow.Add(time.Hour), Scopes: []string{"a", "b"}}
	tok, err := c.DeviceAccessToken(context.Background(), da)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, 30 * time.Second}
	if !equalDurations(*waits, want) {
		t.Errorf("waits %v, want %v", *waits, want)
	}
	if tok.AccessToken.Reveal() != "at-1" || tok.RefreshToken.Reveal() != "rt-1" || tok.TokenType != "Bearer" || len(tok.Scopes) != 1 {
		t.Errorf("token %+v", tok)
	}
	for _, r := range f.requests() {
		q, _ := url.ParseQuery(r.body)
		if q.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || q.Get("device_code") != "dc-secret-1" ||
			!r.basic || q.Has("scope") || q.Has("client_secret") {
			t.Errorf("poll %+v", r)
		}
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDeviceAccessTokenErrors(t *testing.T) {
	da := func() *DeviceAuth {
		return &DeviceAuth{DeviceCode: secret.New("dc-secret-2"), UserCode: secret.New("UCODE-2"), Interval: time.Second, Expiry: testNow.Add(time.Hour)}
	}
	t.Run("denied", func(t *testing.T) {
		c, _ := deviceClient(t, newFake(t, reply{status: 400, body: `{"error":"access_denied"}`}))
		_, err := c.DeviceAccessToken(context.Background(), da())
		if kindOf(err) != KindAccessDenied || !strings.Contains(err.Error(), "access_denied") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("expired_token", func(t *testing.T) {
		c, _ := deviceClient(t, newFake(t, reply{status: 400, body: `{"error":"expired_token"}`}))
		if _, err := c.DeviceAccessToken(context.Background(), da()); kindOf(err) != KindExpiredToken {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("an echoed code is scrubbed", func(t *testing.T) {
		c, _ := deviceClient(t, newFake(t, reply{status: 400, body: `{"error":"invalid_grant","error_description":"bad device_code dc-secret-2 for UCODE-2"}`}))
		_, err := c.DeviceAccessToken(context.Background(), da())
		if kindOf(err) != KindInvalidGrant || strings.Contains(err.Error(), "dc-secret-2") || strings.Contains(err.Error(), "UCODE-2") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("expiry stops the wait", func(t *testing.T) {
		f := newFake(t)
		c, waits := deviceClient(t, f)
		d := da()
		d.Interval = 10 * time.Minute
		d.Expiry = testNow.Add(3 * time.Minute)
		_, err := c.DeviceAccessToken(context.Background(), d)
		if kindOf(err) != KindExpiredToken || len(f.requests()) != 0 {
			t.Errorf("err = %v after %d polls", err, len(f.requests()))
		}
		if len(*waits) != 1 || (*waits)[0] != 3*time.Minute {
			t.Errorf("waits %v, want one of 3m (until the expiry)", *waits)
		}
	})
	t.Run("a cancelled context", func(t *testing.T) {
		c, _ := deviceClient(t, newFake(t))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.DeviceAccessToken(ctx, da()); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestClientCredentialsOnTheWire(t *testing.T) {
	f := newFake(t, reply{body: `{"access_token":"at-cc","token_type":"Bearer","expires_in":120}`})
	c, _ := deviceClient(t, f)
	c.Profile.ClientAuth = AuthBody
	c.Profile.ScopeSeparator = ","
	tok, err := c.ClientCredentials(context.Background(), []string{"x", "y"}, map[string]string{"resource": "https://api.example"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken.Reveal() != "at-cc" || !tok.RefreshToken.IsZero() || !tok.Expiry.Equal(c.now().Add(2*time.Minute)) ||
		strings.Join(tok.Scopes, " ") != "x y" {
		t.Errorf("token %+v", tok)
	}
	r := f.requests()[0]
	q, _ := url.ParseQuery(r.body)
	if r.basic || q.Get("grant_type") != "client_credentials" || q.Get("client_id") != "the-client" || q.Get("client_secret") != "s3cret-value" ||
		q.Get("scope") != "x,y" || q.Get("resource") != "https://api.example" {
		t.Errorf("request %+v", r)
	}
	if _, err := c.ClientCredentials(context.Background(), nil, map[string]string{"grant_type": "password"}); err == nil {
		t.Error("a reserved param was accepted")
	}
	t.Run("retried on 429", func(t *testing.T) {
		f := newFake(t, reply{status: 429, header: map[string]string{"Retry-After": "1"}}, reply{body: `{"access_token":"at","token_type":"Bearer"}`})
		c, waits := deviceClient(t, f)
		if _, err := c.ClientCredentials(context.Background(), nil, nil); err != nil || len(*waits) != 1 {
			t.Errorf("err %v, waits %v", err, *waits)
		}
	})
}

// FuzzDeviceAuthAnswer: whatever a device authorization endpoint answers,
// parsing it never panics, an accepted answer has the fields RFC 8628 §3.2
// requires with addresses safe to show and open, and an error never quotes
// the answer's codes.
func FuzzDeviceAuthAnswer(f *testing.F) {
	for _, s := range []string{
		`{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://x.example/d","expires_in":900,"interval":5}`,
		`{"device_code":"dc","user_code":"u","verification_url":"https://x.example/d","expires_in":"1e9","interval":-1}`,
		`{"device_code":"dc","user_code":"u","verification_uri":"javascript:alert(1)"}`,
		`{"device_code":1,"user_code":null}`, `[]`, `<html>`,
	} {
		f.Add(s)
	}
	c := &Client{Profile: Generic("acme"), ClientID: "the-client", Now: func() time.Time { return testNow }}
	f.Fuzz(func(t *testing.T, body string) {
		da, err := c.parseDeviceAuth([]byte(body), nil)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Kind != KindMalformed {
				t.Fatalf("error %v is not a malformed *Error", err)
			}
			if strings.Contains(err.Error(), "\x1b") {
				t.Errorf("the error carries an escape: %q", err)
			}
			return
		}
		if da.DeviceCode.IsZero() || da.UserCode.IsZero() || CheckEndpointURL(da.VerificationURI) != "" {
			t.Errorf("accepted %+v", da)
		}
		if unsafeText(da.UserCode.Reveal()) || unsafeText(da.VerificationURI) || unsafeText(da.VerificationURIComplete.Reveal()) {
			t.Errorf("accepted control characters: %q", body)
		}
		if da.Interval <= 0 || da.Interval > maxDeviceInterval || !da.Expiry.After(testNow) {
			t.Errorf("interval %s, expiry %s", da.Interval, da.Expiry)
		}
	})
}
