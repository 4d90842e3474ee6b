package apply

// Fault tests (issue 5, items 2 and 3): Refresher.Ensure against the
// emulators' fault injection, and against a token endpoint answering exact
// bad bodies the emulators cannot produce. Every case ends with a clear
// error naming the connection, a *providers.Error of the expected kind, the
// state unchanged (or correctly updated) and never a retry of a refresh
// that may have reached a provider that rotates refresh tokens.
//
// The providers cover the three refresh behaviours:
//   - sms77 rotates the refresh token (the old one is dead once used);
//   - buffer_v2 rotates and revokes the whole grant when a used refresh
//     token is presented again;
//   - phoneburner does not rotate, refreshes at a separate endpoint and
//     answers errors in its own shapes; its refresh is safe to repeat, so a
//     429/503 with Retry-After is retried.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// fltProviders are the providers every fault is tried against (unless a
// case restricts itself with only).
var fltProviders = []string{"sms77", "phoneburner", "buffer_v2"}

// fltClientSecret is long enough to be scrubbed from messages (and to be
// noticed if it were not).
const fltClientSecret = "client-secret-7f3a9c2e51"

const fltRedirect = "http://127.0.0.1:8765/callback"

// fltScopes are scopes that give each provider's grant a refresh token.
var fltScopes = map[string][]string{
	"sms77":       {"sms"},
	"phoneburner": nil,
	"buffer_v2":   {"posts:read", "offline_access"}, // offline_access: a refresh token
}

// fltCanned is an exact answer of the refresh endpoint, for the bad bodies
// the emulators do not inject.
type fltCanned struct {
	status int
	ctype  string
	body   string
}

// fltDoor sits in front of an emulator: it counts the requests that reach
// the refresh endpoint (every attempt, whoever answers it) and answers
// them with a canned body, or rewrites the emulator's real answer, when
// told to.
type fltDoor struct {
	emu         *emulator.Server
	refreshPath string

	mu       sync.Mutex
	canned   *fltCanned
	mangle   func([]byte) []byte
	attempts int
}

func (d *fltDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == d.refreshPath {
		d.mu.Lock()
		d.attempts++
		c, mangle := d.canned, d.mangle
		d.mu.Unlock()
		switch {
		case c != nil:
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", c.ctype)
			w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
			w.WriteHeader(c.status)
			_, _ = io.WriteString(w, c.body)
			return
		case mangle != nil:
			// The emulator really refreshes; its answer is damaged on
			// the way back.
			rr := httptest.NewRecorder()
			d.emu.ServeHTTP(rr, r)
			body := mangle(rr.Body.Bytes())
			for k, v := range rr.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rr.Code)
			_, _ = w.Write(body)
			return
		}
	}
	d.emu.ServeHTTP(w, r) // the writer passes through: the emulator can hijack it to drop
}

func (d *fltDoor) setCanned(c *fltCanned) {
	d.mu.Lock()
	d.canned = c
	d.mu.Unlock()
}

func (d *fltDoor) setMangle(f func([]byte) []byte) {
	d.mu.Lock()
	d.mangle = f
	d.mu.Unlock()
}

// fltExpiresInAsText turns a real answer's numeric expires_in into text.
func fltExpiresInAsText(b []byte) []byte {
	return fltExpiresInRE.ReplaceAll(b, []byte(`"expires_in":"$1 seconds"`))
}

var fltExpiresInRE = regexp.MustCompile(`"expires_in":\s*(\d+)`)

// refreshAttempts is how many requests reached the refresh endpoint.
func (d *fltDoor) refreshAttempts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempts
}

