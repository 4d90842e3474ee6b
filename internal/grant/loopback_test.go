package grant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
)

func TestLoopbackHTTPBrowser(t *testing.T) {
	for _, provider := range []string{"sms77", "buffer"} {
		t.Run(provider, func(t *testing.T) {
			redirect := loopbackRedirect(t)
			f := newFixture(t, provider, redirect)
			var out bytes.Buffer
			var addr string
			r := &Runner{Out: &out, Browser: emulator.Browser{HTTP: f.srv.Client(), Approve: true}, Timeout: 10 * time.Second,
				ListenHook: func(a string) { addr = a }}
			req := f.request("sms_main")
			req.Index, req.Total = 2, 3
			tok, err := r.Run(context.Background(), req)
			if err != nil {
				t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
			}
			if tok == nil || tok.AccessToken.IsZero() {
				t.Fatalf("no access token: %+v", tok)
			}
			if got := f.emu.Stats().Exchanges; got != 1 {
				t.Errorf("the emulator saw %d exchanges, want 1", got)
			}
			assertClosed(t, addr)

			lines := outLines(out.String())
			want := []string{
				fmt.Sprintf("Grant 2 of 3: sms_main (%s)", provider),
				"Open this URL to authorize sms_main:",
				"", // the URL, checked below
				fmt.Sprintf("Waiting for the callback on %s ...", redirect),
			}
			if len(lines) != len(want) {
				t.Fatalf("output has %d lines, want %d:\n%s", len(lines), len(want), out.String())
			}
			for i, w := range want {
				if w != "" && lines[i] != w {
					t.Errorf("line %d = %q, want %q", i+1, lines[i], w)
				}
			}
			u, err := url.Parse(lines[2])
			if err != nil || !strings.HasPrefix(lines[2], f.srv.URL+"/") || strings.ContainsAny(lines[2], " \t") {
				t.Errorf("the URL line is not the authorization URL alone: %q", lines[2])
			} else if u.Query().Get("client_id") != testClientID {
				t.Errorf("the URL line has client_id %q", u.Query().Get("client_id"))
			}
			assertNoSecrets(t, "the output", out.String(),
				tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), testClientSecret)
		})
	}
}

func TestLoopbackPageAndSecrets(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	var out bytes.Buffer
	b := &consentBrowser{hc: f.srv.Client(), approve: true}
	r := &Runner{Out: &out, Browser: b, Timeout: 10 * time.Second}
	tok, err := r.Run(context.Background(), f.request("sms_main"))
	if err != nil {
		t.Fatalf("Run: %v (browser: %v)", err, b.err)
	}
	cb, _ := url.Parse(b.callback)
	code, state := cb.Query().Get("code"), cb.Query().Get("state")
	if code == "" || state == "" {
		t.Fatalf("callback without code or state: %s", b.callback)
	}
	if b.page.status != http.StatusOK || !strings.Contains(b.page.body, "Connected sms_main (sms77). You can close this tab.") {
		t.Errorf("callback page: %d\n%s", b.page.status, b.page.body)
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
		if got := b.page.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	secrets := []string{code, tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), testClientSecret}
	assertNoSecrets(t, "the callback page", b.page.body, append(secrets, state)...)
	assertNoSecrets(t, "the output", out.String(), secrets...)
}

func TestLoopbackDeny(t *testing.T) {
	t.Run("HTTPBrowser", func(t *testing.T) {
		redirect := loopbackRedirect(t)
		f := newFixture(t, "sms77", redirect)
		r := &Runner{Browser: emulator.Browser{HTTP: f.srv.Client(), Approve: false}, Timeout: 10 * time.Second}
		_, err := r.Run(context.Background(), f.request("sms_main"))
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Kind != providers.KindAccessDenied || pe.Op != "authorize" {
			t.Fatalf("Run = %v, want an authorize access_denied *providers.Error", err)
		}
		if got := f.emu.Stats().Exchanges; got != 0 {
			t.Errorf("%d exchanges after a denial", got)
		}
	})
	t.Run("page", func(t *testing.T) {
		redirect := loopbackRedirect(t)
		f := newFixture(t, "sms77", redirect)
		b := &consentBrowser{hc: f.srv.Client(), approve: false}
		r := &Runner{Browser: b, Timeout: 10 * time.Second}
		_, err := r.Run(context.Background(), f.request("sms_main"))
		if err == nil {
			t.Fatal("Run succeeded after a denial")
		}
		if b.page.status != http.StatusBadRequest || !strings.Contains(b.page.body, "access_denied") ||
			!strings.Contains(b.page.body, "sms_main (sms77) was not connected") {
			t.Errorf("denial page: %d\n%s", b.page.status, b.page.body)
		}
		cb, _ := url.Parse(b.callback)
		assertNoSecrets(t, "the denial page", b.page.body, cb.Query().Get("state"), testClientSecret)
	})
}

