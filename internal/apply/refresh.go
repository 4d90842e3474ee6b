// Package apply carries out a plan against the providers: grants,
// refreshes, updates and revocations, each written to the state as soon as
// it is done.
//
// Every change to a connection's tokens goes through [Refresher] or the
// executor under that connection's lock (state.Store.LockConn), re-reading
// the record first: a rotating refresh token is single-use, so it is never
// taken from a stale snapshot, and two processes never refresh one
// connection at once.
package apply

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// ErrNeedsPerson: the connection cannot be made valid without a new grant
// (it is marked needs_reconnect, or its token expired with no refresh
// token). The message says to run `oauthform apply`.
var ErrNeedsPerson = errors.New("needs a new authorization")

// DefaultLockWait is how long a refresh waits for another process that is
// refreshing the same connection: longer than one provider call.
const DefaultLockWait = 2 * time.Minute

// Refresher refreshes one connection's tokens safely.
type Refresher struct {
	Store state.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LockWait bounds the wait for the connection lock; 0 means
	// DefaultLockWait.
	LockWait time.Duration
	// EmergencyDir is where tokens go when the provider issued them but
	// the state write failed, and where the custody journal lives (its
	// "custody" folder); "" means the state's own folder.
	EmergencyDir string
	// OnAnswer, when set, is called once the provider has answered a
	// refresh (or failed to) and the answer is in the custody journal,
	// before it is written to the state: the Executor uses it to let the
	// next action talk to a provider while this one writes to the state.
	OnAnswer func()
	// BeforeSend, when set, is called once everything before the request
	// is settled, just before it is sent: the Executor takes its
	// -parallelism slot there. An error sends nothing (the intent is
	// withdrawn) and is returned.
	BeforeSend func(context.Context) error
	// Sent, when set, is called once the request is written (or writing
	// it failed): the Executor starts preparing the next refresh only
	// then, so that the preparation does not delay the writing.
	Sent func()
	// Abandon, when closed, gives up a refresh whose request is already on
	// the wire (the second Ctrl-C). Cancelling Ensure's context only keeps
	// a new refresh from starting: once sent, the answer holds the only
	// valid refresh token of a rotating provider and is waited for.
	Abandon <-chan struct{}
	// Flights, when set, tracks the refreshes on the wire, for a signal
	// handler to name them.
	Flights *Flights
	// TokenLifetime is the connection's token_lifetime (0: unset), for
	// an answer without expiry (providers.Profile.AssumeExpiry).
	TokenLifetime time.Duration
	// KeepAlive, when set, also refreshes a token whose refresh token has
	// not been used for that long (keep_alive), however long the access
	// token still lives.
	KeepAlive time.Duration
	// Backoff, when set, makes a refresh whose last attempts failed with
	// transient errors wait for its next attempt (LastError.Next): refresh
	// and apply set it; token does not, a person asking is an attempt.
	Backoff bool
	// GiveUpAfter marks a connection failing once its transient failures
	// have lasted that long (give_up_after; 0: DefaultGiveUpAfter).
	GiveUpAfter time.Duration
}

// Result is what Ensure did.
type Result struct {
	Record *state.Record
	// Refreshed is true when this call refreshed the token; false when it
	// was still valid (perhaps because another process just refreshed it).
	Refreshed bool
	// Recovered is set when the token came from the custody journal or an
	// emergency file: an earlier refresh's answer the state had not kept.
	Recovered bool
}

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// ErrInterruptedRefresh: a refresh was sent and its answer never reached
// the state (the process was killed, or gave up waiting); the provider may
// have rotated the refresh token.
var ErrInterruptedRefresh = errors.New("a refresh was interrupted")

// ErrStateBehind: the state holds an older refresh token than one the
// custody journal saw committed: the state went back in time.
var ErrStateBehind = errors.New("the state is behind the custody journal")

