package grant

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
)

const (
	testClientID     = "grant-test-client"
	testClientSecret = "grant-test-client-secret-4f9a"
)

// fixture is one emulator on 127.0.0.1 and a client of its provider whose
// redirect_uri is registered there.
type fixture struct {
	emu    *emulator.Server
	srv    *httptest.Server
	client *providers.Client
}

func newFixture(t *testing.T, provider, redirect string) *fixture {
	t.Helper()
	emu, err := emulator.New(emulator.Options{
		Provider: provider,
		Clients:  []emulator.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{redirect}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	b, ok := providers.Builtin(provider)
	if !ok {
		t.Fatalf("no built-in %s", provider)
	}
	p, err := b.Rebase(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{emu: emu, srv: srv, client: &providers.Client{
		Profile: p, ClientID: testClientID, ClientSecret: secret.New(testClientSecret),
		RedirectURI: redirect, Timeout: 5 * time.Second,
	}}
}

// request is a grant of the fixture's client.
func (f *fixture) request(conn string) Request {
	var scopes []string
	if !f.client.Profile.NoScopes {
		scopes = []string{"sms"}
	}
	return Request{Conn: conn, Provider: f.client.Profile.Name, Client: f.client, Scopes: scopes, Index: 1, Total: 1}
}

// freePort returns a port free on host right now.
func freePort(t *testing.T, host string) int {
	t.Helper()
	// A port below the ephemeral ranges (Linux 32768+, macOS and Windows
	// 49152+): a port the kernel hands out for ":0" or for an outgoing
	// connection can be taken by another test process between this check
	// and the grant's listen; these are taken only by name.
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		return port
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// loopbackRedirect is a loopback redirect_uri on a free port.
func loopbackRedirect(t *testing.T) string {
	return fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t, "127.0.0.1"))
}

// browserFunc is a Browser made of a function.
type browserFunc func(ctx context.Context, url string) error

func (f browserFunc) Open(ctx context.Context, url string) error { return f(ctx, url) }

// answer is a page the loopback listener served.
type answer struct {
	status int
	header http.Header
	body   string
}

// get fetches u without following redirects. It ignores the grant's
// context on purpose: the answer to a callback is read while Run shuts
// down.
func get(u string) (answer, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		return answer{}, err
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// consentBrowser approves or denies at the consent page, then fetches the
// callback itself and keeps what the listener answered, and the code and
// state it carried, for the test to inspect after Run returns.
type consentBrowser struct {
	hc      *http.Client
	approve bool

	callback string // the callback URL (with code and state)
	page     answer
	err      error
}

func (b *consentBrowser) Open(ctx context.Context, url string) error {
	cb, err := emulator.Consent(ctx, b.hc, url, b.approve)
	if err != nil {
		b.err = err
		return err
	}
	b.callback = cb.String()
	b.page, b.err = get(cb.String())
	return b.err
}

// outLines splits captured output into lines.
func outLines(s string) []string {
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// assertNoSecrets fails when text contains any of secrets.
func assertNoSecrets(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s reveals a secret %q:\n%s", what, s, text)
		}
	}
}

// assertClosed fails when something still listens on addr.
func assertClosed(t *testing.T, addr string) {
	t.Helper()
	if addr == "" {
		t.Fatal("the listener was never up")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Run returned", addr)
	}
}

// term is a terminal made of pipes: Run writes to out and reads in.
type term struct {
	inR  *io.PipeReader
	inW  *io.PipeWriter
	outR *io.PipeReader
	outW *io.PipeWriter
	// urls receives each authorization URL printed, lines every line.
	urls  chan string
	lines chan string

	mu   sync.Mutex
	text strings.Builder
	done chan struct{}
	once sync.Once
}

func newTerm(t *testing.T) *term {
	tm := &term{urls: make(chan string, 8), lines: make(chan string, 256), done: make(chan struct{})}
	tm.inR, tm.inW = io.Pipe()
	tm.outR, tm.outW = io.Pipe()
	go func() {
		defer close(tm.done)
		br := bufio.NewReader(tm.outR)
		next := false
		for {
			line, err := br.ReadString('\n')
			tm.mu.Lock()
			tm.text.WriteString(line)
			tm.mu.Unlock()
			l := strings.TrimRight(line, "\n")
			if next {
				tm.urls <- l
			}
			select {
			case tm.lines <- l:
			default:
			}
			next = strings.HasPrefix(l, "Open this URL to authorize ")
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { tm.close() })
	return tm
}

// url waits for the next authorization URL.
func (tm *term) url(t *testing.T) string {
	t.Helper()
	select {
	case u := <-tm.urls:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no authorization URL printed")
		return ""
	}
}

// waitLine waits for a line starting with prefix.
func (tm *term) waitLine(t *testing.T, prefix string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-tm.lines:
			if strings.HasPrefix(l, prefix) {
				return
			}
		case <-timeout:
			t.Fatalf("no line starting with %q", prefix)
		}
	}
}

// typeLines writes lines to the terminal's input in the background; the
// writes end when they are read or when the terminal is closed.
func (tm *term) typeLines(lines ...string) {
	go func() {
		for _, l := range lines {
			if _, err := io.WriteString(tm.inW, l+"\n"); err != nil {
				return
			}
		}
	}()
}

// close ends both pipes and returns everything Run printed.
func (tm *term) close() string {
	tm.once.Do(func() {
		tm.outW.Close()
		<-tm.done
		tm.inW.Close()
	})
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.text.String()
}

// runAsync runs r.Run in a goroutine.
func runAsync(ctx context.Context, r *Runner, req Request) <-chan runResult {
	c := make(chan runResult, 1)
	go func() {
		tok, err := r.Run(ctx, req)
		c <- runResult{tok, err}
	}()
	return c
}

type runResult struct {
	tok *providers.Token
	err error
}

func wait(t *testing.T, c <-chan runResult) runResult {
	t.Helper()
	select {
	case res := <-c:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
		return runResult{}
	}
}

// assertGoroutines fails unless the number of goroutines comes back to
// before. A goroutine that has signalled its end (a deferred close) may
// still be counted for a moment, so the count is given a second to settle.
func assertGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines before Run, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			return
		}
		runtime.Gosched()
	}
}