// fltWaits is a Client.Sleep that records the waits instead of sleeping.
type fltWaits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *fltWaits) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *fltWaits) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// fltWorld is one provider's emulator behind a fltDoor and a state file
// holding one connection whose tokens the emulator issued and which
// expire in 30 seconds.
type fltWorld struct {
	t        *testing.T
	provider string
	conn     string
	now      time.Time
	emu      *emulator.Server
	door     *fltDoor
	url      string
	profile  *providers.Profile
	path     string
	waits    *fltWaits
	conns    atomic.Int32 // connections the server accepted
	// tr carries every request to the server over at most one connection,
	// so a request after warm reuses warm's connection.
	tr *http.Transport
}

func newFltWorld(t *testing.T, provider string) *fltWorld {
	t.Helper()
	w := &fltWorld{t: t, provider: provider, conn: "acme-" + provider + "-main",
		now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), waits: &fltWaits{},
		path: filepath.Join(t.TempDir(), "state.db")}
	emu, err := emulator.New(emulator.Options{
		Provider: provider,
		Clients:  []emulator.Client{{ID: "id", Secret: fltClientSecret, RedirectURIs: []string{fltRedirect}}},
		Now:      w.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.emu = emu
	w.door = &fltDoor{emu: emu, refreshPath: emu.Paths()["refresh"]}
	if w.door.refreshPath == "" {
		t.Fatalf("%s has no refresh endpoint", provider)
	}
	srv := httptest.NewUnstartedServer(w.door)
	srv.Config.ConnState = func(_ net.Conn, cs http.ConnState) {
		if cs == http.StateNew {
			w.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	w.tr = &http.Transport{MaxConnsPerHost: 1}
	t.Cleanup(w.tr.CloseIdleConnections)
	w.url = srv.URL
	b, ok := providers.Builtin(provider)
	if !ok {
		t.Fatalf("no built-in %s", provider)
	}
	if w.profile, err = b.Rebase(srv.URL); err != nil {
		t.Fatal(err)
	}

	ts, err := emu.IssueTokens("id", fltScopes[provider])
	if err != nil {
		t.Fatal(err)
	}
	if ts.AccessToken == "" || ts.RefreshToken == "" {
		t.Fatalf("%s issued no refresh token: %+v", provider, ts)
	}
	ctx := context.Background()
	st := w.open()
	if _, err := st.Lock(ctx, "setup"); err != nil {
		t.Fatal(err)
	}
	rec := &state.Record{Conn: w.conn, Provider: provider, ClientID: "id", RedirectURI: fltRedirect,
		Scopes: fltScopes[provider], Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken),
		TokenType: "Bearer", Expiry: w.now.Add(30 * time.Second), Status: state.StatusActive, Created: w.now}
	if err := st.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	return w
}

func (w *fltWorld) clock() time.Time { return w.now }

// open opens the state file as another process would.
func (w *fltWorld) open() state.Store {
	w.t.Helper()
	st, err := bolt.Open(w.path, state.Options{Create: true, Now: w.clock})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = st.Close() })
	return st
}

// get reads the connection's record through a fresh handle; the record
// must exist (a fault never deletes it).
func (w *fltWorld) get() *state.Record {
	w.t.Helper()
	st, err := bolt.Open(w.path, state.Options{Now: w.clock})
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	rec, err := st.Get(context.Background(), w.conn)
	if err != nil {
		w.t.Fatalf("the record of %s is gone: %v", w.conn, err)
	}
	return rec
}

func (w *fltWorld) refresher() *Refresher {
	return &Refresher{Store: w.open(), Now: w.clock, LockWait: 10 * time.Second}
}

// client is oauthform's client for the connection: short timeout, two
// retries where retrying is safe, waits recorded instead of slept.
func (w *fltWorld) client(timeout time.Duration) *providers.Client {
	return &providers.Client{Profile: w.profile, ClientID: "id", ClientSecret: secret.New(fltClientSecret),
		RedirectURI: fltRedirect, Now: w.clock, Timeout: timeout, AnswerWait: timeout, MaxRetries: 2, MaxRetryWait: 30 * time.Second,
		Sleep: w.waits.sleep, HTTP: &http.Client{Transport: w.tr}}
}