// Ensure makes conn's access token valid for at least minValid: under the
// connection's lock it re-reads the record and refreshes only if the token
// still expires within minValid and was not refreshed by another caller
// while this one waited for the lock, so concurrent callers make one
// refresh and all see its result.
//
// The refresh follows the custody protocol (see custody.go): everything
// that can fail is settled before the request is sent (the lock, an intent
// committed to the record, which proves the state writable and takes its
// backup, and the custody file sized for the answer); the answer is
// written to the custody file first and to the state second; a cancelled
// ctx never abandons a request on the wire (only Abandon does). Answers the
// state did not keep (custody journal, emergency files) are applied first.
// An invalid_grant marks the record needs_reconnect (kept, not deleted)
// and returns an error wrapping ErrNeedsPerson; any other failure is
// recorded as the record's last error, with its tokens kept.
func (r *Refresher) Ensure(ctx context.Context, conn string, client *providers.Client, minValid time.Duration) (*Result, error) {
	wait := r.LockWait
	if wait == 0 {
		wait = DefaultLockWait
	}
	asked := r.now()
	release, err := r.Store.LockConn(ctx, conn, wait)
	if err != nil {
		return nil, fmt.Errorf("refreshing %s: not sent: %w", conn, err)
	}
	defer func() { _ = release() }()

	rec, err := r.Store.Get(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("refreshing %s: reading the state: %w", conn, err)
	}
	rec, recovered, err := r.recover(ctx, rec, client.Profile.RotatesRefresh)
	if err != nil {
		return nil, err
	}
	now := r.now()
	renews := rec.Grant == string(providers.GrantClientCredentials)
	if rec.Status == state.StatusNeedsReconnect && !renews {
		return nil, needsPerson(conn, reconnectReason(rec))
	}
	if !expiresWithin(rec, now, minValid) && !r.idle(rec, now) {
		return &Result{Record: rec, Recovered: recovered}, nil
	}
	if rec.Refreshed.After(asked) && rec.Status == state.StatusActive && !expiresWithin(rec, now, 0) {
		// Another process refreshed while this one waited for the lock:
		// its token is as new as the provider gives (a -min-valid longer
		// than the provider's lifetime cannot be met), so concurrent
		// callers make one request and all take its answer.
		return &Result{Record: rec, Recovered: recovered}, nil
	}
	if le := rec.LastError; r.Backoff && le != nil && le.Count > 0 && le.Next.After(now) {
		return nil, fmt.Errorf("refreshing %s: not sent: %w: %d attempts failed since %s (last: %s); next attempt in %s",
			conn, ErrBackoff, le.Count, le.Since.UTC().Format(time.RFC3339), le.Kind, le.Next.Sub(now).Round(time.Second))
	}
	if renews && (rec.Refresh.IsZero() || !client.Profile.Refresh) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("renewing %s: not sent: %w", conn, err)
		}
		if err := client.DiscoverCached(ctx, cachedEndpoints(rec)); err != nil {
			return nil, fmt.Errorf("renewing %s: not sent: %w", conn, err)
		}
		return r.renew(ctx, rec, client)
	}
	if rec.Refresh.IsZero() || !client.Profile.Refresh {
		return nil, needsPerson(conn, "its token expired and there is no refresh token")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("refreshing %s: not sent: %w", conn, err)
	}
	if err := client.DiscoverCached(ctx, cachedEndpoints(rec)); err != nil {
		return nil, fmt.Errorf("refreshing %s: not sent: %w", conn, err)
	}
	return r.refresh(ctx, rec, client)
}

