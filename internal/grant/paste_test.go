package grant

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
)

const pasteRedirect = "https://example.test/cb"

// consent approves (or denies) the authorization URL at the emulator and
// returns the URL the browser would land on.
func (f *fixture) consent(t *testing.T, authURL string, approve bool) *url.URL {
	t.Helper()
	cb, err := emulator.Consent(context.Background(), f.srv.Client(), authURL, approve)
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

func TestPasteURL(t *testing.T) {
	f := newFixture(t, "sms77", pasteRedirect)
	tm := newTerm(t)
	r := &Runner{Out: tm.outW, In: tm.inR, Timeout: 10 * time.Second}
	done := runAsync(context.Background(), r, f.request("sms_main"))
	cb := f.consent(t, tm.url(t), true)
	// Another authorization's URL first: refused, and asked again.
	tm.typeLines(pasteRedirect+"?code=forged-code&state=bogus", "  "+cb.String()+"  ")
	res := wait(t, done)
	text := tm.close()
	if res.err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", res.err, text)
	}
	if res.tok.AccessToken.IsZero() {
		t.Error("no access token")
	}
	if n := f.emu.Stats().Exchanges; n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
	if n := strings.Count(text, pastePrompt); n != 2 {
		t.Errorf("prompted %d times, want 2:\n%s", n, text)
	}
	if !strings.Contains(text, "That cannot be used: that URL belongs to another authorization") {
		t.Errorf("the state mismatch was not explained:\n%s", text)
	}
	assertNoSecrets(t, "the output", text, res.tok.AccessToken.Reveal(), res.tok.RefreshToken.Reveal(), testClientSecret)
}

func TestPasteBareCode(t *testing.T) {
	f := newFixture(t, "buffer", pasteRedirect)
	tm := newTerm(t)
	r := &Runner{Out: tm.outW, In: tm.inR, Timeout: 10 * time.Second}
	done := runAsync(context.Background(), r, f.request("buf"))
	cb := f.consent(t, tm.url(t), true)
	code := cb.Query().Get("code")
	if !strings.Contains(code, "/") {
		t.Fatalf("expected a Buffer code with a slash, got %q", code)
	}
	tm.typeLines(code)
	res := wait(t, done)
	text := tm.close()
	if res.err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", res.err, text)
	}
	if !strings.Contains(text, "Warning: a bare code cannot be checked against the state") {
		t.Errorf("no warning about the unchecked state:\n%s", text)
	}
}

func TestPasteDenied(t *testing.T) {
	f := newFixture(t, "sms77", pasteRedirect)
	tm := newTerm(t)
	r := &Runner{Out: tm.outW, In: tm.inR, Timeout: 10 * time.Second}
	done := runAsync(context.Background(), r, f.request("sms_main"))
	cb := f.consent(t, tm.url(t), false)
	tm.typeLines(cb.String())
	res := wait(t, done)
	tm.close()
	var pe *providers.Error
	if !errors.As(res.err, &pe) || pe.Kind != providers.KindAccessDenied {
		t.Fatalf("Run = %v, want access_denied", res.err)
	}
}

func TestPasteNoTerminal(t *testing.T) {
	f := newFixture(t, "sms77", pasteRedirect)
	var out bytes.Buffer
	r := &Runner{Out: &out, Browser: browserFunc(func(context.Context, string) error {
		t.Error("a browser was opened for a grant that cannot complete")
		return nil
	})}
	_, err := r.Run(context.Background(), f.request("sms_main"))
	if !errors.Is(err, ErrNoTerminal) || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Run = %v, want ErrNoTerminal about the non-loopback redirect", err)
	}
}

func TestPasteEOF(t *testing.T) {
	f := newFixture(t, "sms77", pasteRedirect)
	r := &Runner{In: strings.NewReader(""), Timeout: 10 * time.Second}
	_, err := r.Run(context.Background(), f.request("sms_main"))
	if !errors.Is(err, ErrNoTerminal) {
		t.Fatalf("Run = %v, want ErrNoTerminal", err)
	}
}

func TestPasteTooManyTries(t *testing.T) {
	f := newFixture(t, "sms77", pasteRedirect)
	var out bytes.Buffer
	in := strings.NewReader("not a code at all\n" + pasteRedirect + "?state=x&code=y\n" + pasteRedirect + "\nnever read\n")
	r := &Runner{Out: &out, In: in, Timeout: 10 * time.Second}
	before := runtime.NumGoroutine()
	_, err := r.Run(context.Background(), f.request("sms_main"))
	assertGoroutines(t, before)
	if err == nil || !strings.Contains(err.Error(), "no usable callback for sms_main after 3 tries") {
		t.Fatalf("Run = %v", err)
	}
	for _, want := range []string{"neither a URL nor a code", "belongs to another authorization", "no code, state or error"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not say %q:\n%s", want, out.String())
		}
	}
}

