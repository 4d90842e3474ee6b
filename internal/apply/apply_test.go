package apply

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// scriptedGranter approves every grant at the emulator's consent page the
// way a browser would and completes it with the client.
type scriptedGranter struct {
	approve bool
	seen    []GrantRequest
	// before, when set, runs first; an error ends the grant with it.
	before func(ctx context.Context) error
}

func (g *scriptedGranter) Grant(ctx context.Context, req GrantRequest) (*providers.Token, error) {
	g.seen = append(g.seen, req)
	if g.before != nil {
		if err := g.before(ctx); err != nil {
			return nil, err
		}
	}
	ar, err := req.Client.AuthCodeURL(req.Scopes, req.Params)
	if err != nil {
		return nil, err
	}
	cb, err := emulator.Consent(ctx, nil, ar.URL, g.approve)
	if err != nil {
		return nil, err
	}
	code, err := req.Client.ParseCallback(cb.Query(), ar)
	if err != nil {
		return nil, err
	}
	return req.Client.Exchange(ctx, ar, code)
}

type world struct {
	t      *testing.T
	dir    string
	now    time.Time
	emus   map[string]*emulator.Server
	urls   map[string]string
	store  state.Store
	g      *scriptedGranter
	config string
	stop   chan struct{} // Executor.Stop
	// tweak, when set, adjusts each executor (its parallelism, its
	// clients' transport).
	tweak func(*Executor)
}

const redirect = "http://127.0.0.1:8765/callback"