// refresh sends one refresh of rec under its connection's lock.
func (r *Refresher) refresh(ctx context.Context, rec *state.Record, client *providers.Client) (*Result, error) {
	conn := rec.Conn
	interrupted := rec.InFlight
	flight := &state.Flight{Since: r.now().UTC(), PID: os.Getpid(), Host: state.Hostname(), Generation: rec.Generation + 1}

	// 1. The intent, durably in the record: proves the state writable
	// (and takes its backup) before anything is sent.
	rec.InFlight = flight
	if err := r.Store.Put(context.WithoutCancel(ctx), rec); err != nil {
		return nil, fmt.Errorf("refreshing %s: not sent, the state cannot be written: %w", conn, err)
	}
	// 2. The custody file, sized for the answer (the record's plain
	// encoding estimates it; the answer is sealed, and the lineage that
	// binds it recorded, when it is kept).
	var cf *custodyFile
	if _, ok := r.Store.(state.Custodian); ok {
		enc, err := state.EncodeRecord(rec)
		if err == nil {
			cf, err = r.journal().prepare(CustodyEntry{
				Conn: conn, Grant: rec.Created, Generation: flight.Generation, Flight: *flight,
			}, len(enc))
			clear(enc)
		}
		if err != nil {
			rec.InFlight = interrupted
			_ = r.Store.Put(context.WithoutCancel(ctx), rec)
			return nil, fmt.Errorf("refreshing %s: not sent, the custody journal cannot be written: %w", conn, err)
		}
		defer cf.close()
	}

	if r.BeforeSend != nil {
		if err := r.BeforeSend(ctx); err != nil {
			rec.InFlight = interrupted
			if perr := r.Store.Put(context.WithoutCancel(ctx), rec); perr != nil {
				return nil, fmt.Errorf("refreshing %s: not sent (%w), and withdrawing its intent failed: %w", conn, err, perr)
			}
			return nil, fmt.Errorf("refreshing %s: not sent: %w", conn, err)
		}
	}

	// 3. The request. Only Abandon gives it up once it is on the wire.
	fctx, stop := r.flightContext(ctx)
	var wrote atomic.Bool
	fctx = httptrace.WithClientTrace(fctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			wrote.Store(info.Err == nil)
			if r.Sent != nil {
				r.Sent()
			}
		},
	})
	r.Flights.begin(conn)
	tok, err := client.Refresh(fctx, rec.Refresh)
	r.Flights.end(conn)
	abandoned := stop()
	answered := func() {
		if r.OnAnswer != nil {
			r.OnAnswer()
		}
	}
	wctx := context.WithoutCancel(ctx)
	if err != nil {
		answered()
		var pe *providers.Error
		gotAnswer := errors.As(err, &pe) && pe.Kind != providers.KindNetwork
		if !gotAnswer && wrote.Load() {
			return nil, r.recordUnanswered(wctx, rec, err, abandoned)
		}
		rec.InFlight = nil
		if pe != nil && !pe.NewRefresh.IsZero() {
			rec.Generation = flight.Generation
		}
		return nil, r.recordFailure(wctx, rec, err, interrupted, cf)
	}
	rec.Access = tok.AccessToken
	rec.Refresh = tok.RefreshToken
	if tok.TokenType != "" {
		rec.TokenType = tok.TokenType
	}
	rec.ExpiryAssumed = client.Profile.AssumeExpiry(tok, r.TokenLifetime, r.now())
	rec.Expiry = tok.Expiry
	if tok.Scopes != nil {
		rec.GrantedScopes = tok.Scopes
	}
	rec.Status = state.StatusActive
	rec.LastError = nil
	rec.Refreshed = r.now()
	rec.Generation, rec.InFlight = flight.Generation, nil
	keepDiscovery(rec, client)
	// 4. The answer: the custody file first (its room is reserved), then
	// the state. Neither write may be abandoned because the caller gave
	// up: with a rotating provider the old refresh token is already dead.
	kept := r.keep(wctx, cf, rec)
	// The answer is safe: let the next request go while this one writes
	// the state.
	answered()
	if err := r.Store.Put(wctx, rec); err != nil {
		if kept == nil {
			return nil, fmt.Errorf("refreshing %s: the provider issued new tokens but writing them to the state failed: %w. "+
				"They are kept in the custody file %s and the next oauthform command that refreshes %s applies them once the state can be written",
				conn, err, cf.f.Name(), conn)
		}
		return nil, r.saveEmergency(rec, err)
	}
	// The custody file keeps its room (and the answer, whose generation
	// is the record's now): the next refresh writes over it in place,
	// without allocating, and a full disk cannot take it meanwhile.
	return &Result{Record: rec, Refreshed: true}, nil
}