func TestLoopbackExchangeFails(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	const wrong = "wrong-client-secret-8c1e"
	f.client.ClientSecret = secret.New(wrong)
	b := &consentBrowser{hc: f.srv.Client(), approve: true}
	var out bytes.Buffer
	r := &Runner{Out: &out, Browser: b, Timeout: 10 * time.Second}
	_, err := r.Run(context.Background(), f.request("sms_main"))
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.KindInvalidClient || pe.Op != "exchange" {
		t.Fatalf("Run = %v, want an exchange invalid_client", err)
	}
	if b.page.status != http.StatusBadGateway || !strings.Contains(b.page.body, "invalid_client") {
		t.Errorf("exchange failure page: %d\n%s", b.page.status, b.page.body)
	}
	cb, _ := url.Parse(b.callback)
	assertNoSecrets(t, "the failure page", b.page.body, cb.Query().Get("code"), cb.Query().Get("state"), wrong)
	assertNoSecrets(t, "the output", out.String(), cb.Query().Get("code"), wrong)
}

func TestLoopbackWrongStateKeepsWaiting(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	base, _ := url.Parse(redirect)
	type probe struct {
		url    string
		status int
		want   string
	}
	probes := []probe{
		{redirect + "?state=bogus&code=forged-code", http.StatusBadRequest, "This callback does not belong to the authorization in progress"},
		{redirect + "?state=bogus&error=access_denied", http.StatusBadRequest, "This callback does not belong to the authorization in progress"},
		{redirect, http.StatusBadRequest, "does not belong"},
		{"http://" + base.Host + "/favicon.ico", http.StatusNotFound, "Not found"},
		{redirect + "/extra", http.StatusNotFound, "Not found"},
	}
	var got []answer
	var probeErr error
	browser := browserFunc(func(ctx context.Context, u string) error {
		for _, p := range probes {
			a, err := get(p.url)
			if err != nil {
				probeErr = err
				break
			}
			got = append(got, a)
		}
		return emulator.Browser{HTTP: f.srv.Client(), Approve: true}.Open(ctx, u)
	})
	r := &Runner{Browser: browser, Timeout: 10 * time.Second}
	tok, err := r.Run(context.Background(), f.request("sms_main"))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if tok.AccessToken.IsZero() {
		t.Error("no access token")
	}
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	for i, p := range probes {
		if got[i].status != p.status || !strings.Contains(got[i].body, p.want) {
			t.Errorf("GET %s = %d\n%s\nwant %d with %q", p.url, got[i].status, got[i].body, p.status, p.want)
		}
		if got[i].header.Get("Cache-Control") != "no-store" || got[i].header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", p.url, got[i].header)
		}
	}
	if n := f.emu.Stats().Exchanges; n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
}

