package apply

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// Granter performs one interactive grant: the authorization code or the
// device authorization, as GrantRequest.Grant says (internal/grant in the
// CLI; a scripted browser in tests). Client credentials never reach it.
type Granter interface {
	Grant(ctx context.Context, req GrantRequest) (*providers.Token, error)
}

// GrantRequest is one grant to perform.
type GrantRequest struct {
	Conn     string
	Provider string
	// Grant is providers.GrantAuthorizationCode or
	// providers.GrantDeviceCode.
	Grant        providers.Grant
	Client       *providers.Client
	Scopes       []string
	Params       map[string]string
	Index, Total int // "Grant 2 of 3"
}

// Outcome is how one action ended.
type Outcome struct {
	Action *plan.Action
	// Err is nil when the action succeeded.
	Err error
	// Note is a message for the person (for a disconnect without remote
	// revocation: revoke at the provider).
	Note string
	// Revoked, for a disconnect, says the grant is dead at the provider:
	// revoked now, or found already dead.
	Revoked bool
}

// Executor carries out a plan. The caller holds the state's operation
// lock; every action also takes its connection's lock, and every finished
// action is written to the state at once, in its own transaction, so an
// interrupted apply keeps everything finished before it.
type Executor struct {
	Store   state.Store
	Config  *config.Config
	Lineage string
	Granter Granter
	// NewClient builds the provider client of an app.
	NewClient func(app *config.App) (*providers.Client, error)
	// Parallelism bounds the non-interactive actions talking to providers
	// at once; 0 means 10. A refresh frees its slot once the provider has
	// answered, and writes its result while the next one starts.
	Parallelism int
	Now         func() time.Time
	// Done, when set, is called once per finished action, never
	// concurrently.
	Done func(Outcome)
	// EmergencyDir is where a refresh puts tokens the provider issued but
	// the state could not store (Refresher.EmergencyDir); "" means the
	// state's own folder, which only a local state has.
	EmergencyDir string
	// Stop, when closed (the first Ctrl-C), stops the run gracefully: no
	// further action starts and a grant waiting on a person ends, while
	// actions already talking to a provider finish and are written. Cancel
	// the context of Run to abandon those too.
	Stop <-chan struct{}
	// Flights, when set, tracks the refreshes on the wire (Refresher.Flights).
	Flights *Flights
	// CloseIdle, for a process that sends nothing after Run: once no
	// action is left to start, each worker that finishes closes the
	// connections left idle (providers.CloseIdleConnections), while the
	// last answers are awaited, rather than leave them all to the exit.
	CloseIdle bool

	mode plan.Mode // of the plan Run executes
}

// ErrInterrupted is the error of actions that did not start because the
// run was stopped.
var ErrInterrupted = errors.New("not started: the apply was interrupted")

