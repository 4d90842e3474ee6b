package grant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/oauthform/oauthform/internal/providers"
)

// chromiumTimeout bounds the whole end-to-end test: starting Chromium, both
// grants and the browser's shutdown.
const chromiumTimeout = 60 * time.Second

// chromiumPath finds the Chromium to drive: OAUTHFORM_CHROMIUM, else the
// first of chromium, chromium-browser and google-chrome on PATH. There is
// no skip: the end-to-end test is an acceptance criterion, and CI installs
// Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OAUTHFORM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (looked for OAUTHFORM_CHROMIUM, then chromium, chromium-browser and google-chrome on PATH); " +
		"install Debian's chromium (apt-get install -y chromium) or set OAUTHFORM_CHROMIUM to a Chromium binary")
	return ""
}

// startChromium starts one headless Chromium for the test and returns its
// browser context; new tabs are made from it. The browser is closed, and
// its process waited for, when the test ends; the test then checks that no
// process of it is left.
func startChromium(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	path := chromiumPath(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the test runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// The machine's network is closed: nothing but the test's own
		// servers on 127.0.0.1 may be contacted.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	// Registered before the start, so that a failed start is cleaned up
	// too. Runs before t.TempDir's removal of the profile (cleanups run
	// last registered first).
	t.Cleanup(func() {
		if c := chromedp.FromContext(browserCtx); c != nil && c.Browser != nil {
			// A graceful close first (bounded by ctx); the cancels below
			// kill what is left.
			_ = chromedp.Cancel(browserCtx)
		}
		cancelBrowser()
		cancelAlloc() // waits for the browser process to end
		assertNoChromium(t, profile)
	})
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return browserCtx
}

// assertNoChromium fails when a process started with the test's profile
// directory is still running (Linux only: it reads /proc).
func assertNoChromium(t *testing.T, profile string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := chromiumProcesses(profile)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("Chromium processes still running after the browser was closed: %v", left)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// chromiumProcesses lists the pids whose command line names profile.
func chromiumProcesses(profile string) []string {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process ended meanwhile
		}
		if bytes.Contains(b, []byte(profile)) {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}

// newTab opens a tab in the browser; it is closed when the test ends.
func newTab(t *testing.T, browserCtx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil { // opens the tab
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

// shownPage is what a person sees of a page: its title, its text as
// rendered (innerText) and its address.
type shownPage struct {
	title, text, url string
}

// chromeBrowser is a [Browser] that is a real Chromium tab: Open loads the
// authorization URL, reads the emulator's consent page, clicks its Approve
// or Deny button like a person, and waits for the page that oauthform's
// loopback listener answers the callback with. Everything it saw is kept
// for the test to inspect after Run returns (Run waits for Open).
type chromeBrowser struct {
	tab      context.Context // a chromedp tab
	decision string          // "approve" or "deny": the button clicked

	authURL  string
	consent  shownPage
	scopes   string // the consent page's list of scopes, as rendered
	callback shownPage
	err      error
}

// Open ignores ctx on purpose: the grant's context ends as soon as the
// listener has answered the callback, while the tab may still be rendering
// that answer. The tab's own deadline bounds Open instead.
func (b *chromeBrowser) Open(_ context.Context, authURL string) error {
	b.authURL = authURL
	b.err = b.drive(authURL)
	if b.err != nil {
		// Never the URL: it carries the state.
		return fmt.Errorf("chromium: %w", b.err)
	}
	return nil
}

func (b *chromeBrowser) drive(authURL string) error {
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	// The consent form's buttons, as consentpage.go writes them.
	button := func(decision string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(`form[method="post"] button[type="submit"][name="decision"][value=%q]`, decision))
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(button("approve")),
		chromedp.WaitVisible(button("deny")),
	); err != nil {
		return fmt.Errorf("loading the consent page: %w", err)
	}
	var err error
	if b.consent, err = shown(ctx); err != nil {
		return fmt.Errorf("reading the consent page: %w", err)
	}
	if b.scopes, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("ul#scopes"))); err != nil {
		return fmt.Errorf("reading the consent page's scopes: %w", err)
	}
	// The click posts the form; the emulator redirects to the loopback
	// callback, whose page is the next one to load.
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(button(b.decision)))); err != nil {
		return fmt.Errorf("clicking %s: %w", b.decision, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		return fmt.Errorf("waiting for the callback page: %w", err)
	}
	if b.callback, err = shown(ctx); err != nil {
		return fmt.Errorf("reading the callback page: %w", err)
	}
	return nil
}

