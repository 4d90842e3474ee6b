// Command gen writes the configurations, states and emulators that
// bench/run measures oauthform (and Terraform) with. It is part of the
// benchmark suite, not of oauthform.
//
//	gen local -dir D -n N [-seed] [-pg SCHEMA]
//	    N connections across burner, sms77, buffer and phoneburner whose
//	    provider blocks say `emulator = true`. With -seed, a state in which
//	    every connection holds emulator-issued tokens and is up to date
//	    (plan shows no changes). The tokens of the two connections named by
//	    `gen names` are issued by an emulator whose state file is the one
//	    oauthform's in-process sms77 emulator reads, so `token` can refresh
//	    them. With -pg, the configuration keeps its state in PostgreSQL
//	    (backend "pg", conn_str = env("OAUTHFORM_PG"), that schema) and the
//	    state is seeded there (backend.Open), OAUTHFORM_PG naming the
//	    database.
//
//	gen serve -dir D -n N -latency 50ms -access-ttl 5m -ready FILE [-pg SCHEMA]
//	    Runs the sms77 and phoneburner emulators on free 127.0.0.1 ports in
//	    this process, writes a configuration of N connections (half each)
//	    whose provider blocks point at them, seeds a state whose tokens they
//	    issued, writes FILE and serves until SIGTERM or SIGINT. -pg is as
//	    for `gen local`: the state is kept, and seeded, in that schema of
//	    OAUTHFORM_PG's database, which must hold no connections yet. The access
//	    TTL is shorter than the connections' refresh_before (10m), so every
//	    `apply` refreshes all N connections, run after run. SIGUSR1 turns the
//	    latency off, SIGUSR2 back on; SIGHUP (and every signal) writes the
//	    emulators' counters to D/.bench-stats.json.
//
//	gen terraform -dir D -n N
//	    N terraform_data resources and the state an apply would leave (plan
//	    shows no changes): Terraform's own apply of 1,000 of them takes tens
//	    of seconds and grows faster than N.
//
//	gen names
//	    Prints the connection bench/run calls `token` on: the fresh one,
//	    then the one it forces to refresh.
//
// `oauthform emulate` keeps its grants in memory, so a state of N
// connections holding tokens it knows could only be made by N browser
// grants, one at a time; this process plays the same emulators
// (internal/providers/emulator, with Faults.Latency as `emulate -latency`)
// and mints the tokens directly.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// perFile is how many connections go in one .oauth.hcl file.
const perFile = 1000

// redirectURI is every app's registered redirect URI.
const redirectURI = "http://127.0.0.1:18765/callback"

// refreshBefore is every connection's refresh_before.
const refreshBefore = 10 * time.Minute

// prov is one seed provider as the benchmark declares it.
type prov struct {
	name   string
	scopes []string // requested by each connection; nil: the provider has none
}

var (
	burner      = prov{"burner", []string{"burners:read", "contacts:read"}}
	sms77       = prov{"sms77", []string{"sms", "analytics"}}
	buffer      = prov{"buffer", nil}
	phoneburner = prov{"phoneburner", nil}

	localProvs = []prov{burner, sms77, buffer, phoneburner}
	// serveProvs have refresh tokens (burner and buffer have none).
	serveProvs = []prov{sms77, phoneburner}
)

func (p prov) clientID() string { return "bench-" + p.name }
func (p prov) secret() string   { return "bench-" + p.name + "-secret" }

// connName names the i-th (0-based) connection of provider p.
func connName(p prov, i int) string { return fmt.Sprintf("%s_%05d", p.name, i) }

// tokenConns are the connections bench/run calls `token` on: fresh, then
// forced to refresh (-min-valid above sms77's one-hour access tokens).
var tokenConns = []string{connName(sms77, 1), connName(sms77, 2)}

