package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/keys"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
)

// Script tests run the oauthform binary against emulators served from the
// test process on 127.0.0.1. Time passes without sleeping: `clock advance`
// moves the emulators' clock and, through OAUTHFORM_TEST_CLOCK, the clock of
// every oauthform process started afterwards.

// clockEnv carries the offset (a Go duration) the test binary's oauthform
// adds to the system clock. Only the script-test wrapper reads it.
const clockEnv = "OAUTHFORM_TEST_CLOCK"

// terminalEnv, set to 1, makes the script-test oauthform treat its
// standard input as a terminal, so a script can answer the confirmation
// prompt from a file.
const terminalEnv = "OAUTHFORM_TEST_TERMINAL"

// scriptOAuthform is the oauthform command inside script tests.
func scriptOAuthform() {
	now := time.Now
	if off := os.Getenv(clockEnv); off != "" {
		d, err := time.ParseDuration(off)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad %s: %v\n", clockEnv, err)
			os.Exit(3)
		}
		now = func() time.Time { return time.Now().Add(d) }
	}
	s := stdStreams()
	if os.Getenv(terminalEnv) == "1" {
		s.InTerminal = true
	}
	m := meta(now)
	if dir := os.Getenv(keyringEnv); dir != "" {
		m.Keyring = dirKeyring(dir)
	}
	os.Exit(runWithSignalsMeta(os.Args[1:], s, m))
}

// keyringEnv names a folder that stands for the OS keyring in the script
// tests (there is no Secret Service on a CI runner): one file per service.
const keyringEnv = "OAUTHFORM_TEST_KEYRING"

// dirKeyring is a keys.Keyring in a folder, for the script tests.
type dirKeyring string

func (d dirKeyring) file(service, user string) string {
	return filepath.Join(string(d), service+"@"+user)
}

func (d dirKeyring) Get(service, user string) (string, error) {
	b, err := os.ReadFile(d.file(service, user))
	if errors.Is(err, fs.ErrNotExist) {
		return "", keys.ErrKeyringNotFound
	}
	return string(b), err
}

func (d dirKeyring) Set(service, user, password string) error {
	return os.WriteFile(d.file(service, user), []byte(password), 0o600)
}

// scriptEnv is one script's emulators and clock.
type scriptEnv struct {
	offset atomic.Int64 // nanoseconds added to the emulators' clock
	mu     sync.Mutex
	emus   map[string]*scriptEmulator
}

type scriptEmulator struct {
	provider string
	srv      *emulator.Server
	base     string
}

var (
	scriptEnvsMu sync.Mutex
	scriptEnvs   = map[*testscript.TestScript]*scriptEnv{}
)

func envOf(ts *testscript.TestScript) *scriptEnv {
	scriptEnvsMu.Lock()
	defer scriptEnvsMu.Unlock()
	e, ok := scriptEnvs[ts]
	if !ok {
		e = &scriptEnv{emus: map[string]*scriptEmulator{}}
		scriptEnvs[ts] = e
		ts.Defer(func() {
			scriptEnvsMu.Lock()
			delete(scriptEnvs, ts)
			scriptEnvsMu.Unlock()
		})
	}
	return e
}

func (e *scriptEnv) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

// cmdClock: clock advance DURATION — let time pass for the emulators and
// for every oauthform started afterwards.
func cmdClock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || args[0] != "advance" {
		ts.Fatalf("usage: clock advance DURATION")
	}
	d, err := time.ParseDuration(args[1])
	ts.Check(err)
	e := envOf(ts)
	total := time.Duration(e.offset.Add(int64(d)))
	ts.Setenv(clockEnv, total.String())
}