// The handler is driven directly for the replay, which cannot be timed
// against the listener's shutdown from outside.
func TestHandlerReplay(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	ar, err := f.client.AuthCodeURL([]string{"sms"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := emulator.Consent(context.Background(), f.srv.Client(), ar.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{secrets: []secret.Secret{secret.New(ar.State), ar.Verifier, f.client.ClientSecret}}
	h := &callbackHandler{path: "/callback", conn: "sms_main", provider: "sms77", client: f.client, ar: ar,
		ctx: context.Background(), log: hclog.NewNullLogger(), scrub: s.scrub, results: make(chan result, 1)}
	serve := func(method, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec
	}

	if rec := serve(http.MethodHead, cb.String()); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("HEAD = %d, want 405 (a HEAD must not spend the code)", rec.Code)
	}
	first := serve(http.MethodGet, cb.String())
	if first.Code != http.StatusOK || !strings.Contains(first.Body.String(), "Connected sms_main (sms77)") {
		t.Fatalf("first callback = %d\n%s", first.Code, first.Body)
	}
	res := <-h.results
	if res.err != nil || res.tok == nil {
		t.Fatalf("result = %+v", res)
	}
	for _, target := range []string{cb.String(), redirect + "?state=bogus&code=x"} {
		rec := serve(http.MethodGet, target)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "already completed") {
			t.Errorf("replay %s = %d\n%s", target, rec.Code, rec.Body)
		}
	}
	select {
	case res := <-h.results:
		t.Errorf("a replay produced a second result: %+v", res)
	default:
	}
	if n := f.emu.Stats().Exchanges; n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}

	// A grant whose wait has ended refuses callbacks.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h2 := &callbackHandler{path: "/callback", client: f.client, ar: ar, ctx: ctx, log: hclog.NewNullLogger(),
		scrub: s.scrub, results: make(chan result, 1)}
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, cb.String(), nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "no longer waiting") {
		t.Errorf("callback after the wait = %d\n%s", rec.Code, rec.Body)
	}
}

func TestLoopbackTimeout(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	var addr string
	r := &Runner{Timeout: 50 * time.Millisecond, ListenHook: func(a string) { addr = a }}
	before := runtime.NumGoroutine()
	_, err := r.Run(context.Background(), f.request("sms_main"))
	assertGoroutines(t, before)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v, want ErrTimeout", err)
	}
	if want := "no callback for sms_main within 50ms; run apply again when ready"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	assertClosed(t, addr)
}

func TestLoopbackCanceled(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var addr string
	// The browser blocks until the grant ends, as a slow one would.
	browser := browserFunc(func(ctx context.Context, _ string) error {
		<-ctx.Done()
		return ctx.Err()
	})
	var out bytes.Buffer
	r := &Runner{Out: &out, Browser: browser, ListenHook: func(a string) { addr = a; cancel() }}
	_, err := r.Run(ctx, f.request("sms_main"))
	if !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want ErrCanceled wrapping context.Canceled", err)
	}
	assertClosed(t, addr)
	if strings.Contains(out.String(), "Could not open a browser") {
		t.Errorf("a browser ended by the grant's end was reported:\n%s", out.String())
	}
}

func TestLoopbackPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://%s/callback", ln.Addr())
	f := newFixture(t, "sms77", redirect)
	var out bytes.Buffer
	r := &Runner{Out: &out, Timeout: 10 * time.Second}
	_, err = r.Run(context.Background(), f.request("sms_main"))
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Run = %v, want EADDRINUSE", err)
	}
	for _, want := range []string{ln.Addr().String(), "sms_main", "another process", "free right now", "http://127.0.0.1:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(out.String(), "Open this URL") {
		t.Errorf("the URL was printed although nothing can receive the callback:\n%s", out.String())
	}
}

func TestLoopbackBrowserFails(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	var out bytes.Buffer
	var state string
	browser := browserFunc(func(_ context.Context, u string) error {
		pu, _ := url.Parse(u)
		state = pu.Query().Get("state")
		return fmt.Errorf("no display for %s", u)
	})
	r := &Runner{Out: &out, Browser: browser, Timeout: 200 * time.Millisecond}
	_, err := r.Run(context.Background(), f.request("sms_main"))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v, want ErrTimeout (a browser failure is not fatal)", err)
	}
	if !strings.Contains(out.String(), "Could not open a browser (no display for ") ||
		!strings.Contains(out.String(), "); open the URL above by hand.") {
		t.Errorf("output does not report the browser failure:\n%s", out.String())
	}
	if n := strings.Count(out.String(), state); n != 1 {
		t.Errorf("the state appears %d times in the output, want once (in the URL):\n%s", n, out.String())
	}
}