func main() {
	if len(os.Args) < 2 {
		fatalf("usage: gen local|serve|terraform|names [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "", "output directory")
	n := fs.Int("n", 100, "number of connections (resources)")
	seed := fs.Bool("seed", false, "local: also seed a full, up-to-date state")
	latency := fs.Duration("latency", 50*time.Millisecond, "serve: delay of token and refresh answers")
	accessTTL := fs.Duration("access-ttl", 5*time.Minute, "serve: access token lifetime")
	ready := fs.String("ready", "", "serve: file written once serving")
	pgSchema := fs.String("pg", "", "local, serve: keep the state in this PostgreSQL schema (OAUTHFORM_PG names the database)")
	_ = fs.Parse(os.Args[2:])
	if os.Args[1] != "names" && (*dir == "" || *n < 1) {
		fatalf("%s: -dir and a positive -n are required", os.Args[1])
	}
	var err error
	switch os.Args[1] {
	case "local":
		err = runLocal(*dir, *n, *seed, *pgSchema)
	case "serve":
		err = runServe(*dir, *n, *latency, *accessTTL, *ready, *pgSchema)
	case "terraform":
		err = runTerraform(*dir, *n)
	case "names":
		fmt.Println(strings.Join(tokenConns, " "))
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fatalf("gen %s: %v", os.Args[1], err)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

// conn is one generated connection.
type conn struct {
	name string
	p    prov
}

// spread returns n connections, round-robin over provs, numbered per
// provider.
func spread(n int, provs []prov) []conn {
	out := make([]conn, n)
	for i := range out {
		p := provs[i%len(provs)]
		out[i] = conn{connName(p, i/len(provs)), p}
	}
	return out
}

// writeConfig writes main.oauth.hcl (providerBlocks, then one app per
// provider) and the connections, perFile to a file.
func writeConfig(dir string, provs []prov, providerBlocks string, conns []conn) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Generated by bench/gen: do not edit.\n\n")
	b.WriteString(providerBlocks)
	for _, p := range provs {
		fmt.Fprintf(&b, "app %q {\n  provider      = %q\n  client_id     = %q\n  client_secret = %q\n  redirect_uri  = %q\n}\n\n",
			p.name, p.name, p.clientID(), p.secret(), redirectURI)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	for f := 0; f*perFile < len(conns); f++ {
		b.Reset()
		for _, c := range conns[f*perFile : min(len(conns), (f+1)*perFile)] {
			fmt.Fprintf(&b, "connection %q {\n  app            = app.%s\n", c.name, c.p.name)
			if c.p.scopes != nil {
				fmt.Fprintf(&b, "  scopes         = [%s]\n", quoteList(c.p.scopes))
			}
			fmt.Fprintf(&b, "  refresh_before = %q\n}\n\n", "10m")
		}
		name := filepath.Join(dir, fmt.Sprintf("connections_%03d.oauth.hcl", f))
		if err := os.WriteFile(name, []byte(b.String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// newEmulator builds the emulator of p with the benchmark's app registered.
func newEmulator(p prov, accessTTL time.Duration, stateFile string) (*emulator.Server, error) {
	return emulator.New(emulator.Options{
		Provider:    p.name,
		Clients:     []emulator.Client{{ID: p.clientID(), Secret: p.secret(), RedirectURIs: []string{redirectURI}}},
		AutoApprove: true,
		AccessTTL:   accessTTL,
		StateFile:   stateFile,
	})
}

// seedState writes one record per connection into the local state of dir
// (or, with pgSchema, into that schema of OAUTHFORM_PG's database), with
// tokens issued by the emulator issuer(c) returns, as apply would have
// written them.
func seedState(dir, pgSchema string, conns []conn, issuer func(conn) *emulator.Server) error {
	ctx := context.Background()
	var st state.Store
	if pgSchema != "" {
		pst, err := backend.Open(ctx, backend.Settings{PG: &backend.PG{ConnStr: secret.New(os.Getenv("OAUTHFORM_PG")), Schema: pgSchema},
			Options: state.Options{Create: true}, ExactPassphrase: true})
		if err != nil {
			return err
		}
		if snap, err := pst.Snapshot(ctx); err != nil || len(snap.Records) > 0 {
			pst.Close()
			return fmt.Errorf("the PostgreSQL schema %s must be empty (%v)", pgSchema, err)
		}
		st = pst
	} else {
		path := filepath.Join(dir, ".oauthform", "state.db")
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		bst, err := backend.Open(ctx, backend.Settings{Path: path, Options: state.Options{Create: true}, ExactPassphrase: true})
		if err != nil {
			return err
		}
		st = bst
	}
	defer st.Close()
	lineage, err := st.Init(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Lock(ctx, "bench seed"); err != nil {
		return err
	}
	defer func() { _ = st.Unlock(ctx) }()
	// One import, one transaction: a Put per record would be a synced
	// write each (minutes at 100,000).
	importer, ok := st.(state.Importer)
	if !ok {
		return fmt.Errorf("the state store %T cannot import", st)
	}
	snap := &state.Snapshot{Lineage: lineage, Records: make(map[string]*state.Record, len(conns))}
	now := time.Now()
	for _, c := range conns {
		ts, err := issuer(c).IssueTokens(c.p.clientID(), c.p.scopes)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		snap.Records[c.name] = &state.Record{
			Conn: c.name, Provider: c.p.name, ClientID: c.p.clientID(),
			ClientSecretHash: state.HashSecret(lineage, secret.New(c.p.secret())),
			RedirectURI:      redirectURI, Scopes: c.p.scopes, GrantedScopes: c.p.scopes,
			RefreshBefore: refreshBefore,
			Access:        secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken),
			TokenType: "Bearer", Expiry: ts.ExpiresAt, Status: state.StatusActive,
			Created: now, Refreshed: now,
		}
	}
	return importer.Import(ctx, snap)
}

// pgBlock is the oauthform block keeping the state in pgSchema of
// OAUTHFORM_PG's database; empty without a schema (the local state).
func pgBlock(pgSchema string) string {
	if pgSchema == "" {
		return ""
	}
	return fmt.Sprintf("oauthform {\n  backend \"pg\" {\n    conn_str    = env(\"OAUTHFORM_PG\")\n    schema_name = %q\n  }\n}\n\n", pgSchema)
}

// runLocal: the `emulator = true` flavour.
func runLocal(dir string, n int, seed bool, pgSchema string) error {
	var blocks strings.Builder
	blocks.WriteString(pgBlock(pgSchema))
	for _, p := range localProvs {
		fmt.Fprintf(&blocks, "provider %q {\n  emulator = true\n}\n\n", p.name)
	}
	conns := spread(n, localProvs)
	if err := writeConfig(dir, localProvs, blocks.String(), conns); err != nil {
		return err
	}
	if !seed {
		return nil
	}
	mem := map[string]*emulator.Server{}
	for _, p := range localProvs {
		s, err := newEmulator(p, 0, "")
		if err != nil {
			return err
		}
		mem[p.name] = s
	}
	// The in-process emulator of `emulator = true` keeps its grants in
	// .oauthform/emulators/<provider>.json (internal/command/emulators.go).
	emuDir := filepath.Join(dir, ".oauthform", "emulators")
	if err := os.RemoveAll(emuDir); err != nil {
		return err
	}
	persistent, err := newEmulator(sms77, 0, filepath.Join(emuDir, "sms77.json"))
	if err != nil {
		return err
	}
	start := time.Now()
	err = seedState(dir, pgSchema, conns, func(c conn) *emulator.Server {
		for _, t := range tokenConns {
			if c.name == t {
				return persistent
			}
		}
		return mem[c.p.name]
	})
	fmt.Fprintf(os.Stderr, "seeded %d records in %s\n", n, time.Since(start).Round(time.Millisecond))
	return err
}

// runServe: the flavour with emulators in another process, for apply.
func runServe(dir string, n int, latency, accessTTL time.Duration, ready, pgSchema string) error {
	if accessTTL >= refreshBefore {
		return fmt.Errorf("-access-ttl %s must be below refresh_before %s, or apply would not refresh", accessTTL, refreshBefore)
	}
	emus := map[string]*emulator.Server{}
	var blocks strings.Builder
	blocks.WriteString(pgBlock(pgSchema))
	var servers []*http.Server
	for _, p := range serveProvs {
		s, err := newEmulator(p, accessTTL, "")
		if err != nil {
			return err
		}
		s.SetFaults(emulator.Faults{Latency: latency})
		emus[p.name] = s
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, hs)
		go func() { _ = hs.Serve(ln) }()
		b, ok := providers.Builtin(p.name)
		if !ok {
			return fmt.Errorf("no built-in profile %q", p.name)
		}
		rp, err := b.Rebase("http://" + ln.Addr().String())
		if err != nil {
			return err
		}
		fmt.Fprintf(&blocks, "provider %q {\n", p.name)
		for _, kv := range [][2]string{{"authorize_url", rp.AuthorizeURL}, {"token_url", rp.TokenURL},
			{"refresh_url", rp.RefreshURL}, {"revoke_url", rp.RevokeURL}, {"check_url", rp.CheckURL}} {
			if kv[1] != "" {
				fmt.Fprintf(&blocks, "  %-13s = %q\n", kv[0], kv[1])
			}
		}
		blocks.WriteString("}\n\n")
	}
	conns := spread(n, serveProvs)
	if err := writeConfig(dir, serveProvs, blocks.String(), conns); err != nil {
		return err
	}
	start := time.Now()
	if err := seedState(dir, pgSchema, conns, func(c conn) *emulator.Server { return emus[c.p.name] }); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded %d records in %s\n", n, time.Since(start).Round(time.Millisecond))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGTERM, os.Interrupt}, controlSignals...)...)
	if ready != "" {
		if err := os.WriteFile(ready, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
			return err
		}
	}
	for sig := range sigs {
		switch control(sig) {
		case "latency-off":
			for _, s := range emus {
				s.SetFaults(emulator.Faults{})
			}
		case "latency-on":
			for _, s := range emus {
				s.SetFaults(emulator.Faults{Latency: latency})
			}
		}
		stats := map[string]emulator.Stats{}
		for name, s := range emus {
			stats[name] = s.Stats()
		}
		data, _ := json.MarshalIndent(stats, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, ".bench-stats.json"), append(data, '\n'), 0o644); err != nil {
			return err
		}
		if sig == syscall.SIGTERM || sig == os.Interrupt {
			break
		}
	}
	for _, hs := range servers {
		_ = hs.Close()
	}
	return nil
}

// runTerraform writes n terraform_data resources and their applied state.
func runTerraform(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var tf strings.Builder
	type value struct {
		Value string `json:"value"`
		Type  string `json:"type"`
	}
	type instance struct {
		SchemaVersion       int            `json:"schema_version"`
		Attributes          map[string]any `json:"attributes"`
		SensitiveAttributes []any          `json:"sensitive_attributes"`
	}
	type resource struct {
		Mode      string     `json:"mode"`
		Type      string     `json:"type"`
		Name      string     `json:"name"`
		Provider  string     `json:"provider"`
		Instances []instance `json:"instances"`
	}
	resources := make([]resource, 0, n)
	for i := range n {
		name, input := fmt.Sprintf("r%05d", i), fmt.Sprintf("connection-%05d", i)
		fmt.Fprintf(&tf, "resource \"terraform_data\" %q {\n  input = %q\n}\n\n", name, input)
		v := value{input, "string"}
		resources = append(resources, resource{
			Mode: "managed", Type: "terraform_data", Name: name,
			Provider: `provider["terraform.io/builtin/terraform"]`,
			Instances: []instance{{Attributes: map[string]any{
				"id": uuid(), "input": v, "output": v, "triggers_replace": nil,
			}, SensitiveAttributes: []any{}}},
		})
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tf.String()), 0o644); err != nil {
		return err
	}
	st := map[string]any{
		"version": 4, "terraform_version": "1.5.0", "serial": n, "lineage": uuid(),
		"outputs": map[string]any{}, "resources": resources, "check_results": nil,
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "terraform.tfstate"), append(data, '\n'), 0o644)
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