// cmdEmulator drives emulators:
//
//	emulator start PROVIDER [-access-ttl D] [-rotate=BOOL] [-issuer-only] [-device-interval D] -client ID,SECRET[,REDIRECT]...
//	    serve PROVIDER's emulator and write emulator_PROVIDER.oauth.hcl, the
//	    provider block pointing at it
//	emulator stats PROVIDER           print its counters as JSON
//	emulator fault PROVIDER invalid_grant|omit_expiry|clear
//	emulator api PROVIDER TOKENFILE   call its API with the token in TOKENFILE
//	emulator revoke PROVIDER          revoke every grant, as a person does in
//	    the provider's settings (no request from oauthform involved)
//	emulator disconnect-burners burner  disconnect every connected burner
//	emulator issue PROVIDER [-secrets FILE] CLIENT_ID [SCOPE...]
//	    issue a grant outside oauthform and print it as the token
//	    endpoint would answer (for import); -secrets also writes both
//	    tokens to FILE, one per line, for secretscan
func cmdEmulator(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: emulator start|stats|fault|api PROVIDER ...")
	}
	e := envOf(ts)
	verb, provider := args[0], args[1]
	if verb == "start" {
		if neg {
			ts.Fatalf("unsupported: ! emulator start")
		}
		e.start(ts, provider, args[2:])
		return
	}
	e.mu.Lock()
	em, ok := e.emus[provider]
	e.mu.Unlock()
	if !ok {
		ts.Fatalf("no emulator of %s started", provider)
	}
	switch verb {
	case "stats":
		b, err := json.MarshalIndent(em.srv.Stats(), "", "  ")
		ts.Check(err)
		fmt.Fprintf(ts.Stdout(), "%s\n", b)
	case "fault":
		if len(args) != 3 && !(len(args) == 4 && args[2] == "fail503") {
			ts.Fatalf("usage: emulator fault PROVIDER invalid_grant|omit_expiry|fail503 [N]|clear")
		}
		switch args[2] {
		case "invalid_grant":
			em.srv.SetFaults(emulator.Faults{InvalidGrant: true})
		case "omit_expiry":
			em.srv.SetFaults(emulator.Faults{OmitExpiry: true})
		case "fail503":
			// fail503 N: the next N requests answer 503.
			n := 1
			if len(args) == 4 {
				var err error
				n, err = strconv.Atoi(args[3])
				ts.Check(err)
			}
			em.srv.SetFaults(emulator.Faults{FailNext: n, FailStatus: http.StatusServiceUnavailable})
		case "clear":
			em.srv.SetFaults(emulator.Faults{})
		default:
			ts.Fatalf("unknown fault %q", args[2])
		}
	case "issue":
		emulatorIssue(ts, em, args[2:])
	case "revoke":
		n, err := em.srv.RevokeGrants()
		ts.Check(err)
		fmt.Fprintf(ts.Stdout(), "revoked %d grants\n", n)
	case "disconnect-burners":
		n, err := em.srv.DisconnectBurners()
		ts.Check(err)
		fmt.Fprintf(ts.Stdout(), "disconnected the burners of %d grants\n", n)
	case "api":
		if len(args) != 3 {
			ts.Fatalf("usage: emulator api PROVIDER TOKENFILE")
		}
		tok := strings.TrimSpace(ts.ReadFile(args[2]))
		err := em.check(tok)
		if neg {
			if err == nil {
				ts.Fatalf("the %s API accepted the token", provider)
			}
			fmt.Fprintf(ts.Stdout(), "rejected: %v\n", err)
			return
		}
		if err != nil {
			ts.Fatalf("the %s API refused the token: %v", provider, err)
		}
		fmt.Fprintf(ts.Stdout(), "%s API accepted the token\n", provider)
	default:
		ts.Fatalf("unknown emulator verb %q", verb)
	}
}

// repeatedFlag collects a repeatable flag of the script commands.
type repeatedFlag []string

func (c *repeatedFlag) String() string     { return strings.Join(*c, " ") }
func (c *repeatedFlag) Set(v string) error { *c = append(*c, v); return nil }