// direct refreshes at the emulator outside oauthform's state, as another
// program holding a copy of the token would (never retried).
func (w *fltWorld) direct(refresh secret.Secret) (*providers.Token, error) {
	c := &providers.Client{Profile: w.profile, ClientID: "id", ClientSecret: secret.New(fltClientSecret),
		RedirectURI: fltRedirect, Now: w.clock, Timeout: 5 * time.Second, MaxRetries: -1,
		HTTP: &http.Client{Transport: w.tr}}
	return c.Refresh(context.Background(), refresh)
}

// warm opens a keep-alive connection to the server, so the next request
// reuses it: a dropped reused connection is where net/http would replay an
// idempotent request, and a refresh must not be replayed.
func (w *fltWorld) warm() {
	resp, err := (&http.Client{Transport: w.tr}).Get(w.url + "/_emulator/stats")
	if err != nil {
		w.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

func (w *fltWorld) rotates() bool { return w.profile.RotatesRefresh }

// fltAfter is what must happen once the fault is cleared.
type fltAfter int

const (
	// fltLive: Ensure succeeds (or already did) and the stored tokens are
	// the live ones at the provider.
	fltLive fltAfter = iota
	// fltLost: the provider rotated the token but its answer never arrived
	// whole, so the stored refresh token is dead: the next Ensure meets
	// invalid_grant and marks the connection needs_reconnect.
	fltLost
	// fltNeedsPerson: the record is needs_reconnect; Ensure refuses without
	// calling the provider.
	fltNeedsPerson
)

// fltWant is the outcome of one fault for one provider.
type fltWant struct {
	// kind is the error's kind; "" means Ensure succeeds.
	kind providers.Kind
	// attempts is the number of requests at the refresh endpoint.
	attempts int
	// waits are the Retry-After waits the client honoured.
	waits []time.Duration
	// providerRefreshes is how many refreshes the emulator completed
	// (a truncated answer is sent after the refresh is done).
	providerRefreshes int
	after             fltAfter
}

type fltCase struct {
	name    string
	faults  emulator.Faults
	canned  *fltCanned
	mangle  func([]byte) []byte
	timeout time.Duration
	// only restricts the case to these providers (all when empty).
	only []string
	want fltWant
	// per overrides want for one provider.
	per map[string]fltWant
}

func fltCases() []fltCase {
	fail := func(k providers.Kind) fltWant { return fltWant{kind: k, attempts: 1} }
	canned := func(status int, ctype, body string) *fltCanned {
		return &fltCanned{status: status, ctype: ctype, body: body}
	}
	// No refresh_token: these canned answers come from a server that did
	// not rotate anything. A malformed answer carrying a rotated refresh
	// token is TestEnsureKeepsRotatedTokenFromMalformedAnswer's case.
	const okJSON = `"access_token":"AT-canned-0001","token_type":"Bearer"`
	return []fltCase{
		{name: "500", faults: emulator.Faults{FailNext: 1, FailStatus: 500}, want: fail(providers.KindServerError)},
		{name: "502_html_page", faults: emulator.Faults{FailNext: 1, FailStatus: 502, HTMLError: true},
			want: fail(providers.KindServerError)},
		{name: "200_html_page", faults: emulator.Faults{FailNext: 1, FailStatus: 200, HTMLError: true},
			want: fail(providers.KindMalformed)},
		{name: "503_without_retry_after", faults: emulator.Faults{FailNext: 1, FailStatus: 503},
			want: fail(providers.KindServerError)},
		{name: "429_without_retry_after", faults: emulator.Faults{FailNext: 1, FailStatus: 429},
			want: fail(providers.KindRateLimited)},
		// Once: the non-rotating provider waits Retry-After and succeeds.
		{name: "429_retry_after_once", faults: emulator.Faults{FailNext: 1, FailStatus: 429, RetryAfter: 7 * time.Second},
			want: fail(providers.KindRateLimited),
			per:  map[string]fltWant{"phoneburner": {attempts: 2, waits: []time.Duration{7 * time.Second}, providerRefreshes: 1}}},
		// Longer than MaxRetries: the non-rotating provider gives up after
		// 1+2 attempts.
		{name: "503_retry_after_persistent", faults: emulator.Faults{FailNext: 10, FailStatus: 503, RetryAfter: 2 * time.Second},
			want: fail(providers.KindRateLimited),
			per: map[string]fltWant{"phoneburner": {kind: providers.KindRateLimited, attempts: 3,
				waits: []time.Duration{2 * time.Second, 2 * time.Second}}}},
		// Retry-After beyond MaxRetryWait is not waited for.
		{name: "429_retry_after_too_long", faults: emulator.Faults{FailNext: 1, FailStatus: 429, RetryAfter: 2 * time.Minute},
			want: fail(providers.KindRateLimited)},
		{name: "latency_beyond_timeout", faults: emulator.Faults{Latency: 2 * time.Second}, timeout: 200 * time.Millisecond,
			want: fail(providers.KindNetwork)},
		{name: "dropped_connection", faults: emulator.Faults{FailNext: 1, Drop: true}, want: fail(providers.KindNetwork)},
		{name: "dropped_connection_always", faults: emulator.Faults{Drop: true}, want: fail(providers.KindNetwork)},
		// The emulator refreshes, then cuts its answer in half: a rotating
		// provider has consumed the old refresh token and the new one never
		// arrived.
		{name: "truncated_json", faults: emulator.Faults{Truncate: true},
			want: fltWant{kind: providers.KindMalformed, attempts: 1, providerRefreshes: 1, after: fltLost},
			per:  map[string]fltWant{"phoneburner": {kind: providers.KindMalformed, attempts: 1, providerRefreshes: 1}}},
		{name: "forced_invalid_grant", faults: emulator.Faults{InvalidGrant: true},
			want: fltWant{kind: providers.KindInvalidGrant, attempts: 1, after: fltNeedsPerson}},
		{name: "non_json_body", canned: canned(200, "application/json", "Service Unavailable - upstream gave garbage"),
			want: fail(providers.KindMalformed)},
		{name: "plain_text_ok", canned: canned(200, "text/plain", "OK"), want: fail(providers.KindMalformed)},
		{name: "empty_200", canned: canned(200, "application/json", ""), want: fail(providers.KindMalformed)},
		{name: "500_plain_text", canned: canned(500, "text/plain", "Internal Server Error"),
			want: fail(providers.KindServerError)},
		{name: "missing_access_token", canned: canned(200, "application/json",
			`{"token_type":"Bearer","expires_in":3600}`), want: fail(providers.KindMalformed)},
		{name: "expires_in_string", canned: canned(200, "application/json",
			`{`+okJSON+`,"expires_in":"in an hour"}`), want: fail(providers.KindMalformed)},
		{name: "expires_in_object", canned: canned(200, "application/json",
			`{`+okJSON+`,"expires_in":{"seconds":3600}}`), want: fail(providers.KindMalformed)},
		{name: "expires_in_bool", canned: canned(200, "application/json",
			`{`+okJSON+`,"expires_in":true}`), want: fail(providers.KindMalformed)},
		// The emulator refreshes and its real answer arrives with
		// expires_in as text. The rotating providers' case, where the
		// readable new refresh token must be stored, is
		// TestEnsureKeepsRotatedTokenFromMalformedAnswer.
		{name: "expires_in_text_in_real_answer", mangle: fltExpiresInAsText, only: []string{"phoneburner"},
			want: fltWant{kind: providers.KindMalformed, attempts: 1, providerRefreshes: 1}},
	}
}

// TestEnsureUnderFaults runs every fault against every provider.
func TestEnsureUnderFaults(t *testing.T) {
	cases := fltCases()
	n := 0
	for _, fc := range cases {
		for _, provider := range fltProviders {
			if len(fc.only) > 0 && !slices.Contains(fc.only, provider) {
				continue
			}
			want := fc.want
			if o, ok := fc.per[provider]; ok {
				want = o
			}
			n++
			t.Run(fc.name+"/"+provider, func(t *testing.T) {
				t.Parallel()
				runFltCase(t, provider, fc, want)
			})
		}
	}
	t.Logf("%d faults, %d cases", len(cases), n)
}

func runFltCase(t *testing.T, provider string, fc fltCase, want fltWant) {
	w := newFltWorld(t, provider)
	ctx := context.Background()
	before := w.get()
	w.warm()
	w.door.setCanned(fc.canned)
	w.door.setMangle(fc.mangle)
	w.emu.SetFaults(fc.faults)
	timeout := 5 * time.Second
	if fc.timeout > 0 {
		timeout = fc.timeout
	}
	res, err := w.refresher().Ensure(ctx, w.conn, w.client(timeout), time.Minute)
	t.Logf("Ensure: %v", err)
	if fc.faults.Drop && w.conns.Load() != 1 {
		t.Errorf("the refresh opened a new connection (%d in all): the drop of a reused one is not exercised", w.conns.Load())
	}

	// Item 2: a refresh that may have reached a rotating provider is never
	// repeated; a non-rotating one is repeated only on a 429/503 with
	// Retry-After, waiting as told.
	if got := w.door.refreshAttempts(); got != want.attempts {
		if w.rotates() && got > 1 {
			t.Errorf("BUG: a rotating refresh was sent %d times (it may have reached the provider): err = %v", got, err)
		} else {
			t.Errorf("%d attempts at the refresh endpoint, want %d (err = %v)", got, want.attempts, err)
		}
	}
	if got := w.waits.all(); !slices.Equal(got, want.waits) {
		t.Errorf("waits = %v, want %v", got, want.waits)
	}
	if got := w.emu.Stats().Refreshes; got != want.providerRefreshes {
		t.Errorf("the emulator completed %d refreshes, want %d", got, want.providerRefreshes)
	}

	after := w.get()
	if want.kind == "" {
		if err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		if !res.Refreshed || after.Access.Equal(before.Access) || after.Status != state.StatusActive || after.LastError != nil {
			t.Fatalf("after a successful retry the record is %+v (Refreshed=%v)", after, res.Refreshed)
		}
		if !after.Access.Equal(res.Record.Access) {
			t.Error("Ensure returned tokens the state does not hold")
		}
	} else {
		fltCheckFailure(t, w, err, want.kind, before, after)
	}

	// Clear the fault and see the connection recover (or, where the
	// provider's state moved on, end cleanly).
	w.emu.SetFaults(emulator.Faults{})
	w.door.setCanned(nil)
	w.door.setMangle(nil)
	switch want.after {
	case fltLive:
		res, err := w.refresher().Ensure(ctx, w.conn, w.client(5*time.Second), time.Minute)
		if err != nil {
			t.Fatalf("Ensure after clearing the fault: %v", err)
		}
		if want.kind != "" && !res.Refreshed {
			t.Error("Ensure after clearing the fault did not refresh")
		}
		fltCheckLive(t, w, before, res.Record)
	case fltLost:
		fltCheckReconnect(t, w, before)
		if w.provider == "buffer_v2" {
			// Presenting the consumed token revoked the grant.
			if live := w.emu.Stats().LiveGrants; live != 0 {
				t.Errorf("buffer_v2 live grants = %d, want 0 after the reuse", live)
			}
		}
	case fltNeedsPerson:
		n := w.door.refreshAttempts()
		_, err := w.refresher().Ensure(ctx, w.conn, w.client(5*time.Second), time.Minute)
		if !errors.Is(err, ErrNeedsPerson) || !strings.Contains(err.Error(), w.conn) {
			t.Errorf("Ensure on a needs_reconnect record: %v", err)
		}
		if w.door.refreshAttempts() != n {
			t.Error("a needs_reconnect record was sent to the provider")
		}
		if rec := w.get(); rec.Status != state.StatusNeedsReconnect || !rec.Refresh.Equal(before.Refresh) {
			t.Errorf("record = %+v", rec)
		}
	}
}

// fltCheckFailure checks a failed Ensure: a clear error naming the
// connection, the expected kind, and the record as it was apart from the
// failure it records.
func fltCheckFailure(t *testing.T, w *fltWorld, err error, kind providers.Kind, before, after *state.Record) {
	t.Helper()
	if err == nil {
		t.Fatal("Ensure succeeded, want an error")
	}
	msg := err.Error()
	if !strings.Contains(msg, w.conn) || !strings.Contains(msg, "refresh") {
		t.Errorf("the error does not name the connection and the refresh: %q", msg)
	}
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %q is not a *providers.Error", msg)
	}
	if pe.Kind != kind || pe.Op != "refresh" || pe.Provider != w.provider {
		t.Errorf("error kind/op/provider = %s/%s/%s, want %s/refresh/%s (%q)", pe.Kind, pe.Op, pe.Provider, kind, w.provider, msg)
	}
	fltNoSecrets(t, "the error", msg, before)

	reconnect := kind == providers.KindInvalidGrant
	if errors.Is(err, ErrNeedsPerson) != reconnect || providers.NeedsReconnect(err) != reconnect {
		t.Errorf("needs-person = %v, want %v: %q", errors.Is(err, ErrNeedsPerson), reconnect, msg)
	}
	wantStatus := state.StatusActive
	if reconnect {
		wantStatus = state.StatusNeedsReconnect
	}
	if after.Status != wantStatus {
		t.Errorf("status = %s, want %s", after.Status, wantStatus)
	}
	if after.LastError == nil || after.LastError.Kind != string(kind) || !after.LastError.At.Equal(w.now) {
		t.Errorf("last error = %+v, want kind %s", after.LastError, kind)
	} else {
		fltNoSecrets(t, "the recorded error", after.LastError.Message+" "+after.LastError.Code, before)
	}
	// A request that was sent and got no answer may have reached the
	// provider: the record keeps its intent, so the next refresh knows it
	// was interrupted.
	if kind == providers.KindNetwork && after.InFlight == nil {
		t.Error("a sent refresh without an answer left no in-flight mark in the record")
	}
	// Nothing else moved: no half-written record.
	got := *after
	got.Status, got.LastError, got.InFlight = before.Status, before.LastError, before.InFlight
	if d := cmp.Diff(before, &got, cmp.Comparer(func(a, b secret.Secret) bool { return a.Equal(b) })); d != "" {
		t.Errorf("the record changed beyond its status and last error (-before +after):\n%s", d)
	}
}

// fltCheckLive checks that the stored tokens are the live ones: rotated
// (for a rotating provider) and written before Ensure returned them.
func fltCheckLive(t *testing.T, w *fltWorld, before, returned *state.Record) {
	t.Helper()
	stored := w.get()
	if stored.Status != state.StatusActive || stored.LastError != nil || stored.Access.Equal(before.Access) ||
		!stored.Access.Equal(returned.Access) || !stored.Refresh.Equal(returned.Refresh) ||
		!stored.Expiry.After(w.now.Add(time.Minute)) {
		t.Fatalf("stored record after recovery = %+v", stored)
	}
	if !w.rotates() {
		if !stored.Refresh.Equal(before.Refresh) {
			t.Error("a non-rotating provider's refresh token changed")
		}
		for i := range 2 { // reusable
			if _, err := w.direct(stored.Refresh); err != nil {
				t.Errorf("use %d of the stored refresh token: %v", i+1, err)
			}
		}
		return
	}
	if stored.Refresh.Equal(before.Refresh) {
		t.Fatal("a rotating provider's refresh token was not replaced in the state")
	}
	// The rotated token is in the state and works at the provider.
	next, err := w.direct(stored.Refresh)
	if err != nil {
		t.Fatalf("the stored (rotated) refresh token does not work: %v", err)
	}
	// The old one is dead. At buffer_v2 presenting it again also revokes
	// the whole grant, the new tokens included: this is why the rotated
	// token must be persisted before use, and a refresh never replayed with
	// the old one.
	_, err = w.direct(before.Refresh)
	if !providers.NeedsReconnect(err) {
		t.Errorf("reusing the old refresh token: %v, want invalid_grant", err)
	}
	_, err = w.direct(next.RefreshToken)
	switch w.provider {
	case "buffer_v2":
		if !providers.NeedsReconnect(err) || w.emu.Stats().LiveGrants != 0 {
			t.Errorf("buffer_v2 after a reuse: refresh err = %v, live grants = %d; want the grant revoked", err, w.emu.Stats().LiveGrants)
		}
	default:
		if err != nil || w.emu.Stats().LiveGrants != 1 {
			t.Errorf("%s after a reuse: refresh err = %v, live grants = %d; want the grant alive", w.provider, err, w.emu.Stats().LiveGrants)
		}
	}
}

// fltCheckReconnect: the stored refresh token is dead at the provider;
// Ensure meets invalid_grant once and keeps the record, marked.
func fltCheckReconnect(t *testing.T, w *fltWorld, before *state.Record) {
	t.Helper()
	n := w.door.refreshAttempts()
	_, err := w.refresher().Ensure(context.Background(), w.conn, w.client(5*time.Second), time.Minute)
	if err == nil || !errors.Is(err, ErrNeedsPerson) || !providers.NeedsReconnect(err) ||
		!strings.Contains(err.Error(), w.conn) || !strings.Contains(err.Error(), "oauthform apply") {
		t.Fatalf("Ensure with a consumed refresh token: %v, want invalid_grant and needs a new authorization", err)
	}
	if got := w.door.refreshAttempts() - n; got != 1 {
		t.Errorf("%d attempts for a refused refresh, want 1", got)
	}
	rec := w.get()
	if rec.Status != state.StatusNeedsReconnect || rec.LastError == nil || rec.LastError.Kind != string(providers.KindInvalidGrant) ||
		!rec.Access.Equal(before.Access) || !rec.Refresh.Equal(before.Refresh) {
		t.Errorf("record = %+v, want it kept with its tokens and marked needs_reconnect", rec)
	}
}

// fltNoSecrets fails when text holds a token or the client secret.
func fltNoSecrets(t *testing.T, what, text string, rec *state.Record) {
	t.Helper()
	for _, s := range []string{rec.Access.Reveal(), rec.Refresh.Reveal(), fltClientSecret, "AT-canned-0001", "RT-canned-0001"} {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s leaks a secret: %q", what, text)
		}
	}
}