// renew obtains a new token for a client credentials connection, under its
// lock (so concurrent callers make one request and all see its answer).
// Nothing single-use is spent, so no custody is needed: a token lost to a
// failed write is simply obtained again. A failure is recorded as the
// record's last error; it never needs a person.
func (r *Refresher) renew(ctx context.Context, rec *state.Record, client *providers.Client) (*Result, error) {
	conn := rec.Conn
	if r.BeforeSend != nil {
		if err := r.BeforeSend(ctx); err != nil {
			return nil, fmt.Errorf("renewing %s: not sent: %w", conn, err)
		}
	}
	r.Flights.begin(conn)
	tok, err := client.ClientCredentials(ctx, rec.Scopes, rec.Params)
	r.Flights.end(conn)
	if r.OnAnswer != nil {
		r.OnAnswer()
	}
	wctx := context.WithoutCancel(ctx)
	if err != nil {
		le := &state.LastError{Kind: "error", Message: err.Error(), At: r.now()}
		var pe *providers.Error
		if errors.As(err, &pe) {
			le.Kind, le.Code, le.Message = string(pe.Kind), pe.Code, pe.Message
		}
		rec.LastError = le
		if perr := r.Store.Put(wctx, rec); perr != nil {
			return nil, fmt.Errorf("renewing %s: %w (and recording the failure in the state failed: %v)", conn, err, perr)
		}
		return nil, fmt.Errorf("renewing %s: %w", conn, err)
	}
	rec.Access, rec.Refresh = tok.AccessToken, tok.RefreshToken
	if tok.TokenType != "" {
		rec.TokenType = tok.TokenType
	}
	rec.ExpiryAssumed = client.Profile.AssumeExpiry(tok, r.TokenLifetime, r.now())
	rec.Expiry = tok.Expiry
	if tok.Scopes != nil {
		rec.GrantedScopes = tok.Scopes
	}
	rec.Status, rec.LastError, rec.Refreshed = state.StatusActive, nil, r.now()
	keepDiscovery(rec, client)
	if err := r.Store.Put(wctx, rec); err != nil {
		return nil, fmt.Errorf("renewing %s: writing the new token to the state: %w", conn, err)
	}
	return &Result{Record: rec, Refreshed: true}, nil
}

// keep writes rec, the answer of a refresh, to its custody file cf.
func (r *Refresher) keep(ctx context.Context, cf *custodyFile, rec *state.Record) error {
	if cf == nil {
		return errors.New("no custody journal")
	}
	lineage, enc, err := r.Store.(state.Custodian).SealRecord(ctx, rec)
	if err != nil {
		return err
	}
	cf.entry.Lineage = lineage
	return cf.answer(enc, r.now())
}

// flightContext is the context of a request on the wire: not cancelled
// with ctx, only by Abandon. stop releases it and reports whether the
// request was abandoned.
func (r *Refresher) flightContext(ctx context.Context) (context.Context, func() bool) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	var abandoned atomic.Bool
	go func() {
		select {
		case <-r.Abandon:
			abandoned.Store(true)
			cancel()
		case <-done:
		}
	}()
	return fctx, func() bool {
		close(done)
		cancel()
		return abandoned.Load()
	}
}

func (r *Refresher) journal() *Journal {
	return &Journal{Dir: CustodyDir(r.dir())}
}

func (r *Refresher) dir() string {
	if r.EmergencyDir != "" {
		return r.EmergencyDir
	}
	return filepath.Dir(r.Store.Path())
}