// stopped reports whether Stop is closed.
func (e *Executor) stopped() bool {
	select {
	case <-e.Stop:
		return true
	default:
		return false
	}
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Run executes p's actions: refreshes, updates, disconnects and client
// credentials connects in parallel first, then the grants one at a time
// (they need a person, and each grant's loopback listener is closed
// before the next one opens, so connections sharing a redirect port never
// collide). It returns every outcome in the plan's order.
func (e *Executor) Run(ctx context.Context, p *plan.Plan) []Outcome {
	e.mode = p.Mode
	out := make([]Outcome, len(p.Actions))
	var mu sync.Mutex
	finish := func(i int, o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		out[i] = o
		if e.Done != nil {
			e.Done(o)
		}
	}
	par := e.parallelism()
	// wire bounds the actions talking to providers; a refresh takes its
	// slot only to send (its preparation, bounded by prep, overlaps the
	// requests of others) and frees it once answered (its result is
	// written while the next one talks to a provider).
	wire := make(chan struct{}, par)
	prep := make(chan struct{}, par)
	take := func(sem chan struct{}) error {
		select {
		case sem <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-e.Stop:
			return ErrInterrupted
		}
	}
	e.Preconnect(ctx, p)
	// one runs action i, a.
	one := func(i int, a *plan.Action) {
		first := wire
		if a.Kind == plan.Refresh {
			first = prep
		}
		if err := take(first); err != nil {
			finish(i, Outcome{Action: a, Err: fmt.Errorf("%s %s: %w", a.Kind, a.Conn, err)})
			return
		}
		release := sync.OnceFunc(func() { <-first })
		defer release()
		if e.stopped() {
			finish(i, Outcome{Action: a, Err: fmt.Errorf("%s %s: %w", a.Kind, a.Conn, ErrInterrupted)})
			return
		}
		if a.Kind != plan.Refresh {
			finish(i, e.do(ctx, a, nil))
			return
		}
		var sent atomic.Bool
		slots := &wireSlots{
			send: func(context.Context) error {
				if err := take(wire); err != nil {
					return err
				}
				sent.Store(true)
				return nil
			},
			// The preparation slot is freed once the request is
			// written: preparing the next refresh (its intent, its
			// custody file) would otherwise take the CPU from the
			// writing of this one, and in the first wave delayed
			// some requests by 20 ms.
			sent: release,
			answered: sync.OnceFunc(func() {
				release()
				if sent.Load() {
					<-wire
				}
			}),
		}
		defer slots.answered()
		finish(i, Outcome{Action: a, Err: e.refresh(ctx, a, slots)})
	}
	var work, grants []int
	for i, a := range p.Actions {
		if a.Interactive() {
			grants = append(grants, i)
		} else {
			work = append(work, i)
		}
	}
	// Workers take the actions in order. A goroutine per action (10,000
	// for a large apply) cost the memory of their stacks and the
	// scheduler's time while they waited for a slot; four per slot cover
	// the actions being prepared, on the wire and writing their result.
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(len(work), 4*par) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(work) {
					if e.CloseIdle {
						providers.CloseIdleConnections()
					}
					return
				}
				one(work[k], p.Actions[work[k]])
			}
		}()
	}
	wg.Wait()
	// A grant waits on a person: the first interrupt ends it.
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if e.Stop != nil {
		// The goroutine ends at the latest when Run returns (deferred cancel).
		go func() {
			select {
			case <-e.Stop:
				cancel()
			case <-gctx.Done():
			}
		}()
	}
	for n, i := range grants {
		a := p.Actions[i]
		switch {
		case ctx.Err() != nil:
			finish(i, Outcome{Action: a, Err: fmt.Errorf("%s %s: %w", a.Kind, a.Conn, ctx.Err())})
			continue
		case e.stopped():
			finish(i, Outcome{Action: a, Err: fmt.Errorf("%s %s: %w", a.Kind, a.Conn, ErrInterrupted)})
			continue
		}
		finish(i, e.grant(gctx, a, n+1, len(grants)))
	}
	return out
}

// parallelism is Parallelism, or its default.
func (e *Executor) parallelism() int {
	if e.Parallelism <= 0 {
		return 10
	}
	return e.Parallelism
}

// Preconnect opens the connections p's refreshes send their first
// requests over (at most Parallelism per provider host) while they are
// prepared: see providers.Preconnect. Run calls it; a caller whose plan
// is approved already may call it first, while it prints the plan, so
// that the dials are done before the refreshes need them (Run's call then
// opens nothing more). It needs only Config, NewClient and Parallelism.
func (e *Executor) Preconnect(ctx context.Context, p *plan.Plan) {
	par := e.parallelism()
	counts := map[*config.App]int{}
	for _, a := range p.Actions {
		if c, ok := e.Config.Connections[a.Conn]; ok && a.Kind == plan.Refresh && c.App != nil {
			counts[c.App]++
		}
	}
	want := map[*providers.Client]int{}
	for app, n := range counts {
		if client, err := e.NewClient(app); err == nil {
			want[client] = n
		}
	}
	providers.Preconnect(ctx, want, par)
}

// wireSlots are a refresh's hooks into Run's -parallelism: send takes a
// wire slot just before the request goes out, sent frees the preparation
// slot once it is written, answered frees both.
type wireSlots struct {
	send     func(context.Context) error
	sent     func()
	answered func()
}

// do runs one non-interactive action other than a refresh (Run calls
// refresh itself, with its wire slots).
func (e *Executor) do(ctx context.Context, a *plan.Action, slots *wireSlots) Outcome {
	var err error
	o := Outcome{Action: a}
	switch a.Kind {
	case plan.Refresh:
		err = e.refresh(ctx, a, slots)
	case plan.Update:
		err = e.update(ctx, a)
	case plan.Disconnect:
		o.Note, o.Revoked, err = e.disconnect(ctx, a)
	case plan.Connect, plan.Reconnect:
		if a.Grant() != providers.GrantClientCredentials {
			err = fmt.Errorf("%s %s: needs a person", a.Kind, a.Conn)
			break
		}
		err = e.clientCredentials(ctx, a)
	default:
		err = fmt.Errorf("%s %s: not a non-interactive action", a.Kind, a.Conn)
	}
	o.Err = err
	return o
}