// TestEnsureAfterAnotherProgramUsedTheRefreshToken: a program outside the
// state (a copy of the token elsewhere) refreshed behind oauthform's back.
// With rotation the stored refresh token is now dead: Ensure ends with
// invalid_grant, one attempt, the record kept and marked needs_reconnect.
// buffer_v2 also revokes the other program's new tokens. Without rotation
// (phoneburner) the stored token still works.
func TestEnsureAfterAnotherProgramUsedTheRefreshToken(t *testing.T) {
	for _, provider := range fltProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			w := newFltWorld(t, provider)
			before := w.get()
			other, err := w.direct(before.Refresh)
			if err != nil {
				t.Fatalf("the other program's refresh: %v", err)
			}
			if !w.rotates() {
				res, err := w.refresher().Ensure(context.Background(), w.conn, w.client(5*time.Second), time.Minute)
				if err != nil || !res.Refreshed {
					t.Fatalf("Ensure: %v", err)
				}
				fltCheckLive(t, w, before, res.Record)
				return
			}
			fltCheckReconnect(t, w, before)
			if w.door.refreshAttempts() != 2 {
				t.Errorf("%d refresh requests in all, want 2 (the other program's and one of ours)", w.door.refreshAttempts())
			}
			_, err = w.direct(other.RefreshToken)
			if provider == "buffer_v2" {
				if !providers.NeedsReconnect(err) || w.emu.Stats().LiveGrants != 0 {
					t.Errorf("buffer_v2 must revoke the grant on reuse: err = %v, live = %d", err, w.emu.Stats().LiveGrants)
				}
			} else if err != nil {
				t.Errorf("the other program's new token: %v", err)
			}
		})
	}
}