// recordUnanswered records a refresh that was sent and got no answer (no
// answer in time, the connection dropped, abandoned): the provider may have
// rotated, so the intent stays in the record and the next refresh treats
// it as interrupted.
func (r *Refresher) recordUnanswered(ctx context.Context, rec *state.Record, cause error, abandoned bool) error {
	what := "got no answer"
	if abandoned {
		what = "was abandoned before its answer arrived"
	}
	le := &state.LastError{Kind: "refresh_interrupted", Message: fmt.Sprintf("a refresh sent %s %s: %v", rec.InFlight, what, cause), At: r.now()}
	var pe *providers.Error
	if errors.As(cause, &pe) {
		le.Kind, le.Message = string(pe.Kind), fmt.Sprintf("a refresh sent %s %s: %s", rec.InFlight, what, pe.Message)
	}
	rec.LastError = le
	if err := r.Store.Put(ctx, rec); err != nil {
		return fmt.Errorf("refreshing %s: the request was sent but %s (%w), and recording that failed: %v", rec.Conn, what, cause, err)
	}
	return fmt.Errorf("refreshing %s: %w: the request was sent but %s (%w); the provider may have rotated the refresh token, "+
		"so the login may be lost: the next refresh tries the old one once", rec.Conn, ErrInterruptedRefresh, what, cause)
}

// reconnectReason says why a needs_reconnect record needs a person.
func reconnectReason(rec *state.Record) string {
	if rec.LastError != nil && rec.LastError.Kind == "refresh_interrupted" {
		return rec.LastError.Message
	}
	return "the provider rejected its grant"
}

// saveEmergency handles a state write that failed after the provider
// issued new tokens: they are the only copy, so they go to an emergency
// file, and the error says how to restore them.
func (r *Refresher) saveEmergency(rec *state.Record, writeErr error) error {
	dir := r.EmergencyDir
	if dir == "" {
		dir = filepath.Dir(r.Store.Path())
	}
	path, err := writeEmergency(dir, rec, r.now())
	if err != nil {
		return fmt.Errorf("refreshing %s: the provider issued new tokens but writing them to the state failed: %w; "+
			"saving them to an emergency file failed too (%v): the connection may need a new grant (oauthform apply)", rec.Conn, writeErr, err)
	}
	return fmt.Errorf("refreshing %s: the provider issued new tokens but writing them to the state failed: %w. "+
		"They were saved to %s (mode 0600); once the state is writable, run `oauthform state restore %s` and then delete the file",
		rec.Conn, writeErr, path, path)
}

// recordFailure writes a failed refresh into the record and returns the
// error to report.
//
// interrupted is the flight of an earlier refresh whose answer never came:
// a rejection of the old refresh token then says so. cf, when set, is the
// custody file that keeps a salvaged refresh token first.
func (r *Refresher) recordFailure(ctx context.Context, rec *state.Record, cause error, interrupted *state.Flight, cf *custodyFile) error {
	le := &state.LastError{Kind: "error", Message: cause.Error(), At: r.now()}
	var pe *providers.Error
	if errors.As(cause, &pe) {
		le.Kind, le.Code, le.Message = string(pe.Kind), pe.Code, pe.Message
	}
	if providers.Transient(cause) {
		r.countTransient(rec, le)
	}
	rec.LastError = le
	salvaged := false
	if pe != nil && !pe.NewRefresh.IsZero() {
		// The provider rotated and its answer was otherwise unusable:
		// the old refresh token is dead, this one is the only live one.
		rec.Refresh, salvaged = pe.NewRefresh, true
		if cf != nil {
			_ = r.keep(ctx, cf, rec)
		}
	}
	reconnect := providers.NeedsReconnect(cause)
	if reconnect {
		rec.Status = state.StatusNeedsReconnect
		if interrupted != nil {
			le.Kind = "refresh_interrupted"
			le.Message = fmt.Sprintf("a refresh was interrupted %s (that process was killed or gave up before the answer); "+
				"the provider had already rotated the token and rejected the old one (%s)", interrupted, pe.Kind)
		}
	}
	if err := r.Store.Put(context.WithoutCancel(ctx), rec); err != nil {
		if salvaged {
			return fmt.Errorf("%w (after: %w)", r.saveEmergency(rec, err), cause)
		}
		return fmt.Errorf("refreshing %s: %w (and recording the failure in the state failed: %v)", rec.Conn, cause, err)
	}
	if salvaged {
		return fmt.Errorf("refreshing %s: %w; the answer carried a new refresh token, which was stored, so the next refresh can succeed", rec.Conn, cause)
	}
	if reconnect {
		why := "the provider rejected its refresh token"
		if interrupted != nil {
			why = le.Message
			return fmt.Errorf("%w: %w: %w", needsPerson(rec.Conn, why), ErrInterruptedRefresh, cause)
		}
		return fmt.Errorf("%w: %w", needsPerson(rec.Conn, why), cause)
	}
	return fmt.Errorf("refreshing %s: %w", rec.Conn, cause)
}