// shown reads what the tab shows.
func shown(ctx context.Context) (shownPage, error) {
	var p shownPage
	var err error
	if p.title, err = chromedp.Run(ctx, chromedp.Title()); err != nil {
		return p, err
	}
	if p.text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); err != nil {
		return p, err
	}
	p.url, err = chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	return p, err
}

// TestChromiumConsentAndCallbackPage drives a real headless Chromium
// through the sms77 emulator's consent page and oauthform's loopback
// callback page, and checks what a person sees.
func TestChromiumConsentAndCallbackPage(t *testing.T) {
	// Cleanups run last registered first: the browser is closed, then the
	// deadline released, then the goroutines counted.
	before := runtime.NumGoroutine()
	t.Cleanup(func() { assertGoroutines(t, before) })
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	t.Cleanup(cancel)
	browserCtx := startChromium(t, ctx)

	// grant runs one grant of sms_main through a new tab that clicks
	// decision on the consent page.
	type grantResult struct {
		f        *fixture
		b        *chromeBrowser
		redirect string
		tok      *providers.Token
		err      error
	}
	grant := func(t *testing.T, decision string) grantResult {
		t.Helper()
		redirect := loopbackRedirect(t)
		f := newFixture(t, "sms77", redirect)
		b := &chromeBrowser{tab: newTab(t, browserCtx), decision: decision}
		var out bytes.Buffer
		r := &Runner{Out: &out, Browser: b, Timeout: 30 * time.Second}
		req := f.request("sms_main")
		req.Scopes = []string{"sms", "balance"}
		tok, err := r.Run(ctx, req)
		if b.err != nil {
			t.Fatalf("the browser failed: %v\nRun: %v\noutput:\n%s", b.err, err, out.String())
		}
		if strings.Contains(out.String(), "Could not open a browser") {
			t.Errorf("Run reported a browser failure:\n%s", out.String())
		}
		return grantResult{f: f, b: b, redirect: redirect, tok: tok, err: err}
	}

	// checkConsent checks the consent page as a person saw it: it names the
	// app, the provider and each scope asked for.
	checkConsent := func(t *testing.T, f *fixture, b *chromeBrowser) {
		t.Helper()
		if want := "Authorize " + testClientID + " - sms77 emulator"; b.consent.title != want {
			t.Errorf("consent page title = %q, want %q", b.consent.title, want)
		}
		if want := testClientID + " wants to access your sms77 account"; !strings.Contains(b.consent.text, want) {
			t.Errorf("the consent page does not say %q:\n%s", want, b.consent.text)
		}
		if got := strings.Fields(b.scopes); strings.Join(got, " ") != "sms balance" {
			t.Errorf("the consent page lists the scopes %q, want sms and balance", b.scopes)
		}
		for _, label := range []string{"Approve", "Deny"} {
			if !strings.Contains(b.consent.text, label) {
				t.Errorf("the consent page shows no %s button:\n%s", label, b.consent.text)
			}
		}
		ep, err := url.Parse(f.client.Profile.AuthorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		if at, err := url.Parse(b.consent.url); err != nil || at.Host != ep.Host || at.Path != ep.Path {
			t.Errorf("the consent page is at %q, not at the emulator's authorization endpoint %s", b.consent.url, f.client.Profile.AuthorizeURL)
		}
	}

	// callbackQuery checks that the tab landed on the loopback callback of
	// redirect with the authorization's state, and returns its query.
	callbackQuery := func(t *testing.T, b *chromeBrowser, redirect string) url.Values {
		t.Helper()
		final, err := url.Parse(b.callback.url)
		if err != nil {
			t.Fatalf("final URL %q: %v", b.callback.url, err)
		}
		want, _ := url.Parse(redirect)
		if final.Scheme != "http" || final.Host != want.Host || final.Path != "/callback" {
			t.Fatalf("the tab ended at %s://%s%s, want the loopback callback %s", final.Scheme, final.Host, final.Path, redirect)
		}
		auth, err := url.Parse(b.authURL)
		if err != nil {
			t.Fatal(err)
		}
		q := final.Query()
		if state := auth.Query().Get("state"); state == "" || q.Get("state") != state {
			t.Errorf("the callback's state %q is not the authorization's %q", q.Get("state"), state)
		}
		return q
	}

	t.Run("approve", func(t *testing.T) {
		g := grant(t, "approve")
		f, b, tok, err, redirect := g.f, g.b, g.tok, g.err, g.redirect
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if tok == nil || tok.AccessToken.IsZero() {
			t.Fatalf("no access token: %+v", tok)
		}
		checkConsent(t, f, b)
		st := f.emu.Stats()
		if st.Authorizations != 1 || st.Approvals != 1 || st.Denials != 0 || st.Exchanges != 1 {
			t.Errorf("emulator stats: %d authorizations, %d approvals, %d denials, %d exchanges; want 1, 1, 0, 1",
				st.Authorizations, st.Approvals, st.Denials, st.Exchanges)
		}
		if _, err := f.client.Check(ctx, tok.AccessToken); err != nil {
			t.Errorf("the emulator refuses the access token: %v", err)
		}

		q := callbackQuery(t, b, redirect)
		code := q.Get("code")
		if code == "" || q.Has("error") {
			t.Fatalf("the callback carries no code: %s", q.Encode())
		}
		if want := "Connected · oauthform"; b.callback.title != want {
			t.Errorf("callback page title = %q, want %q", b.callback.title, want)
		}
		for _, want := range []string{"Connected", "Connected sms_main (sms77). You can close this tab."} {
			if !strings.Contains(b.callback.text, want) {
				t.Errorf("the callback page does not say %q:\n%s", want, b.callback.text)
			}
		}
		assertNoSecrets(t, "the callback page", b.callback.title+"\n"+b.callback.text,
			code, q.Get("state"), tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), testClientSecret)
	})

	t.Run("deny", func(t *testing.T) {
		g := grant(t, "deny")
		f, b, tok, err, redirect := g.f, g.b, g.tok, g.err, g.redirect
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Kind != providers.KindAccessDenied || pe.Op != "authorize" {
			t.Fatalf("Run = %v, %v; want an authorize access_denied *providers.Error", tok, err)
		}
		checkConsent(t, f, b)
		st := f.emu.Stats()
		if st.Authorizations != 1 || st.Approvals != 0 || st.Denials != 1 || st.Exchanges != 0 {
			t.Errorf("emulator stats: %d authorizations, %d approvals, %d denials, %d exchanges; want 1, 0, 1, 0",
				st.Authorizations, st.Approvals, st.Denials, st.Exchanges)
		}

		q := callbackQuery(t, b, redirect)
		if q.Get("error") != "access_denied" || q.Has("code") {
			t.Errorf("the callback is not an access_denied error: %s", q.Encode())
		}
		if want := "Authorization failed · oauthform"; b.callback.title != want {
			t.Errorf("callback page title = %q, want %q", b.callback.title, want)
		}
		const message = "The resource owner denied the request."
		if pe.Message != message {
			t.Errorf("the provider's message is %q, want the emulator's %q", pe.Message, message)
		}
		for _, want := range []string{
			"Authorization failed",
			"sms_main (sms77) was not connected: the authorization failed.",
			"access_denied",
			message,
		} {
			if !strings.Contains(b.callback.text, want) {
				t.Errorf("the callback page does not say %q:\n%s", want, b.callback.text)
			}
		}
		assertNoSecrets(t, "the callback page", b.callback.title+"\n"+b.callback.text, q.Get("state"), testClientSecret)
	})
}