func (e *scriptEnv) start(ts *testscript.TestScript, provider string, args []string) {
	fs := flag.NewFlagSet("emulator start", flag.ContinueOnError)
	var clients repeatedFlag
	accessTTL := fs.Duration("access-ttl", 0, "")
	rotate := fs.String("rotate", "", "")
	issuerOnly := fs.Bool("issuer-only", false, "declare the provider by its issuer alone (discovery)")
	fs.Var(&clients, "client", "ID,SECRET,REDIRECT")
	ts.Check(fs.Parse(args))
	deviceInterval := fs.Duration("device-interval", time.Second, "the polling interval announced with device codes")
	opts := emulator.Options{Provider: provider, AccessTTL: *accessTTL, Now: e.now}
	if *rotate != "" {
		r := *rotate == "true"
		opts.RotateRefresh = &r
	}
	for _, c := range clients {
		// ID,SECRET registers a client without redirect URIs (oauth2:
		// device and client credentials grants only).
		parts := strings.SplitN(c, ",", 3)
		if len(parts) < 2 {
			ts.Fatalf("-client wants ID,SECRET[,REDIRECT], got %q", c)
		}
		ec := emulator.Client{ID: parts[0], Secret: parts[1]}
		if len(parts) == 3 {
			ec.RedirectURIs = []string{parts[2]}
		}
		opts.Clients = append(opts.Clients, ec)
	}
	if provider == "oauth2" {
		opts.DeviceInterval = *deviceInterval
	}
	srv, err := emulator.New(opts)
	ts.Check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	ts.Defer(func() { _ = hs.Close() })
	base := "http://" + ln.Addr().String()
	block, err := views.ProviderBlock(provider, srv.Paths(), base)
	if *issuerOnly {
		block = fmt.Appendf(nil, "provider %q {\n  issuer = %q\n}\n", provider, base)
	}
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs("emulator_"+provider+".oauth.hcl"), block, 0o644))
	e.mu.Lock()
	e.emus[provider] = &scriptEmulator{provider: provider, srv: srv, base: base}
	e.mu.Unlock()
}

// check calls the emulator's API (its check endpoint) with tok, the way
// the provider's own API would be called.
func (em *scriptEmulator) check(tok string) error {
	p, ok := providers.Builtin(em.provider)
	if !ok {
		return fmt.Errorf("no built-in profile %q", em.provider)
	}
	rp, err := p.Rebase(em.base)
	if err != nil {
		return err
	}
	if rp.CheckURL == "" {
		// The generic provider has no endpoints of its own: the
		// emulator's userinfo is its API.
		rp.CheckURL = em.base + em.srv.Paths()["check"]
	}
	c := &providers.Client{Profile: rp, ClientID: "api-check"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Check(ctx, secret.New(tok))
	return err
}

// testBrowser is the browser of script tests (OAUTHFORM_BROWSER=testbrowser):
// it opens the authorization URL, submits the emulator's consent form as a
// person would, follows the redirect to oauthform's callback, and writes
// the page oauthform answered into $TESTBROWSER_LOG (status line first).
//
// A device grant's verification_uri_complete (a user_code in its query)
// is approved, or denied, at the emulator's verification page instead.
//
// TESTBROWSER_MODE: approve (default), deny, wrongstate (first deliver a
// callback carrying a forged state, logged too, then the real one), or
// ignore (log that the page was opened and never answer).
func testBrowser() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testbrowser URL")
		os.Exit(2)
	}
	authURL := os.Args[len(os.Args)-1]
	mode := os.Getenv("TESTBROWSER_MODE")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var log strings.Builder
	if mode == "ignore" {
		// A person who has not answered yet.
		writeBrowserLog("opened, not answering\n")
		return
	}
	if u, err := url.Parse(authURL); err == nil && u.Query().Get("user_code") != "" {
		// A device grant's verification_uri_complete: the person enters
		// nothing, and approves (or denies) on the page. The user code
		// goes to TESTBROWSER_SECRETS, for the redaction checks.
		if f := os.Getenv("TESTBROWSER_SECRETS"); f != "" {
			if fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
				code := u.Query().Get("user_code")
				fmt.Fprintf(fh, "%s\n%s\n", code, strings.ReplaceAll(code, "-", ""))
				_ = fh.Close()
			}
		}
		if err := emulator.ApproveDevice(ctx, nil, authURL, u.Query().Get("user_code"), mode != "deny"); err != nil {
			writeBrowserLog(fmt.Sprintf("device verification failed: %v\n", err))
			os.Exit(1)
		}
		writeBrowserLog(fmt.Sprintf("device verification: approve=%v\n", mode != "deny"))
		return
	}
	cb, err := emulator.Consent(ctx, nil, authURL, mode != "deny")
	if err != nil {
		fmt.Fprintf(&log, "consent failed: %v\n", err)
		writeBrowserLog(log.String())
		os.Exit(1)
	}
	if f := os.Getenv("TESTBROWSER_SECRETS"); f != "" {
		// The code the provider handed the browser, for the redaction test.
		if code := cb.Query().Get("code"); code != "" {
			if fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
				fmt.Fprintln(fh, code)
				_ = fh.Close()
			}
		}
	}
	if mode == "wrongstate" {
		forged := *cb
		q := forged.Query()
		q.Set("state", "forged-state-value")
		forged.RawQuery = q.Encode()
		visit(ctx, &log, forged.String())
	}
	visit(ctx, &log, cb.String())
	writeBrowserLog(log.String())
}