func needsPerson(conn, why string) error {
	return fmt.Errorf("connection %s %w: %s; run `oauthform apply` to authorize it again", conn, ErrNeedsPerson, why)
}

// expiresWithin reports whether rec's access token is missing or expires
// within d of now. A token without expiry never does.
func expiresWithin(rec *state.Record, now time.Time, d time.Duration) bool {
	if rec.Access.IsZero() {
		return true
	}
	if rec.Expiry.IsZero() {
		return false
	}
	return !rec.Expiry.After(now.Add(d))
}

// recover applies to rec the answers of earlier refreshes that the state
// did not keep: a custody file holding the answer to the intent still in
// the record (the state write failed, or the process died between the two
// writes), then emergency files newer than the record. A custody file
// newer than a record that carries no matching intent means the state
// went back in time: with a rotating provider the record's refresh token
// is spent, so the refresh is refused (ErrStateBehind) and the error says
// how to replay the newer tokens. It reports whether rec was replaced.
func (r *Refresher) recover(ctx context.Context, rec *state.Record, rotates bool) (*state.Record, bool, error) {
	recovered := false
	if cust, ok := r.Store.(state.Custodian); ok {
		behind := func(e *CustodyEntry) bool {
			return e != nil && e.Answered() && e.Grant.Equal(rec.Created) && e.Generation > rec.Generation
		}
		// The usual file is as new as the record: its header says so,
		// and its record is not decoded. (Custody files are written under
		// the connection lock, which this refresh holds.)
		e, err := r.journal().readHead(rec.Conn)
		if err == nil && behind(e) {
			e, err = r.journal().Read(rec.Conn)
		}
		if err != nil {
			return nil, false, fmt.Errorf("refreshing %s: %w", rec.Conn, err)
		}
		if behind(e) {
			newer, err := cust.OpenRecord(ctx, rec.Conn, e.Lineage, e.Record)
			switch {
			case errors.Is(err, state.ErrCorrupt) && e.Lineage != "" && errors.Is(err, state.ErrOtherState):
				// Another state's file: not ours to apply.
			case err != nil:
				return nil, false, fmt.Errorf("refreshing %s: reading its custody file %s: %w", rec.Conn, e.Path, err)
			case rec.InFlight != nil && rec.InFlight.Generation == e.Generation || !rotates:
				adopt(rec, newer, e.Generation, e.AnsweredAt)
				if err := r.Store.Put(context.WithoutCancel(ctx), rec); err != nil {
					return nil, false, fmt.Errorf("refreshing %s: applying the answer kept in the custody file %s: %w", rec.Conn, e.Path, err)
				}
				recovered = true
			default:
				return nil, false, fmt.Errorf("refreshing %s: %w: the state's refresh token is generation %d, but generation %d was answered at %s and kept in %s. "+
					"The state was restored from a backup or went back in time, and the provider has already rotated the state's refresh token out: "+
					"presenting it would lose the login. Nothing was sent. Put the newer tokens back with `oauthform state restore %s`",
					rec.Conn, ErrStateBehind, rec.Generation, e.Generation, e.AnsweredAt.Format(time.RFC3339), e.Path, e.Path)
			}
		}
	}
	files, err := emergencyFiles(r.dir(), rec.Conn)
	if err != nil {
		return nil, false, fmt.Errorf("refreshing %s: %w", rec.Conn, err)
	}
	for _, f := range files {
		if !f.tokens.Written.After(rec.Refreshed) || f.tokens.Provider != rec.Provider || f.tokens.ClientID != rec.ClientID {
			continue
		}
		f.tokens.apply(rec)
		if err := r.Store.Put(context.WithoutCancel(ctx), rec); err != nil {
			return nil, false, fmt.Errorf("refreshing %s: applying the emergency file %s: %w", rec.Conn, f.path, err)
		}
		recovered = true
		removeSecretFile(f.path)
	}
	return rec, recovered, nil
}