func (e *Executor) conn(name string) (*config.Connection, error) {
	c, ok := e.Config.Connections[name]
	if !ok || c.App == nil {
		return nil, fmt.Errorf("connection %s is not declared in the configuration", name)
	}
	return c, nil
}

func (e *Executor) refresh(ctx context.Context, a *plan.Action, slots *wireSlots) error {
	c, err := e.conn(a.Conn)
	if err != nil {
		return err
	}
	client, err := e.NewClient(c.App)
	if err != nil {
		return fmt.Errorf("refreshing %s: %w", a.Conn, err)
	}
	// A refresh on the wire is abandoned only when Run's context ends (the
	// second Ctrl-C); Stop keeps new ones from starting.
	r := &Refresher{Store: e.Store, Now: e.Now, EmergencyDir: e.EmergencyDir, Abandon: ctx.Done(), Flights: e.Flights,
		TokenLifetime: c.TokenLifetime, KeepAlive: c.EffectiveKeepAlive(), Backoff: true,
		GiveUpAfter: e.Config.EffectiveGiveUpAfter(c)}
	if slots != nil {
		r.BeforeSend, r.Sent, r.OnAnswer = slots.send, slots.sent, slots.answered
	}
	res, err := r.Ensure(ctx, a.Conn, client, c.RefreshBefore)
	if err != nil {
		return err
	}
	// A refresh can coincide with local changes (refresh_before, a secret
	// or a scope narrowed): the plan shows one action for both, so both
	// are done, or the next plan would show the update again. The record
	// Ensure read and wrote under the connection's lock says whether
	// there is any (only a command holding the operation lock, as this
	// one does, changes these settings), so a refresh without one does
	// not take the lock and read the record a second time.
	if e.mode != plan.RefreshOnly && (res == nil || res.Record == nil || !e.settled(a, c, res.Record)) {
		return e.update(ctx, a)
	}
	return nil
}

// settled reports whether rec already holds the local settings update
// would write for a.
func (e *Executor) settled(a *plan.Action, c *config.Connection, rec *state.Record) bool {
	return rec.RefreshBefore == c.RefreshBefore && slices.Equal(rec.Scopes, c.Scopes) &&
		rec.ClientSecretHash == state.HashSecret(e.Lineage, c.App.ClientSecret) && len(a.Meta) == 0
}

// update writes local settings only (refresh_before, fewer scopes where
// the provider allows down-scoping, the client secret's fingerprint); the
// tokens are untouched. Nothing is written when they already match.
func (e *Executor) update(ctx context.Context, a *plan.Action) error {
	c, err := e.conn(a.Conn)
	if err != nil {
		return err
	}
	return e.withRecord(ctx, a.Conn, func(rec *state.Record) (bool, error) {
		if e.settled(a, c, rec) {
			return false, nil
		}
		if len(a.Meta) > 0 && rec.Meta == nil {
			rec.Meta = map[string]any{}
		}
		for k, v := range a.Meta {
			rec.Meta[k] = v // the provider's word, from plan -check
		}
		rec.RefreshBefore = c.RefreshBefore
		rec.Scopes = slices.Clone(c.Scopes)
		rec.ClientSecretHash = state.HashSecret(e.Lineage, c.App.ClientSecret)
		return true, nil
	})
}