// TestEnsureTwoProcessesRace: two processes (two handles on one state file)
// ask for the same expiring connection at once. Exactly one refresh reaches
// the provider, nobody meets invalid_grant, both get the same new token.
func TestEnsureTwoProcessesRace(t *testing.T) {
	for _, provider := range fltProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			w := newFltWorld(t, provider)
			before := w.get()
			// A slow provider keeps the first refresh in flight while the
			// second process arrives.
			w.emu.SetFaults(emulator.Faults{Latency: 150 * time.Millisecond})
			rs := []*Refresher{w.refresher(), w.refresher()}
			results := make([]*Result, len(rs))
			errs := make([]error, len(rs))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, r := range rs {
				c := w.client(5 * time.Second)
				wg.Go(func() {
					<-start
					results[i], errs[i] = r.Ensure(context.Background(), w.conn, c, time.Minute)
				})
			}
			close(start)
			wg.Wait()
			refreshed := 0
			for i := range rs {
				if errs[i] != nil {
					t.Fatalf("process %d: %v", i, errs[i])
				}
				if results[i].Refreshed {
					refreshed++
				}
				if !results[i].Record.Access.Equal(results[0].Record.Access) {
					t.Errorf("process %d got another access token", i)
				}
			}
			if refreshed != 1 {
				t.Errorf("%d processes refreshed, want 1", refreshed)
			}
			if a, r := w.door.refreshAttempts(), w.emu.Stats().Refreshes; a != 1 || r != 1 {
				t.Errorf("%d refresh requests, %d refreshes at the provider; want exactly 1", a, r)
			}
			if st := w.emu.Stats(); st.Rejections != 0 {
				t.Errorf("the provider refused a request: %s", st.LastRejection)
			}
			w.emu.SetFaults(emulator.Faults{})
			fltCheckLive(t, w, before, results[0].Record)
		})
	}
}