// adopt puts the tokens of newer (an answer kept outside the state) into
// rec, keeping rec's configuration fields.
func adopt(rec, newer *state.Record, gen uint64, at time.Time) {
	rec.Access, rec.Refresh, rec.TokenType, rec.Expiry = newer.Access, newer.Refresh, newer.TokenType, newer.Expiry
	rec.ExpiryAssumed = newer.ExpiryAssumed
	if newer.GrantedScopes != nil {
		rec.GrantedScopes = newer.GrantedScopes
	}
	rec.Status, rec.LastError, rec.Refreshed = newer.Status, newer.LastError, at
	rec.Generation, rec.InFlight = gen, nil
}

// Flights names the refreshes on the wire, for a signal handler.
type Flights struct {
	mu    sync.Mutex
	conns map[string]int
}

func (f *Flights) begin(conn string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		f.conns = map[string]int{}
	}
	f.conns[conn]++
}

func (f *Flights) end(conn string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns[conn]--; f.conns[conn] <= 0 {
		delete(f.conns, conn)
	}
}

// Names returns the connections whose refresh is on the wire, sorted.
func (f *Flights) Names() []string {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.conns))
	for c := range f.conns {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Recover applies, under conn's lock, an answer the state did not keep
// (a custody or emergency file newer than the record), as Ensure does
// before refreshing; writing commands call it for every connection the
// custody report lists as pending. It reports whether the record changed.
func (r *Refresher) Recover(ctx context.Context, conn string) (bool, error) {
	wait := r.LockWait
	if wait == 0 {
		wait = DefaultLockWait
	}
	release, err := r.Store.LockConn(ctx, conn, wait)
	if err != nil {
		return false, fmt.Errorf("applying the kept tokens of %s: %w", conn, err)
	}
	defer func() { _ = release() }()
	rec, err := r.Store.Get(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("applying the kept tokens of %s: %w", conn, err)
	}
	_, recovered, err := r.recover(ctx, rec, true)
	return recovered, err
}

// idle reports whether rec's refresh token has gone unused for
// r.KeepAlive (plan's ReasonIdle).
func (r *Refresher) idle(rec *state.Record, now time.Time) bool {
	last := rec.Refreshed
	if last.IsZero() {
		last = rec.Created
	}
	return r.KeepAlive > 0 && !rec.Refresh.IsZero() && !last.IsZero() && now.Sub(last) >= r.KeepAlive
}

// ErrBackoff: a refresh was not attempted because the last ones failed
// with transient errors and the next attempt is not due yet.
var ErrBackoff = errors.New("waiting after failed attempts")

// DefaultGiveUpAfter is how long transient refresh failures last before
// a connection is marked failing (Nango's four days).
const DefaultGiveUpAfter = 96 * time.Hour

// backoffStep is the wait after the first transient failure; it doubles
// with each further one, up to backoffMax.
const (
	backoffStep = time.Minute
	backoffMax  = time.Hour
)

// countTransient fills le, a transient failure of rec, with the count of
// failures in a row, since when, and the next attempt's time; and marks
// rec failing once they have lasted GiveUpAfter.
func (r *Refresher) countTransient(rec *state.Record, le *state.LastError) {
	le.Count, le.Since = 1, le.At
	if prev := rec.LastError; prev != nil && prev.Count > 0 {
		le.Count, le.Since = prev.Count+1, prev.Since
	}
	wait := backoffStep
	for i := 1; i < le.Count && wait < backoffMax; i++ {
		wait *= 2
	}
	le.Next = le.At.Add(min(wait, backoffMax))
	giveUp := r.GiveUpAfter
	if giveUp == 0 {
		giveUp = DefaultGiveUpAfter
	}
	if le.At.Sub(le.Since) >= giveUp && rec.Status != state.StatusNeedsReconnect {
		rec.Status = state.StatusFailing
	}
}
