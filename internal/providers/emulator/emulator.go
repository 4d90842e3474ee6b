package emulator

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sentinel errors returned (wrapped) by [New] and [Server.IssueTokens].
var (
	ErrUnknownProvider = errors.New("unknown provider")
	ErrNoClients       = errors.New("no clients registered")
	ErrBadClient       = errors.New("invalid client registration")
	ErrUnknownClient   = errors.New("unknown client")
	ErrInvalidScope    = errors.New("invalid scope")
	ErrBadOptions      = errors.New("invalid options")
)

// Options configures one emulator. Zero durations mean the provider's
// documented (or, where undocumented, the emulator's chosen) default.
type Options struct {
	// Provider is one of [Providers].
	Provider string
	// Clients are the registered apps; there must be at least one.
	Clients []Client
	// AutoApprove makes a valid GET authorize request redirect at once with a
	// code, without showing the consent page.
	AutoApprove bool
	// AccessTTL overrides the lifetime of access tokens.
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens; 0 means they never expire.
	RefreshTTL time.Duration
	// CodeTTL overrides the lifetime of authorization codes (Burner 10m,
	// Buffer v1 30s, the others 60s).
	CodeTTL time.Duration
	// Now is the clock codes and tokens expire against; nil means time.Now.
	Now func() time.Time
	// RotateRefresh overrides whether a refresh returns a new refresh token
	// and invalidates the old one. nil keeps the provider default: rotation
	// for sms77, seven and buffer_v2; none for phoneburner (the seed's sample
	// refresh response has no refresh_token) and oauth2.
	RotateRefresh *bool
	// Logf receives one line per request and per refusal. Secrets (codes,
	// tokens, client secrets) are never passed to it.
	Logf func(format string, args ...any)
	// Seed seeds the random source of [Faults.FailRate], so runs repeat.
	Seed int64
	// Issuer overrides the issuer identifier used by buffer_v2 and oauth2 in
	// metadata and in the iss callback parameter. Empty means http://HOST
	// (https://HOST over TLS), HOST taken from each request.
	Issuer string
	// Scopes restricts the scopes the oauth2 provider accepts. nil accepts
	// any syntactically valid scope (RFC 6749 §3.3). Ignored by the other
	// providers, whose scope lists are documented.
	Scopes []string
	// DeviceCodeTTL overrides the lifetime of device and user codes
	// (oauth2 only; default 10 minutes).
	DeviceCodeTTL time.Duration
	// DeviceInterval overrides the polling interval announced with a
	// device code and enforced with slow_down (oauth2 only; default 5s,
	// RFC 8628 §3.2). It is announced in whole seconds, rounded up.
	DeviceInterval time.Duration
	// StateFile, when set, keeps the grants, codes and tokens in this JSON
	// file (mode 0600; its directory is created 0700 if missing) instead of
	// in memory only, so that emulators in other processes, or other
	// servers of this one, given the same file share them: a token issued
	// by one is accepted and refreshable at the others. Each request that
	// touches them holds an exclusive lock of StateFile+".lock", reloads the
	// file and writes it back atomically when it changed. Stats and faults
	// stay per server. Empty keeps everything in memory.
	StateFile string
}

// Client is one registered app.
type Client struct {
	ID string
	// Secret is the client secret. Empty registers a public client
	// (sms77, seven, buffer_v2 and oauth2 only), which must use PKCE.
	Secret string
	// RedirectURIs are compared with the redirect_uri of a request by exact
	// string match. The oauth2 provider registers a client without any:
	// it can use only the device and client credentials grants.
	RedirectURIs []string
}

// TokenSet is what [Server.IssueTokens] mints.
type TokenSet struct {
	AccessToken  string
	RefreshToken string    // empty when the provider issues none
	ExpiresAt    time.Time // zero when the access token does not expire
}

// Server is the emulator of one provider. It is safe for concurrent use.
type Server struct {
	spec    *spec
	opts    Options
	clients map[string]Client
	routes  map[string]route

	persist *persister // nil unless Options.StateFile is set

	// mu guards the fields below. store is only touched between
	// lockStore and unlockStore, which also take persist's file lock.
	mu      sync.Mutex
	store   store
	stats   Stats
	faults  Faults
	dropAll bool // Drop without FailNext or FailRate: drop every matching request
	rnd     *rand.Rand
	tickets map[string]*ticket
	// devices are the device authorizations by device code, userCodes
	// their device codes by normalized user code, deviceTickets the
	// device consent pages shown (oauth2 only).
	devices       map[string]*deviceAuth
	userCodes     map[string]string
	deviceTickets map[string]*deviceTicket
}

// route is one served path.
type route struct {
	kind    string // endpoint kind: authorize, token, refresh, revoke, check, metadata, device_authorization, verification
	methods []string
	handle  handler
}

// statsPath serves [Server.Stats] as JSON.
const statsPath = "/_emulator/stats"

// Providers lists the provider names [New] accepts.
func Providers() []string {
	names := make([]string, 0, len(specs))
	for _, sp := range specs {
		names = append(names, sp.name)
	}
	return names
}