// TestEnsureKeepsRotatedTokenFromMalformedAnswer: a rotating provider
// refreshed (the old refresh token is now dead) and answered 200 with its
// new refresh_token readable, but expires_in malformed. Whatever Ensure
// returns, the state must end up holding the live refresh token, not the
// consumed one (a rotated refresh token is never lost).
func TestEnsureKeepsRotatedTokenFromMalformedAnswer(t *testing.T) {
	for _, provider := range []string{"sms77", "buffer_v2"} {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			w := newFltWorld(t, provider)
			before := w.get()
			w.door.setMangle(fltExpiresInAsText)
			_, err := w.refresher().Ensure(context.Background(), w.conn, w.client(5*time.Second), time.Minute)
			if err == nil || !strings.Contains(err.Error(), w.conn) {
				t.Errorf("want an error naming the connection, got %v", err)
			}
			if got := w.emu.Stats().Refreshes; got != 1 {
				t.Fatalf("the emulator completed %d refreshes, want 1", got)
			}
			w.door.setMangle(nil)
			after := w.get()
			if after.Refresh.Equal(before.Refresh) {
				t.Fatalf("the provider answered a rotated refresh token but the state still holds the consumed one (Ensure: %v)", err)
			}
			if _, err := w.direct(after.Refresh); err != nil {
				t.Errorf("the stored refresh token: %v", err)
			}
		})
	}
}