// disconnect revokes where the provider can and then forgets the record.
// A revocation that fails (other than because the token is already dead)
// keeps the record, so nothing is forgotten that may still be live.
func (e *Executor) disconnect(ctx context.Context, a *plan.Action) (note string, revoked bool, err error) {
	release, err := e.Store.LockConn(ctx, a.Conn, DefaultLockWait)
	if err != nil {
		return "", false, fmt.Errorf("disconnecting %s: %w", a.Conn, err)
	}
	defer func() { _ = release() }()
	rec, err := e.Store.Get(ctx, a.Conn)
	if errors.Is(err, state.ErrNotFound) {
		return "already gone from the state", true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("disconnecting %s: %w", a.Conn, err)
	}
	client, cerr := e.clientForRecord(rec)
	if cerr == nil {
		cerr = client.DiscoverCached(ctx, cachedEndpoints(rec))
	}
	switch {
	case cerr != nil:
		note = fmt.Sprintf("not revoked: %v; revoke it at %s", cerr, rec.Provider)
	default:
		err := client.Revoke(ctx, rec.Access, rec.Refresh)
		var pe *providers.Error
		switch {
		case errors.Is(err, providers.ErrNoRevoke):
			note = fmt.Sprintf("%s cannot revoke remotely: revoke the app's access in %s's settings", rec.Provider, rec.Provider)
		case errors.As(err, &pe) && (pe.Kind == providers.KindInvalidToken || pe.Kind == providers.KindInvalidGrant):
			note, revoked = "the token was already dead at the provider", true
		case err != nil:
			return "", false, fmt.Errorf("disconnecting %s: %w (the connection stays in the state)", a.Conn, err)
		default:
			note, revoked = "revoked at "+rec.Provider, true
		}
	}
	if err := e.Store.Delete(ctx, a.Conn); err != nil && !errors.Is(err, state.ErrNotFound) {
		return note, revoked, fmt.Errorf("disconnecting %s: %w", a.Conn, err)
	}
	if err := Forget(e.dir(), a.Conn); err != nil {
		return note, revoked, fmt.Errorf("disconnecting %s: %w", a.Conn, err)
	}
	return note, revoked, nil
}

// dir is the state's local folder (custody journal, emergency files).
func (e *Executor) dir() string {
	if e.EmergencyDir != "" {
		return e.EmergencyDir
	}
	return filepath.Dir(e.Store.Path())
}

// Forget removes every copy of conn's tokens kept outside the state in
// dir, the state's local folder: its custody file and emergency files
// (overwritten, then deleted). Call it once the record is deleted.
func Forget(dir, conn string) error {
	if err := (&Journal{Dir: CustodyDir(dir)}).Remove(conn); err != nil {
		return err
	}
	files, err := emergencyFiles(dir, conn)
	for _, f := range files {
		removeSecretFile(f.path)
	}
	return err
}

// clientForRecord finds a declared app matching the record's provider and
// client_id, whose credentials can revoke its tokens.
func (e *Executor) clientForRecord(rec *state.Record) (*providers.Client, error) {
	if c, ok := e.Config.Connections[rec.Conn]; ok && c.App != nil && c.App.Provider == rec.Provider && c.App.ClientID == rec.ClientID {
		return e.NewClient(c.App)
	}
	for _, name := range sortedApps(e.Config.Apps) {
		app := e.Config.Apps[name]
		if app.Provider == rec.Provider && app.ClientID == rec.ClientID {
			return e.NewClient(app)
		}
	}
	return nil, fmt.Errorf("no declared app of %s has client_id %q any more", rec.Provider, rec.ClientID)
}

func sortedApps(m map[string]*config.App) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// grant runs one interactive grant and records its tokens.
func (e *Executor) grant(ctx context.Context, a *plan.Action, index, total int) Outcome {
	o := Outcome{Action: a}
	c, err := e.conn(a.Conn)
	if err != nil {
		o.Err = err
		return o
	}
	client, err := e.NewClient(c.App)
	if err == nil {
		err = client.Discover(ctx)
	}
	if err != nil {
		o.Err = fmt.Errorf("connecting %s: %w", a.Conn, err)
		return o
	}
	tok, err := e.Granter.Grant(ctx, GrantRequest{
		Conn: a.Conn, Provider: c.App.Provider, Grant: grantOf(c), Client: client,
		Scopes: c.Scopes, Params: c.Params, Index: index, Total: total,
	})
	if err != nil {
		o.Err = fmt.Errorf("connecting %s: %w", a.Conn, err)
		return o
	}
	rec := grantRecord(a.Conn, c, client, tok, e.Lineage, e.now())
	o.Err = e.withRecord(ctx, a.Conn, func(old *state.Record) (bool, error) {
		*old = *rec
		return true, nil
	})
	if o.Err != nil {
		o.Err = e.keepGrant(ctx, client, rec, o.Err)
	}
	return o
}

// grantRecord is the record of a new grant of connection name (declared
// as c), whose tokens client obtained: it matches the configuration, so
// the next plan shows no change for it.
func grantRecord(name string, c *config.Connection, client *providers.Client, tok *providers.Token, lineage string, now time.Time) *state.Record {
	// First: it may set tok.Expiry.
	assumed := client.Profile.AssumeExpiry(tok, c.TokenLifetime, now)
	rec := &state.Record{
		Conn: name, Provider: c.App.Provider, ClientID: c.App.ClientID,
		ClientSecretHash: state.HashSecret(lineage, c.App.ClientSecret),
		RedirectURI:      c.App.RedirectURI, Grant: recordGrant(grantOf(c)),
		Scopes: slices.Clone(c.Scopes), GrantedScopes: tok.Scopes,
		Params: c.Params, RefreshBefore: c.RefreshBefore,
		Access: tok.AccessToken, Refresh: tok.RefreshToken, TokenType: tok.TokenType, Expiry: tok.Expiry,
		ExpiryAssumed: assumed, Status: state.StatusActive, Meta: metaOf(tok.Metadata),
		Created: now, Refreshed: now,
	}
	keepDiscovery(rec, client)
	return rec
}