func newWorld(t *testing.T) *world {
	w := &world{t: t, dir: t.TempDir(), now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
		emus: map[string]*emulator.Server{}, urls: map[string]string{}, g: &scriptedGranter{approve: true}}
	for _, p := range []string{"sms77", "phoneburner"} {
		emu, err := emulator.New(emulator.Options{Provider: p, Now: func() time.Time { return w.now },
			Clients: []emulator.Client{{ID: "id-" + p, Secret: "secret-" + p, RedirectURIs: []string{redirect}}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(emu)
		t.Cleanup(srv.Close)
		w.emus[p], w.urls[p] = emu, srv.URL
	}
	st, err := bolt.Open(filepath.Join(w.dir, "state.db"), state.Options{Create: true, Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
	return w
}

// providerBlocks point the built-ins at the emulators, as `emulate` prints.
func (w *world) providerBlocks() string {
	var b strings.Builder
	for _, name := range []string{"sms77", "phoneburner"} {
		p, _ := providers.Builtin(name)
		rp, _ := p.Rebase(w.urls[name])
		fmt.Fprintf(&b, "provider %q {\n  authorize_url = %q\n  token_url = %q\n", name, rp.AuthorizeURL, rp.TokenURL)
		if rp.RefreshURL != "" {
			fmt.Fprintf(&b, "  refresh_url = %q\n", rp.RefreshURL)
		}
		if rp.RevokeURL != "" {
			fmt.Fprintf(&b, "  revoke_url = %q\n", rp.RevokeURL)
		}
		fmt.Fprintf(&b, "  check_url = %q\n}\n", rp.CheckURL)
		fmt.Fprintf(&b, "app %q {\n  provider = %q\n  client_id = %q\n  client_secret = %q\n  redirect_uri = %q\n}\n",
			name, name, "id-"+name, "secret-"+name, redirect)
	}
	return b.String()
}

// apply loads conns (HCL connection blocks), plans and executes.
func (w *world) apply(conns string) (*plan.Plan, []Outcome, *config.Config) {
	t := w.t
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, "main.oauth.hcl"), []byte(w.providerBlocks()+conns), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(w.dir, config.Inputs{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx := context.Background()
	lineage, err := w.store.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.store.Unlock(ctx) }()
	snap, err := w.store.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, diags := plan.Diff(cfg, snap, w.now, plan.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return p, w.executor(cfg, w.store, lineage).Run(ctx, p), cfg
}

// executor runs plans of cfg against st with the world's granter and clock.
func (w *world) executor(cfg *config.Config, st state.Store, lineage string) *Executor {
	e := &Executor{Store: st, Config: cfg, Lineage: lineage, Granter: w.g, Now: func() time.Time { return w.now }, Stop: w.stop,
		NewClient: func(app *config.App) (*providers.Client, error) {
			return &providers.Client{Profile: cfg.Providers[app.Provider], ClientID: app.ClientID,
				ClientSecret: app.ClientSecret, RedirectURI: app.RedirectURI, Now: func() time.Time { return w.now }}, nil
		}}
	if w.tweak != nil {
		w.tweak(e)
	}
	return e
}

func kinds(p *plan.Plan) string {
	var s []string
	for _, a := range p.Actions {
		s = append(s, a.Conn+":"+a.Kind.String())
	}
	return strings.Join(s, " ")
}

func mustSucceed(t *testing.T, outs []Outcome) {
	t.Helper()
	for _, o := range outs {
		if o.Err != nil {
			t.Errorf("%s %s: %v", o.Action.Kind, o.Action.Conn, o.Err)
		}
	}
}

func TestExecutorLifecycle(t *testing.T) {
	w := newWorld(t)
	both := `
connection "sms" {
  app = app.sms77
  scopes = ["sms", "analytics"]
  refresh_before = "10m"
}
connection "pb" {
  app = app.phoneburner
}
`
	p, outs, _ := w.apply(both)
	if kinds(p) != "pb:connect sms:connect" {
		t.Fatalf("first plan: %s", kinds(p))
	}
	mustSucceed(t, outs)
	if len(w.g.seen) != 2 || w.g.seen[0].Index != 1 || w.g.seen[1].Total != 2 {
		t.Errorf("grants = %+v", w.g.seen)
	}
	snap, _ := w.store.Snapshot(context.Background())
	sms := snap.Records["sms"]
	if sms == nil || sms.Status != state.StatusActive || sms.Access.IsZero() || sms.Refresh.IsZero() ||
		strings.Join(sms.GrantedScopes, " ") == "" || sms.ClientSecretHash == "" {
		t.Fatalf("sms record = %+v", sms)
	}

	// Nothing to do now.
	if p, _, _ := w.apply(both); len(p.Actions) != 0 {
		t.Errorf("second plan: %s", kinds(p))
	}

	// Within refresh_before of sms's 1h expiry: one refresh, rotated.
	w.now = w.now.Add(55 * time.Minute)
	p, outs, _ = w.apply(both)
	if kinds(p) != "sms:refresh" {
		t.Fatalf("plan after 55m: %s", kinds(p))
	}
	mustSucceed(t, outs)
	snap, _ = w.store.Snapshot(context.Background())
	if after := snap.Records["sms"]; after.Refresh.Equal(sms.Refresh) || !after.Expiry.After(w.now.Add(time.Minute)) {
		t.Errorf("sms after refresh = %+v", after)
	}
	if w.emus["sms77"].Stats().Refreshes != 1 {
		t.Errorf("sms77 stats = %+v", w.emus["sms77"].Stats())
	}

	// A local setting changes: update, tokens untouched.
	p, outs, _ = w.apply(strings.Replace(both, `"10m"`, `"20m"`, 1))
	if kinds(p) != "sms:update" {
		t.Fatalf("plan after refresh_before change: %s", kinds(p))
	}
	mustSucceed(t, outs)

	// pb removed: disconnect, and PhoneBurner cannot revoke remotely.
	smsOnly := strings.Replace(both[:strings.Index(both, `connection "pb"`)], `"10m"`, `"20m"`, 1)
	p, outs, _ = w.apply(smsOnly)
	if kinds(p) != "pb:disconnect" {
		t.Fatalf("plan after removing pb: %s", kinds(p))
	}
	mustSucceed(t, outs)
	if !strings.Contains(outs[0].Note, "cannot revoke remotely") || outs[0].Revoked {
		t.Errorf("note = %q, revoked = %v: PhoneBurner cannot revoke", outs[0].Note, outs[0].Revoked)
	}
	snap, _ = w.store.Snapshot(context.Background())
	if _, ok := snap.Records["pb"]; ok || len(snap.Records) != 1 {
		t.Errorf("records after disconnect: %v", snap.Records)
	}

	// A forced invalid_grant on refresh marks sms for reconnect; the next
	// apply reconnects it.
	w.now = w.now.Add(2 * time.Hour)
	w.emus["sms77"].SetFaults(emulator.Faults{InvalidGrant: true, Endpoints: []string{"refresh"}})
	p, outs, _ = w.apply(smsOnly)
	if kinds(p) != "sms:refresh" || outs[0].Err == nil || !strings.Contains(outs[0].Err.Error(), "oauthform apply") {
		t.Fatalf("refresh with invalid_grant: %s %v", kinds(p), outs[0].Err)
	}
	w.emus["sms77"].SetFaults(emulator.Faults{})
	p, outs, _ = w.apply(smsOnly)
	if kinds(p) != "sms:reconnect" {
		t.Fatalf("plan after invalid_grant: %s", kinds(p))
	}
	mustSucceed(t, outs)
	snap, _ = w.store.Snapshot(context.Background())
	if snap.Records["sms"].Status != state.StatusActive {
		t.Errorf("after reconnect: %+v", snap.Records["sms"])
	}
}

func TestExecutorDeniedGrantKeepsGoing(t *testing.T) {
	w := newWorld(t)
	w.g.approve = false
	_, outs, _ := w.apply(`
connection "a" {
  app = app.sms77
  scopes = ["sms"]
}
connection "b" {
  app = app.phoneburner
}
`)
	if len(outs) != 2 {
		t.Fatalf("outcomes = %+v", outs)
	}
	for _, o := range outs {
		if o.Err == nil || !strings.Contains(o.Err.Error(), "access_denied") {
			t.Errorf("%s: err = %v, want access_denied", o.Action.Conn, o.Err)
		}
	}
	if len(w.g.seen) != 2 {
		t.Errorf("a denial must not stop the next grant: %d grants", len(w.g.seen))
	}
	snap, _ := w.store.Snapshot(context.Background())
	if len(snap.Records) != 0 {
		t.Errorf("denied grants wrote records: %v", snap.Records)
	}
}

// The first interrupt ends the grant waiting on a person and starts no
// further grant; the run still returns an outcome for every action.
func TestExecutorStopEndsWaitingGrant(t *testing.T) {
	w := newWorld(t)
	w.stop = make(chan struct{})
	w.g.before = func(ctx context.Context) error {
		close(w.stop) // Ctrl-C while the person has not answered
		<-ctx.Done()
		return ctx.Err()
	}
	_, outs, _ := w.apply(`
connection "a" {
  app = app.sms77
  scopes = ["sms"]
}
connection "b" {
  app = app.phoneburner
}
`)
	if len(w.g.seen) != 1 {
		t.Fatalf("grants started = %d, want 1 (none after the interrupt)", len(w.g.seen))
	}
	if len(outs) != 2 || !errors.Is(outs[0].Err, context.Canceled) {
		t.Fatalf("first outcome = %+v, want the waiting grant cancelled", outs)
	}
	if !errors.Is(outs[1].Err, ErrInterrupted) {
		t.Errorf("second outcome err = %v, want ErrInterrupted", outs[1].Err)
	}
}

// TestEveryPlanConverges drives every combination of changes that can
// coincide for one connection (a refresh due, refresh_before changed, a
// scope removed, a scope added) and requires that after one apply the next
// plan says "No changes".
func TestEveryPlanConverges(t *testing.T) {
	type change struct {
		name  string
		apply func(w *world, c *convConn)
	}
	changes := []change{
		{"refresh_due", func(w *world, c *convConn) { w.now = w.now.Add(55 * time.Minute) }},
		{"refresh_before", func(w *world, c *convConn) { c.refreshBefore = "20m" }},
		{"scope_removed", func(w *world, c *convConn) { c.scopes = []string{"sms"} }},
		{"scope_added", func(w *world, c *convConn) { c.scopes = append(c.scopes, "lookup") }},
	}
	for mask := 1; mask < 1<<len(changes); mask++ {
		var names []string
		for i, ch := range changes {
			if mask&(1<<i) != 0 {
				names = append(names, ch.name)
			}
		}
		t.Run(strings.Join(names, "+"), func(t *testing.T) {
			w := newWorld(t)
			c := &convConn{scopes: []string{"sms", "analytics"}, refreshBefore: "10m"}
			_, outs, _ := w.apply(c.hcl())
			mustSucceed(t, outs)
			for i, ch := range changes {
				if mask&(1<<i) != 0 {
					ch.apply(w, c)
				}
			}
			p, outs, _ := w.apply(c.hcl())
			if len(p.Actions) == 0 {
				t.Fatalf("the changes %v planned nothing", names)
			}
			mustSucceed(t, outs)
			if p, _, _ := w.apply(c.hcl()); len(p.Actions) != 0 {
				t.Errorf("after applying %v the next plan still has: %s (reasons %v)", names, kinds(p), p.Actions[0].Reasons)
			}
		})
	}
}

// convConn is one sms77 connection's declared settings.
type convConn struct {
	scopes        []string
	refreshBefore string
}

func (c *convConn) hcl() string {
	return fmt.Sprintf("connection \"c\" {\n  app = app.sms77\n  scopes = [\"%s\"]\n  refresh_before = %q\n}\n",
		strings.Join(c.scopes, `", "`), c.refreshBefore)
}

// lockCounter counts the connection locks taken through it.
type lockCounter struct {
	*bolt.Store
	locks atomic.Int32
}

func (c *lockCounter) LockConn(ctx context.Context, conn string, wait time.Duration) (func() error, error) {
	c.locks.Add(1)
	return c.Store.LockConn(ctx, conn, wait)
}

// A refresh whose record already holds the configured settings takes its
// connection's lock once; one that coincides with a change of them (one
// action for both) writes the change too.
func TestRefreshWritesSettingsOnlyWhenChanged(t *testing.T) {
	w := newWorld(t)
	counter := &lockCounter{Store: w.store.(*bolt.Store)}
	w.store = counter
	conn := `
connection "sms" {
  app = app.sms77
  scopes = ["sms", "analytics"]
  refresh_before = "10m"
}
`
	_, outs, _ := w.apply(conn)
	mustSucceed(t, outs)

	w.now = w.now.Add(55 * time.Minute)
	counter.locks.Store(0)
	p, outs, _ := w.apply(conn)
	if kinds(p) != "sms:refresh" {
		t.Fatalf("plan after 55m: %s", kinds(p))
	}
	mustSucceed(t, outs)
	if n := counter.locks.Load(); n != 1 {
		t.Errorf("a refresh with nothing else to write took the connection lock %d times, want 1", n)
	}

	w.now = w.now.Add(55 * time.Minute)
	counter.locks.Store(0)
	changed := strings.Replace(conn, `"10m"`, `"20m"`, 1)
	p, outs, _ = w.apply(changed)
	if kinds(p) != "sms:refresh" {
		t.Fatalf("plan after 55m more and refresh_before changed: %s", kinds(p))
	}
	mustSucceed(t, outs)
	if n := counter.locks.Load(); n != 2 {
		t.Errorf("a refresh with a setting to write took the connection lock %d times, want 2", n)
	}
	snap, err := w.store.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Records["sms"].RefreshBefore; got != 20*time.Minute {
		t.Errorf("refresh_before after the refresh = %s, want 20m", got)
	}
	if p, _, _ := w.apply(changed); len(p.Actions) != 0 {
		t.Errorf("plan after both: %s", kinds(p))
	}
}

// intentCounter counts the refresh intents written (records put with a
// flight).
type intentCounter struct {
	*bolt.Store
	intents atomic.Int32
	changed chan struct{} // gets a value at each intent, when it has room
}

func (c *intentCounter) Put(ctx context.Context, rec *state.Record) error {
	err := c.Store.Put(ctx, rec)
	if rec.InFlight != nil {
		c.intents.Add(1)
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}
	return err
}

// holdingTransport holds each refresh request before it is written, for
// hold or until one more intent than requests so far was written, and
// records the second case: the next refresh being prepared while this
// one was not on the wire yet.
type holdingTransport struct {
	intents  *intentCounter
	hold     time.Duration
	requests atomic.Int32
	early    atomic.Int32
}

func (h *holdingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	n := h.requests.Add(1)
	deadline := time.NewTimer(h.hold)
	defer deadline.Stop()
	for h.intents.intents.Load() <= n {
		select {
		case <-h.intents.changed:
			continue
		case <-deadline.C:
		}
		break
	}
	if h.intents.intents.Load() > n {
		h.early.Add(1)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// With -parallelism 1, a refresh is prepared (its intent, its custody
// file) only once the one before it is written: preparing it while the
// other is being written took the CPU from the writing, and in the first
// wave of an apply at -parallelism 50 delayed requests by 20 ms.
func TestNextRefreshIsPreparedOnceTheRequestIsWritten(t *testing.T) {
	w := newWorld(t)
	counter := &intentCounter{Store: w.store.(*bolt.Store), changed: make(chan struct{}, 1)}
	w.store = counter
	conns := `
connection "a" {
  app = app.sms77
  scopes = ["sms"]
  refresh_before = "10m"
}
connection "b" {
  app = app.sms77
  scopes = ["sms"]
  refresh_before = "10m"
}
connection "c" {
  app = app.sms77
  scopes = ["sms"]
  refresh_before = "10m"
}
`
	_, outs, _ := w.apply(conns)
	mustSucceed(t, outs)

	hold := &holdingTransport{intents: counter, hold: 200 * time.Millisecond}
	w.tweak = func(e *Executor) {
		e.Parallelism = 1
		newClient := e.NewClient
		e.NewClient = func(app *config.App) (*providers.Client, error) {
			c, err := newClient(app)
			if err == nil {
				c.HTTP = &http.Client{Transport: hold}
			}
			return c, err
		}
	}
	w.now = w.now.Add(55 * time.Minute)
	counter.intents.Store(0)
	p, outs, _ := w.apply(conns)
	if kinds(p) != "a:refresh b:refresh c:refresh" {
		t.Fatalf("plan after 55m: %s", kinds(p))
	}
	mustSucceed(t, outs)
	if n := hold.requests.Load(); n != 3 {
		t.Fatalf("%d refresh requests, want 3", n)
	}
	if n := hold.early.Load(); n != 0 {
		t.Errorf("%d of 3 refreshes had the next one prepared before their request was written", n)
	}
}