func TestLoopbackHosts(t *testing.T) {
	cases := map[string]struct {
		host, listen string
	}{
		"localhost": {"localhost", "127.0.0.1"},
		"IPv6":      {"[::1]", "::1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			port := freePort(t, c.listen)
			redirect := fmt.Sprintf("http://%s:%d/cb", c.host, port)
			f := newFixture(t, "sms77", redirect)
			var addr string
			r := &Runner{Browser: emulator.Browser{HTTP: f.srv.Client(), Approve: true}, Timeout: 10 * time.Second,
				ListenHook: func(a string) { addr = a }}
			if _, err := r.Run(context.Background(), f.request("c")); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if want := net.JoinHostPort(c.listen, fmt.Sprint(port)); addr != want {
				t.Errorf("listened on %s, want %s", addr, want)
			}
		})
	}
}

func TestHeaderSingleGrant(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	var out bytes.Buffer
	r := &Runner{Out: &out, Timeout: time.Millisecond}
	req := f.request("sms_main")
	req.Index, req.Total = 0, 0
	_, _ = r.Run(context.Background(), req)
	if first := outLines(out.String())[0]; first != "Grant 1 of 1: sms_main (sms77)" {
		t.Errorf("header = %q", first)
	}
}

func TestGranter(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	var out bytes.Buffer
	var g apply.Granter = &Runner{Out: &out, Browser: emulator.Browser{HTTP: f.srv.Client(), Approve: true}, Timeout: 10 * time.Second}
	tok, err := g.Grant(context.Background(), apply.GrantRequest{Conn: "sms_main", Provider: "sms77", Client: f.client,
		Scopes: []string{"sms"}, Index: 3, Total: 4})
	if err != nil || tok.AccessToken.IsZero() {
		t.Fatalf("Grant = %v, %v", tok, err)
	}
	if !strings.HasPrefix(out.String(), "Grant 3 of 4: sms_main (sms77)\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestRunNoClient(t *testing.T) {
	if _, err := (&Runner{}).Run(context.Background(), Request{Conn: "c"}); err == nil {
		t.Error("Run without a client succeeded")
	}
}

func TestParseRedirect(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    *loopbackAddr
		wantErr bool
	}{
		"ipv4":          {in: "http://127.0.0.1:8765/callback", want: &loopbackAddr{"127.0.0.1:8765", "/callback"}},
		"ipv6":          {in: "http://[::1]:8765/cb", want: &loopbackAddr{"[::1]:8765", "/cb"}},
		"localhost":     {in: "http://LocalHost:9000/a/b", want: &loopbackAddr{"127.0.0.1:9000", "/a/b"}},
		"no port":       {in: "http://127.0.0.1/callback", want: &loopbackAddr{"127.0.0.1:80", "/callback"}},
		"no path":       {in: "http://127.0.0.1:8765", want: &loopbackAddr{"127.0.0.1:8765", "/"}},
		"https":         {in: "https://127.0.0.1:8765/callback"},
		"remote":        {in: "https://example.test/cb"},
		"http remote":   {in: "http://example.test/cb"},
		"other loopbck": {in: "http://127.0.0.2:8765/cb"},
		"port zero":     {in: "http://127.0.0.1:0/cb", wantErr: true},
		"bad":           {in: "http://[::1/cb", wantErr: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseRedirect(c.in)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
				t.Errorf("parseRedirect(%q) = %+v, want %+v", c.in, got, c.want)
			}
		})
	}
}

// A browser's speculative connection that never carries a request must not
// hold up the listener's shutdown.
func TestLoopbackPreconnectDoesNotDelay(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	base, _ := url.Parse(redirect)
	var pre net.Conn
	browser := browserFunc(func(ctx context.Context, u string) error {
		c, err := net.Dial("tcp", base.Host)
		if err != nil {
			return err
		}
		pre = c
		return emulator.Browser{HTTP: f.srv.Client(), Approve: true}.Open(ctx, u)
	})
	r := &Runner{Browser: browser, Timeout: 10 * time.Second}
	start := time.Now()
	if _, err := r.Run(context.Background(), f.request("sms_main")); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d >= shutdownTimeout {
		t.Errorf("Run took %s: the unused connection held up the shutdown", d)
	}
	if pre == nil {
		t.Fatal("no preconnection was made")
	}
	defer pre.Close()
	_ = pre.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := pre.Read(make([]byte, 1)); err == nil {
		t.Error("the unused connection is still open")
	}
}