// grantOf is the grant c is declared with (empty: the default).
func grantOf(c *config.Connection) providers.Grant {
	if c.Grant == "" {
		return providers.GrantAuthorizationCode
	}
	return c.Grant
}

// recordGrant is g as a record keeps it: empty for the authorization
// code, as in records older than the grant attribute.
func recordGrant(g providers.Grant) string {
	if g == providers.GrantAuthorizationCode {
		return ""
	}
	return string(g)
}

// clientCredentials connects a client credentials connection: no person,
// so it runs with the other non-interactive actions. The request is sent
// under the connection's lock, so a `token` process renewing the same
// connection waits for it and finds its token.
func (e *Executor) clientCredentials(ctx context.Context, a *plan.Action) error {
	c, err := e.conn(a.Conn)
	if err != nil {
		return err
	}
	client, err := e.NewClient(c.App)
	if err == nil {
		err = client.Discover(ctx)
	}
	if err != nil {
		return fmt.Errorf("connecting %s: %w", a.Conn, err)
	}
	return e.withRecord(ctx, a.Conn, func(old *state.Record) (bool, error) {
		tok, err := client.ClientCredentials(ctx, c.Scopes, c.Params)
		if err != nil {
			return false, fmt.Errorf("connecting %s: %w", a.Conn, err)
		}
		*old = *grantRecord(a.Conn, c, client, tok, e.Lineage, e.now())
		return true, nil
	})
}

// keepGrant handles a new grant whose tokens could not be written to the
// state: they go to an emergency file, which the next command applies; if
// even that fails, they are revoked where the provider can, so no live
// grant is left that oauthform does not know of.
func (e *Executor) keepGrant(ctx context.Context, client *providers.Client, rec *state.Record, writeErr error) error {
	path, err := writeEmergency(e.dir(), rec, e.now())
	if err == nil {
		return fmt.Errorf("connecting %s: the provider issued tokens but writing them to the state failed: %w. "+
			"They were saved to %s (mode 0600); once the state is writable, run `oauthform state restore %s`", rec.Conn, writeErr, path, path)
	}
	rerr := client.Revoke(context.WithoutCancel(ctx), rec.Access, rec.Refresh)
	if rerr == nil {
		return fmt.Errorf("connecting %s: the provider issued tokens but neither the state (%w) nor an emergency file (%v) could hold them, "+
			"so they were revoked; run `oauthform apply` again once the disk has room", rec.Conn, writeErr, err)
	}
	return fmt.Errorf("connecting %s: the provider issued tokens but neither the state (%w) nor an emergency file (%v) could hold them, "+
		"and revoking them failed (%v): remove the app's access in %s's settings, then run `oauthform apply` again", rec.Conn, writeErr, err, rerr, rec.Provider)
}

// withRecord runs fn on conn's record (a new one when absent) under the
// connection lock and writes it when fn says so.
func (e *Executor) withRecord(ctx context.Context, conn string, fn func(*state.Record) (bool, error)) error {
	release, err := e.Store.LockConn(ctx, conn, DefaultLockWait)
	if err != nil {
		return fmt.Errorf("writing %s: %w", conn, err)
	}
	defer func() { _ = release() }()
	rec, err := e.Store.Get(ctx, conn)
	switch {
	case errors.Is(err, state.ErrNotFound):
		rec = &state.Record{Conn: conn}
	case err != nil:
		return fmt.Errorf("writing %s: %w", conn, err)
	}
	write, err := fn(rec)
	if err != nil || !write {
		return err
	}
	if err := e.Store.Put(ctx, rec); err != nil {
		return fmt.Errorf("writing %s to the state: %w", conn, err)
	}
	return nil
}

// metaOf turns token metadata into record metadata (numbers kept exact).
func metaOf(m map[string]json.RawMessage) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, raw := range m {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if d.Decode(&v) == nil {
			out[k] = v
		}
	}
	return out
}
