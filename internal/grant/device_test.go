package grant

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
)

// deviceFixture is the oauth2 emulator and a confidential client of it
// whose clock moves when it sleeps: no test waits for a poll interval.
type deviceFixture struct {
	emu    *emulator.Server
	client *providers.Client
	mu     sync.Mutex
	now    time.Time
}

func (f *deviceFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func newDeviceFixture(t *testing.T, ttl time.Duration) *deviceFixture {
	t.Helper()
	f := &deviceFixture{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	emu, err := emulator.New(emulator.Options{Provider: "oauth2", Now: f.clock, DeviceCodeTTL: ttl,
		Clients: []emulator.Client{{ID: testClientID, Secret: testClientSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	p := providers.Generic("oauth2")
	paths := emu.Paths()
	p.AuthorizeURL, p.TokenURL, p.DeviceAuthURL = srv.URL+paths["authorize"], srv.URL+paths["token"], srv.URL+paths["device_authorization"]
	f.emu = emu
	f.client = &providers.Client{Profile: p, ClientID: testClientID, ClientSecret: secret.New(testClientSecret),
		Timeout: 5 * time.Second, Now: f.clock,
		Sleep: func(ctx context.Context, d time.Duration) error {
			f.mu.Lock()
			f.now = f.now.Add(d)
			f.mu.Unlock()
			return ctx.Err()
		}}
	return f
}

func (f *deviceFixture) request() Request {
	return Request{Conn: "tv", Provider: "oauth2", Grant: providers.GrantDeviceCode, Client: f.client, Scopes: []string{"read"}}
}

// deviceBrowser approves or denies at the emulator's verification page,
// and remembers the user code it was given.
type deviceBrowser struct {
	approve  bool
	userCode string
}

func (b *deviceBrowser) Open(context.Context, string) error {
	return errors.New("not a device browser")
}

func (b *deviceBrowser) OpenDevice(ctx context.Context, uri string, code secret.Secret) error {
	b.userCode = code.Reveal()
	return emulator.ApproveDevice(ctx, nil, uri, code.Reveal(), b.approve)
}

func TestDeviceApproved(t *testing.T) {
	f := newDeviceFixture(t, 0)
	var out, logs bytes.Buffer
	b := &deviceBrowser{approve: true}
	r := &Runner{Out: &out, Browser: b, Timeout: time.Minute,
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})}
	tok, err := r.Run(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken.IsZero() || tok.RefreshToken.IsZero() {
		t.Fatalf("token without access or refresh token")
	}
	text := out.String()
	if b.userCode == "" || strings.Count(text, b.userCode) != 2 { // the code, and inside verification_uri_complete
		t.Errorf("the user code %q is not printed once (with its complete address):\n%s", b.userCode, text)
	}
	if !regexp.MustCompile(`(?m)^http://127\.0\.0\.1:\d+/\S+$`).MatchString(text) || !strings.Contains(text, "enter the code: ") {
		t.Errorf("no verification address alone on its line:\n%s", text)
	}
	assertNoSecrets(t, "the log", logs.String(), b.userCode, strings.ReplaceAll(b.userCode, "-", ""), testClientSecret,
		tok.AccessToken.Reveal(), tok.RefreshToken.Reveal())
	assertNoSecrets(t, "the output", text, testClientSecret, tok.AccessToken.Reveal())
	if s := f.emu.Stats(); s.DeviceTokens != 1 || s.Approvals != 1 {
		t.Errorf("stats: %d device tokens, %d approvals", s.DeviceTokens, s.Approvals)
	}
}

func TestDeviceDenied(t *testing.T) {
	f := newDeviceFixture(t, 0)
	r := &Runner{Browser: &deviceBrowser{approve: false}, Timeout: time.Minute}
	_, err := r.Run(context.Background(), f.request())
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.KindAccessDenied {
		t.Fatalf("Run = %v, want an access_denied *providers.Error", err)
	}
}

func TestDeviceExpired(t *testing.T) {
	f := newDeviceFixture(t, 30*time.Second)
	r := &Runner{Timeout: time.Hour} // no browser: nobody approves
	_, err := r.Run(context.Background(), f.request())
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.KindExpiredToken || !strings.Contains(err.Error(), "run apply again") {
		t.Fatalf("Run = %v, want an expired_token error saying to run apply again", err)
	}
}

func TestDeviceTimeoutAndCancel(t *testing.T) {
	f := newDeviceFixture(t, 0)
	// A real sleep here: the timeout is the grant's own context.
	f.client.Sleep = nil
	r := &Runner{Timeout: 50 * time.Millisecond}
	if _, err := r.Run(context.Background(), f.request()); !errors.Is(err, ErrTimeout) {
		t.Errorf("Run = %v, want ErrTimeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r = &Runner{Timeout: time.Minute}
	f.client.Sleep = func(ctx context.Context, _ time.Duration) error {
		cancel() // Ctrl-C while waiting for the person
		<-ctx.Done()
		return ctx.Err()
	}
	if _, err := r.Run(ctx, f.request()); !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want ErrCanceled wrapping context.Canceled", err)
	}
}
