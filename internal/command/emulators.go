package command

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// localEmulators runs, inside this process, the emulators of the providers
// a configuration declares with `emulator = true`: the quickstart needs no
// account and no second terminal. Each emulator listens on 127.0.0.1 on a
// free port for as long as the command runs, auto-approves every grant,
// and keeps its grants and tokens in a file next to the state, so a token
// issued by `apply` can be refreshed by a later `token` process.
type localEmulators struct {
	dir string // where the emulators' state files live
	log hclog.Logger
	now func() time.Time

	mu      sync.Mutex
	running map[string]*runningEmulator
}

type runningEmulator struct {
	srv *http.Server
	url string
}

// emulators returns the command's emulators, creating the set on first use.
// Actions run in parallel, so the first use is guarded.
func (g *globals) emulators(cfg *config.Config) *localEmulators {
	g.emusMu.Lock()
	defer g.emusMu.Unlock()
	if g.emus == nil {
		g.emus = &localEmulators{
			dir:     filepath.Join(filepath.Dir(backend.StatePath(cfg)), "emulators"),
			log:     g.log.Named("emulator"),
			now:     g.now,
			running: map[string]*runningEmulator{},
		}
	}
	return g.emus
}

// url returns the base URL of p's emulator, starting it if needed. Every
// app of cfg using p is registered as a client, with its redirect URI.
func (l *localEmulators) url(p *providers.Profile, cfg *config.Config) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.running[p.Name]; ok {
		return r.url, nil
	}
	// The emulators' files live in the state's folder, which they may be
	// the first to create: it is made as the state makes it, ignored by
	// git.
	if err := state.MakeDir(filepath.Dir(l.dir)); err != nil {
		return "", fmt.Errorf("starting the built-in emulator of %s: %w", p.Name, err)
	}
	srv, err := emulator.New(emulator.Options{
		Provider:    p.Name,
		Clients:     emulatorClients(p.Name, cfg),
		AutoApprove: true,
		// The quickstart's device grants are approved at once by the
		// in-process browser: poll every second, the least announced.
		DeviceInterval: time.Second,
		Now:            l.now,
		StateFile:      filepath.Join(l.dir, p.Name+".json"),
		Logf:           func(format string, args ...any) { l.log.Trace(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return "", fmt.Errorf("starting the built-in emulator of %s: %w", p.Name, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("starting the built-in emulator of %s: %w", p.Name, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.log.Error("emulator stopped", "provider", p.Name, "error", err)
		}
	}()
	r := &runningEmulator{srv: hs, url: "http://" + ln.Addr().String()}
	l.running[p.Name] = r
	l.log.Debug("emulator started", "provider", p.Name, "url", r.url)
	return r.url, nil
}

// emulatorBrowser is the in-process browser of `emulator = true`
// providers: it approves at the emulator's consent page (authorization
// code) and at its verification page (device grant), so the quickstart
// needs nobody at the keyboard.
type emulatorBrowser struct{ emulator.Browser }

// OpenDevice enters the user code at the verification page and approves.
func (b emulatorBrowser) OpenDevice(ctx context.Context, verificationURI string, userCode secret.Secret) error {
	return emulator.ApproveDevice(ctx, b.HTTP, verificationURI, userCode.Reveal(), b.Approve)
}

// close stops every emulator. A nil set is fine.
func (l *localEmulators) close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, r := range l.running {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = r.srv.Shutdown(ctx)
		cancel()
		delete(l.running, name)
	}
}

// emulatorClients registers every app of provider in cfg, merging apps that
// share a client_id.
func emulatorClients(provider string, cfg *config.Config) []emulator.Client {
	byID := map[string]*emulator.Client{}
	for _, app := range cfg.Apps {
		if app.Provider != provider {
			continue
		}
		c, ok := byID[app.ClientID]
		if !ok {
			c = &emulator.Client{ID: app.ClientID, Secret: app.ClientSecret.Reveal()}
			byID[app.ClientID] = c
		}
		// An app of device or client credentials connections only has
		// no redirect_uri: the emulator registers it without one.
		if app.RedirectURI != "" && !slices.Contains(c.RedirectURIs, app.RedirectURI) {
			c.RedirectURIs = append(c.RedirectURIs, app.RedirectURI)
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]emulator.Client, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	return out
}