func TestPasteTimeoutAndCancel(t *testing.T) {
	f := newFixture(t, "sms77", pasteRedirect)
	t.Run("timeout", func(t *testing.T) {
		tm := newTerm(t)
		r := &Runner{Out: tm.outW, In: tm.inR, Timeout: 50 * time.Millisecond}
		res := wait(t, runAsync(context.Background(), r, f.request("sms_main")))
		tm.close() // ends the read still blocked on the pipe
		if !errors.Is(res.err, ErrTimeout) {
			t.Fatalf("Run = %v, want ErrTimeout", res.err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		tm := newTerm(t)
		ctx, cancel := context.WithCancel(context.Background())
		r := &Runner{Out: tm.outW, In: tm.inR, Timeout: 10 * time.Second}
		done := runAsync(ctx, r, f.request("sms_main"))
		tm.url(t)
		cancel()
		res := wait(t, done)
		tm.close()
		if !errors.Is(res.err, ErrCanceled) || !errors.Is(res.err, context.Canceled) {
			t.Fatalf("Run = %v, want ErrCanceled", res.err)
		}
	})
}

// A line typed after a grant gave up waiting must not be taken by the next
// grant, while the read left blocked by the first is reused.
func TestPasteStaleLineDropped(t *testing.T) {
	f := newFixture(t, "sms77", pasteRedirect)
	tm := newTerm(t)
	r := &Runner{Out: tm.outW, In: tm.inR, Timeout: 50 * time.Millisecond}
	res := wait(t, runAsync(context.Background(), r, f.request("first")))
	if !errors.Is(res.err, ErrTimeout) {
		t.Fatalf("first Run = %v, want ErrTimeout", res.err)
	}
	tm.url(t)
	// Typed for the first grant, too late: the pending read takes it.
	if _, err := tm.inW.Write([]byte("stale-code-for-first\n")); err != nil {
		t.Fatal(err)
	}
	r.Timeout = 10 * time.Second
	done := runAsync(context.Background(), r, f.request("second"))
	cb := f.consent(t, tm.url(t), true)
	tm.typeLines(cb.String())
	res = wait(t, done)
	text := tm.close()
	if res.err != nil {
		t.Fatalf("second Run: %v\noutput:\n%s", res.err, text)
	}
	if strings.Contains(text, "Warning: a bare code") {
		t.Errorf("the stale line was used:\n%s", text)
	}
}

func TestPasteBrowserFails(t *testing.T) {
	f := newFixture(t, "sms77", pasteRedirect)
	tm := newTerm(t)
	browser := browserFunc(func(context.Context, string) error { return errors.New("no display") })
	r := &Runner{Out: tm.outW, In: tm.inR, Browser: browser, Timeout: 10 * time.Second}
	done := runAsync(context.Background(), r, f.request("sms_main"))
	authURL := tm.url(t)
	tm.waitLine(t, "Could not open a browser")
	tm.typeLines(f.consent(t, authURL, true).String())
	res := wait(t, done)
	text := tm.close()
	if res.err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", res.err, text)
	}
	if !strings.Contains(text, "Could not open a browser (no display); open the URL above by hand.\n"+pastePrompt) {
		t.Errorf("the browser failure was not reported before prompting again:\n%s", text)
	}
}

func TestParsePasted(t *testing.T) {
	cases := map[string]struct {
		in      string
		code    string // bare code
		query   string // q.Encode()
		problem bool
	}{
		"url":           {in: "https://example.test/cb?code=abc&state=xyz", query: "code=abc&state=xyz"},
		"url fragment":  {in: "https://example.test/cb#code=abc&state=xyz", query: "code=abc&state=xyz"},
		"error":         {in: "https://example.test/cb?error=access_denied&state=s", query: "error=access_denied&state=s"},
		"query only":    {in: "code=abc&state=xyz", query: "code=abc&state=xyz"},
		"leading ?":     {in: "?code=abc&state=xyz", query: "code=abc&state=xyz"},
		"bare":          {in: "  0123abcd \n", code: "0123abcd"},
		"bare slash":    {in: "1/0f3c", code: "1/0f3c"},
		"bare padded":   {in: "YWJjZA==", code: "YWJjZA=="},
		"empty":         {in: "   ", problem: true},
		"url no params": {in: "https://example.test/cb?x=1", problem: true},
		"prose":         {in: "I clicked approve", problem: true},
		"bad url":       {in: "http://[::1/cb?code=1", problem: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			q, bare, err := parsePasted(c.in)
			if c.problem {
				if !errors.As(err, new(pasteProblem)) {
					t.Fatalf("parsePasted(%q) = %v, %q, %v; want a paste problem", c.in, q, bare, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bare != c.code {
				t.Errorf("bare = %q, want %q", bare, c.code)
			}
			if c.query != "" && (q == nil || q.Encode() != c.query) {
				t.Errorf("query = %v, want %s", q, c.query)
			}
		})
	}
}