// New builds the emulator of opts.Provider.
func New(opts Options) (*Server, error) {
	sp := lookupSpec(opts.Provider)
	if sp == nil {
		return nil, fmt.Errorf("emulator: %w %q (known: %s)", ErrUnknownProvider, opts.Provider, strings.Join(Providers(), ", "))
	}
	if len(opts.Clients) == 0 {
		return nil, fmt.Errorf("emulator: %s: %w", sp.name, ErrNoClients)
	}
	if opts.AccessTTL < 0 || opts.RefreshTTL < 0 || opts.CodeTTL < 0 || opts.DeviceCodeTTL < 0 || opts.DeviceInterval < 0 {
		return nil, fmt.Errorf("emulator: %s: %w: negative lifetime", sp.name, ErrBadOptions)
	}
	clients := make(map[string]Client, len(opts.Clients))
	for _, c := range opts.Clients {
		if err := checkClient(sp, c); err != nil {
			return nil, fmt.Errorf("emulator: %s: %w", sp.name, err)
		}
		if _, dup := clients[c.ID]; dup {
			return nil, fmt.Errorf("emulator: %s: %w: client %q registered twice", sp.name, ErrBadClient, c.ID)
		}
		c.RedirectURIs = slices.Clone(c.RedirectURIs)
		clients[c.ID] = c
	}
	seed := uint64(opts.Seed)
	s := &Server{
		spec:    sp,
		opts:    opts,
		clients: clients,
		store:   newStore(),
		rnd:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		tickets: map[string]*ticket{},

		devices:       map[string]*deviceAuth{},
		userCodes:     map[string]string{},
		deviceTickets: map[string]*deviceTicket{},
	}
	s.routes = sp.routes()
	if opts.StateFile != "" {
		p, err := newPersister(opts.StateFile)
		if err != nil {
			return nil, fmt.Errorf("emulator: %s: %w", sp.name, err)
		}
		s.persist = p
		// Load (and check) the file now, so a bad one fails here.
		if err := s.lockStore(); err != nil {
			return nil, fmt.Errorf("emulator: %s: %w", sp.name, err)
		}
		if err := s.unlockStore(); err != nil {
			return nil, fmt.Errorf("emulator: %s: %w", sp.name, err)
		}
	}
	return s, nil
}

// checkClient validates one registration against the provider's rules.
func checkClient(sp *spec, c Client) error {
	if c.ID == "" {
		return fmt.Errorf("%w: empty client ID", ErrBadClient)
	}
	if c.Secret == "" && !sp.publicClients && !sp.secretUnverified {
		return fmt.Errorf("%w: client %q has no secret and %s has no public clients", ErrBadClient, c.ID, sp.name)
	}
	if len(c.RedirectURIs) == 0 && !sp.deviceGrant && !sp.clientCredentials {
		return fmt.Errorf("%w: client %q has no redirect URI", ErrBadClient, c.ID)
	}
	for _, raw := range c.RedirectURIs {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("%w: client %q redirect URI: %w", ErrBadClient, c.ID, err)
		}
		// RFC 6749 §3.1.2: absolute URI without a fragment.
		if u.Scheme == "" || u.Host == "" || u.Fragment != "" {
			return fmt.Errorf("%w: client %q redirect URI %q must be absolute and have no fragment", ErrBadClient, c.ID, raw)
		}
	}
	return nil
}

// Provider returns the provider name the server emulates.
func (s *Server) Provider() string { return s.spec.name }

// Paths maps endpoint kinds ("authorize", "token", "refresh", "revoke",
// "check", "metadata", and for oauth2 "device_authorization" and
// "verification") to the path serving them; kinds the provider lacks are
// absent.
func (s *Server) Paths() map[string]string {
	return maps.Clone(s.spec.paths)
}

// ServeHTTP routes a request to the provider's endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.logf("%s %s %s -> %d", s.spec.name, r.Method, r.URL.Path, sw.status)
	}()
	if r.URL.Path == statsPath {
		s.serveStats(sw, r)
		return
	}
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()
	rt, ok := s.routes[r.URL.Path]
	if !ok {
		s.reject(fmt.Sprintf("no such path %q on the %s emulator", r.URL.Path, s.spec.name))
		writeJSON(sw, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such endpoint"})
		return
	}
	if !slices.Contains(rt.methods, r.Method) {
		s.reject(fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(rt.methods, ", ")))
		sw.Header().Set("Allow", strings.Join(rt.methods, ", "))
		s.spec.writeMethodError(sw, rt.kind)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeFailure(sw, &failure{status: http.StatusBadRequest, code: "invalid_request", desc: "unreadable request body", reason: "unreadable request body: " + err.Error()})
		return
	}
	kind := rt.kind
	if kind == kindToken && grantTypeOf(body) == "refresh_token" {
		kind = kindRefresh
	}
	out, done := s.injectFaults(sw, r, body, kind)
	if done {
		return
	}
	rt.handle(s, out, r, body)
	if hw, ok := out.(interface{ finish() }); ok {
		hw.finish() // a truncWriter, tokenTypeWriter or delayWriter holding the answer back
	}
}

// now reads the configured clock.
func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// logf writes one log line when a logger is configured.
func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf("emulator: "+format, args...)
	}
}

// client finds a registered client.
func (s *Server) client(id string) (Client, bool) {
	c, ok := s.clients[id]
	return c, ok
}

// rotate reports whether refreshes rotate the refresh token.
func (s *Server) rotate() bool {
	if s.opts.RotateRefresh != nil {
		return *s.opts.RotateRefresh
	}
	return s.spec.rotate
}

// issuer is the issuer identifier of buffer_v2 and oauth2 (RFC 8414 §2).
func (s *Server) issuer(r *http.Request) string {
	if s.opts.Issuer != "" {
		return s.opts.Issuer
	}
	return baseURL(r)
}

// baseURL is this server as the request reached it: http://HOST, or
// https://HOST over TLS.
func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// statusWriter records the status for the request log and lets
// [http.ResponseController] reach the underlying writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status.
func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap exposes the wrapped writer (for hijacking).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