func visit(ctx context.Context, log io.Writer, u string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err == nil {
		var resp *http.Response
		if resp, err = http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			fmt.Fprintf(log, "status: %d\n%s\n", resp.StatusCode, body)
			return
		}
	}
	fmt.Fprintf(log, "visit failed: %v\n", err)
}

// writeBrowserLog writes the log atomically, so a script's waitfile sees
// it whole.
func writeBrowserLog(s string) {
	path := os.Getenv("TESTBROWSER_LOG")
	if path == "" {
		fmt.Print(s)
		return
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err == nil {
		_ = os.Rename(tmp, path)
	}
}

// cmdPaste: paste [-deny] oauthform ARGS... — run oauthform with a pipe as
// standard input, and play the person of a non-loopback redirect: read the
// authorization URL it prints, approve at the emulator's consent page,
// and paste the URL the browser landed on. Its output becomes the
// command's stdout and stderr.
func cmdPaste(ts *testscript.TestScript, neg bool, args []string) {
	approve := true
	if len(args) > 0 && args[0] == "-deny" {
		approve, args = false, args[1:]
	}
	if len(args) == 0 {
		ts.Fatalf("usage: paste [-deny] PROGRAM ARGS...")
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		// exec.LookPath uses the test process's PATH; the script's differs.
		for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
			if p := filepath.Join(dir, args[0]); fileExists(p) {
				path, err = p, nil
				break
			}
		}
	}
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnviron(ts)
	stdin, err := cmd.StdinPipe()
	ts.Check(err)
	stdoutPipe, err := cmd.StdoutPipe()
	ts.Check(err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	ts.Check(cmd.Start())
	var out strings.Builder
	sc := bufio.NewScanner(stdoutPipe)
	wantURL := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if strings.HasPrefix(line, "Open this URL to authorize") {
			wantURL = true
			continue
		}
		if wantURL && strings.HasPrefix(line, "http") {
			wantURL = false
			landed, err := emulator.Consent(ctx, nil, line, approve)
			if err != nil {
				ts.Logf("consent: %v", err)
				_ = stdin.Close()
				continue
			}
			fmt.Fprintln(stdin, landed.String())
		}
	}
	err = cmd.Wait()
	_ = stdin.Close()
	fmt.Fprint(ts.Stdout(), out.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	if neg != (err != nil) {
		ts.Fatalf("paste %s: unexpected result: %v", strings.Join(args, " "), err)
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// scriptEnviron rebuilds the environment a script's exec would get.
func scriptEnviron(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "NO_COLOR", "OAUTHFORM_LOG", "GORACE", clockEnv,
		"OAUTHFORM_BROWSER", "BROWSER", "TESTBROWSER_LOG", "TESTBROWSER_MODE", terminalEnv, "GOCOVERDIR"} {
		if v := ts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// cmdFreePort: freeport VAR — set VAR to a TCP port free on 127.0.0.1, for
// a loopback redirect_uri.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	// A port below the ephemeral ranges (Linux 32768+, macOS and Windows
	// 49152+), which the kernel never hands out for ":0" or an outgoing
	// connection: another process cannot take it between here and the
	// grant's listen unless it asks for it by number.
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ts.Check(ln.Close())
		ts.Setenv(args[0], strconv.Itoa(port))
		return
	}
	ts.Fatalf("no free port between 20000 and 32000")
}

// cmdSecretScan: secretscan -secrets FILE[,FILE...] [-literal S]... OUTPUT...
// — fail if any secret (each non-empty line of the secret files, and each
// literal) appears in any OUTPUT file. An OUTPUT that is a directory
// stands for every file under it, read as raw bytes (a bbolt state, its
// backup, lock files).
func cmdSecretScan(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("secretscan", flag.ContinueOnError)
	var literals repeatedFlag
	secretFiles := fs.String("secrets", "", "")
	fs.Var(&literals, "literal", "")
	ts.Check(fs.Parse(args))
	secrets := append([]string(nil), literals...)
	for _, f := range strings.Split(*secretFiles, ",") {
		if f == "" {
			continue
		}
		for _, line := range strings.Split(ts.ReadFile(f), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				secrets = append(secrets, line)
			}
		}
	}
	if len(secrets) == 0 || fs.NArg() == 0 {
		ts.Fatalf("usage: secretscan -secrets FILES [-literal S]... OUTPUT...")
	}
	var outs []string
	for _, out := range fs.Args() {
		root := ts.MkAbs(out)
		if st, err := os.Stat(root); err != nil || !st.IsDir() {
			outs = append(outs, out)
			continue
		}
		ts.Check(filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				outs = append(outs, p)
			}
			return err
		}))
	}
	leaks := 0
	for _, out := range outs {
		text := ts.ReadFile(out)
		for _, sec := range secrets {
			if strings.Contains(text, sec) {
				leaks++
				ts.Logf("%s contains a secret (%d characters)", out, len(sec))
			}
		}
	}
	if neg != (leaks > 0) {
		ts.Fatalf("%d secret(s) found in the outputs", leaks)
	}
	fmt.Fprintf(ts.Stdout(), "%d secrets checked in %d outputs\n", len(secrets), len(outs))
}

// emulatorIssue is `emulator issue`: a grant obtained outside oauthform.
func emulatorIssue(ts *testscript.TestScript, em *scriptEmulator, args []string) {
	fs := flag.NewFlagSet("emulator issue", flag.ContinueOnError)
	secrets := fs.String("secrets", "", "")
	ts.Check(fs.Parse(args))
	if fs.NArg() < 1 {
		ts.Fatalf("usage: emulator issue PROVIDER [-secrets FILE] CLIENT_ID [SCOPE...]")
	}
	set, err := em.srv.IssueTokens(fs.Arg(0), fs.Args()[1:])
	ts.Check(err)
	b, err := json.Marshal(map[string]any{
		"access_token": set.AccessToken, "refresh_token": set.RefreshToken, "token_type": "bearer", "expires_in": 3600,
	})
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n", b)
	if *secrets != "" {
		ts.Check(os.WriteFile(ts.MkAbs(*secrets), []byte(set.AccessToken+"\n"+set.RefreshToken+"\n"), 0o600))
	}
}
