package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	statebolt "github.com/oauthform/oauthform/internal/state/bolt"
	"github.com/oauthform/oauthform/internal/state/pg"
	"github.com/oauthform/oauthform/internal/state/pgtest"
)

// Tests of the pg backend: the CLI against a real PostgreSQL server
// (pgtest.Start: a throwaway local server, or OAUTHFORM_TEST_PG), with
// the providers served by emulators in the test process, so that every
// working directory and process sees the same provider.

// pgEnv is a provider emulator shared by the working directories of a
// test, and the database they share.
type pgEnv struct {
	t        *testing.T
	connStr  string
	emu      *emulator.Server
	profile  *providers.Profile
	redirect string
}

func newPGEnv(t *testing.T) *pgEnv {
	t.Helper()
	e := &pgEnv{t: t, connStr: pgtest.Start(t)}
	e.redirect = fmt.Sprintf("http://127.0.0.1:%d/cb", freePort(t))
	emu, err := emulator.New(emulator.Options{Provider: "sms77",
		Clients: []emulator.Client{{ID: "cid", Secret: "csecret", RedirectURIs: []string{e.redirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	b, _ := providers.Builtin("sms77")
	if e.profile, err = b.Rebase(srv.URL); err != nil {
		t.Fatal(err)
	}
	e.emu = emu
	return e
}

// config is a configuration of conns sms77 connections, with the pg
// backend block when pg is set and extra appended (more settings).
func (e *pgEnv) config(conns int, pg bool, settings string) string {
	var b strings.Builder
	if pg || settings != "" {
		b.WriteString("oauthform {\n")
		if pg {
			b.WriteString("  backend \"pg\" {\n    conn_str = env(\"OAUTHFORM_PG\")\n  }\n")
		}
		b.WriteString(settings)
		b.WriteString("}\n")
	}
	p := e.profile
	fmt.Fprintf(&b, "provider \"sms77\" {\n  authorize_url = %q\n  token_url = %q\n  check_url = %q\n  revoke_url = %q\n}\n",
		p.AuthorizeURL, p.TokenURL, p.CheckURL, p.RevokeURL)
	fmt.Fprintf(&b, "app \"sms\" {\n  provider = \"sms77\"\n  client_id = \"cid\"\n  client_secret = \"csecret\"\n  redirect_uri = %q\n}\n", e.redirect)
	for i := range conns {
		fmt.Fprintf(&b, "connection \"c%d\" {\n  app = app.sms\n  scopes = [\"sms\"]\n  refresh_before = \"1m\"\n}\n", i)
	}
	return b.String()
}

// dir writes src as the configuration of a new working directory.
func (e *pgEnv) dir(src string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	writeConfig(e.t, dir, src)
	return dir
}

func writeConfig(t *testing.T, dir, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs oauthform in dir; env adds to the environment.
func (e *pgEnv) run(dir string, env []string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command("oauthform", append([]string{"-chdir", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "NO_COLOR=1", "OAUTHFORM_LOG=",
		"OAUTHFORM_PG="+e.connStr, "OAUTHFORM_BROWSER=testbrowser", "OAUTHFORM_PASSPHRASE=")
	cmd.Env = append(cmd.Env, env...)
	var o, x bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &x
	err = cmd.Run()
	return o.String(), x.String(), err
}

// must runs oauthform and fails the test unless it succeeds.
func (e *pgEnv) must(dir string, args ...string) (stdout, stderr string) {
	e.t.Helper()
	o, x, err := e.run(dir, nil, args...)
	if err != nil {
		e.t.Fatalf("oauthform %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, o, x)
	}
	return o, x
}

// password is the password of the test database's connection string, ""
// when it has none.
func (e *pgEnv) password() string {
	if u, err := url.Parse(e.connStr); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	pgPasswordRE := regexp.MustCompile(`(^|[\s?&])password\s*=\s*('[^']*'|[^\s&]+)`)
	if m := pgPasswordRE.FindStringSubmatch(e.connStr); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}

// noSecret fails when out shows the connection string or its password.
func (e *pgEnv) noSecret(what, out string) {
	e.t.Helper()
	if strings.Contains(out, e.connStr) {
		e.t.Errorf("%s shows the connection string:\n%s", what, out)
	}
	if p := e.password(); len(p) >= 3 && strings.Contains(out, p) {
		e.t.Errorf("%s shows the database password:\n%s", what, out)
	}
}

// openPG opens the test database's state from the test process.
func (e *pgEnv) openPG(opts state.Options) *pg.Store {
	e.t.Helper()
	st, err := pg.Open(context.Background(), secret.New(e.connStr), "oauthform", opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = st.Close() })
	return st
}

// showJSON is the part of show -json the tests compare.
type showJSON struct {
	Lineage     string `json:"lineage"`
	Serial      uint64 `json:"serial"`
	Connections []struct {
		Name      string `json:"name"`
		Connected bool   `json:"connected"`
		Status    string `json:"status"`
	} `json:"connections"`
}

func (e *pgEnv) show(dir string) showJSON {
	e.t.Helper()
	out, _ := e.must(dir, "show", "-json")
	var s showJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("show -json: %v\n%s", err, out)
	}
	return s
}

// TestPGBackendCycle: init, plan, apply, token, show, state list and
// refresh against the pg backend, each a separate process, with nothing
// written to a local state file and the connection string never shown.
func TestPGBackendCycle(t *testing.T) {
	e := newPGEnv(t)
	dir := e.dir(e.config(2, true, ""))
	var all strings.Builder
	keep := func(o, x string) string { all.WriteString(o + x); return o }

	out := keep(e.must(dir, "init"))
	if !strings.Contains(out, "Created the state in PostgreSQL, postgres://") || !strings.Contains(out, "schema=oauthform") {
		t.Errorf("init output:\n%s", out)
	}
	out = keep(e.must(dir, "init"))
	if !strings.Contains(out, "Using the existing state in PostgreSQL") {
		t.Errorf("second init output:\n%s", out)
	}
	out = keep(e.must(dir, "plan"))
	if !strings.Contains(out, "Plan: 2 to connect, 0 to refresh") {
		t.Errorf("plan output:\n%s", out)
	}
	out = keep(e.must(dir, "apply", "-auto-approve"))
	if !strings.Contains(out, "Apply complete! 2 connected") {
		t.Fatalf("apply output:\n%s", out)
	}
	tok := strings.TrimSpace(keep(e.must(dir, "token", "c0")))
	check := &providers.Client{Profile: e.profile, ClientID: "cid"}
	if _, err := check.Check(context.Background(), secret.New(tok)); err != nil {
		t.Errorf("the token printed is refused by the API: %v", err)
	}
	s := e.show(dir)
	if len(s.Connections) != 2 || s.Lineage == "" || !s.Connections[0].Connected {
		t.Errorf("show -json: %+v", s)
	}
	out = keep(e.must(dir, "state", "list"))
	if out != "c0\nc1\n" {
		t.Errorf("state list = %q", out)
	}
	refreshed := strings.TrimSpace(keep(e.must(dir, "token", "-min-valid=2h", "c0")))
	if refreshed == tok {
		t.Error("token -min-valid=2h did not refresh")
	}
	if st := e.emu.Stats(); st.Refreshes != 1 || st.Rejections != 0 {
		t.Errorf("emulator: %d refreshes, %d rejections; want 1 and 0", st.Refreshes, st.Rejections)
	}
	out = keep(e.must(dir, "plan", "-detailed-exitcode"))
	if !strings.Contains(out, "No changes.") {
		t.Errorf("plan after apply:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, ".oauthform", "state.db")); err == nil {
		t.Error("a local state file was written with the pg backend")
	}
	// The test process reads what the processes wrote.
	snap, err := e.openPG(state.Options{}).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Records) != 2 || snap.Lineage != s.Lineage || snap.Records["c0"].Access.Reveal() != refreshed {
		t.Errorf("the database holds %d records, lineage %s (show said %s)", len(snap.Records), snap.Lineage, s.Lineage)
	}

	// state rm and destroy forget: the backup no longer holds what they
	// removed, and the purge (VACUUM FULL) has nothing to warn about.
	backupNames := func() string {
		t.Helper()
		bk, err := e.openPG(state.Options{}).ReadBackup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for n := range bk.Records {
			names = append(names, n)
		}
		sort.Strings(names)
		return strings.Join(names, " ")
	}
	o, x := e.must(dir, "state", "rm", "c1")
	keep(o, x)
	if strings.Contains(x, "Warning") || backupNames() != "c0" {
		t.Errorf("after state rm c1 the backup holds %q (want c0); stderr:\n%s", backupNames(), x)
	}
	o, x = e.must(dir, "destroy", "-auto-approve")
	keep(o, x)
	if strings.Contains(x, "Warning") || backupNames() != "" {
		t.Errorf("after destroy the backup holds %q (want nothing); stderr:\n%s", backupNames(), x)
	}
	e.noSecret("the commands' output", all.String())
}

// TestPGLockHolderNamed: a second writer on another machine (here: the
// test process holding the operation lock) makes apply fail at once naming
// the holder, or wait with -lock-timeout until it lets go.
func TestPGLockHolderNamed(t *testing.T) {
	e := newPGEnv(t)
	dir := e.dir(e.config(1, true, ""))
	e.must(dir, "init")
	holder := e.openPG(state.Options{Version: "holder-test"})
	ctx := context.Background()
	info, err := holder.Lock(ctx, "apply")
	if err != nil {
		t.Fatal(err)
	}
	_, x, err := e.run(dir, nil, "apply", "-auto-approve")
	if err == nil {
		t.Fatal("apply succeeded while another process held the lock")
	}
	for _, want := range []string{"Error acquiring the state lock", info.ID, "Operation: apply", info.Who, "-lock-timeout"} {
		if !strings.Contains(x, want) {
			t.Errorf("the lock error lacks %q:\n%s", want, x)
		}
	}
	e.noSecret("the lock error", x)
	go func() {
		time.Sleep(time.Second)
		_ = holder.Unlock(ctx)
	}()
	start := time.Now()
	o, _ := e.must(dir, "apply", "-auto-approve", "-lock-timeout=60s")
	if !strings.Contains(o, "Apply complete! 1 connected") {
		t.Errorf("apply after waiting:\n%s", o)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Errorf("apply did not wait for the lock")
	}
}

// TestPGTwoWorkingDirectories is issue 7's concurrency test: two working
// directories with the same configuration (two laptops) share one
// database. Tokens are about to expire; each directory runs apply and a
// token per connection, all at once. sms77 rotates refresh tokens, so a
// refresh token used twice would be refused: the emulator must see
// exactly one refresh per connection and no rejection; every token
// printed must be the one stored; no update may be lost (a later refresh
// of every connection still succeeds, so the stored refresh tokens are
// the live ones); and the losing apply waits for the operation lock.
func TestPGTwoWorkingDirectories(t *testing.T) {
	const conns = 8
	e := newPGEnv(t)
	src := e.config(conns, true, "")
	dirs := []string{e.dir(src), e.dir(src)}
	e.must(dirs[0], "init")

	// Seed tokens expiring in 20s, inside the 1m refresh_before.
	st := e.openPG(state.Options{})
	ctx := context.Background()
	lineage, err := st.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lock(ctx, "seed"); err != nil {
		t.Fatal(err)
	}
	for i := range conns {
		ts, err := e.emu.IssueTokens("cid", []string{"sms"})
		if err != nil {
			t.Fatal(err)
		}
		err = st.Put(ctx, &state.Record{Conn: fmt.Sprintf("c%d", i), Provider: "sms77", ClientID: "cid",
			ClientSecretHash: state.HashSecret(lineage, secret.New("csecret")), Scopes: []string{"sms"},
			Params: map[string]string{}, RedirectURI: e.redirect, RefreshBefore: time.Minute,
			Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken),
			TokenType: "Bearer", Expiry: time.Now().Add(20 * time.Second), Status: state.StatusActive})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	type result struct {
		dir, conn, args, out, errOut string
		err                          error
	}
	results := make(chan result, 2*(conns+1))
	var wg sync.WaitGroup
	launch := func(dir, conn string, args ...string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, x, err := e.run(dir, nil, args...)
			results <- result{dir, conn, strings.Join(args, " "), o, x, err}
		}()
	}
	for _, dir := range dirs {
		launch(dir, "", "apply", "-auto-approve", "-lock-timeout=120s")
		for i := range conns {
			launch(dir, fmt.Sprintf("c%d", i), "token", fmt.Sprintf("c%d", i))
		}
	}
	wg.Wait()
	close(results)

	printed := map[string]map[string]bool{}
	applies := 0
	for r := range results {
		if r.err != nil {
			t.Errorf("oauthform %s in %s: %v\n%s%s", r.args, r.dir, r.err, r.out, r.errOut)
			continue
		}
		e.noSecret("oauthform "+r.args, r.out+r.errOut)
		if r.conn == "" {
			applies++
			if !strings.Contains(r.out, "Apply complete!") && !strings.Contains(r.out, "No changes.") {
				t.Errorf("apply in %s:\n%s", r.dir, r.out)
			}
			continue
		}
		if printed[r.conn] == nil {
			printed[r.conn] = map[string]bool{}
		}
		printed[r.conn][strings.TrimSpace(r.out)] = true
	}
	if applies != 2 {
		t.Errorf("%d applies succeeded, want both (the loser waits for the lock)", applies)
	}
	stats := e.emu.Stats()
	if stats.Refreshes != conns || stats.Rejections != 0 {
		t.Errorf("emulator saw %d refreshes and %d rejections (last: %s), want %d and 0",
			stats.Refreshes, stats.Rejections, stats.LastRejection, conns)
	}
	snap, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check := &providers.Client{Profile: e.profile, ClientID: "cid"}
	for i := range conns {
		conn := fmt.Sprintf("c%d", i)
		rec := snap.Records[conn]
		if rec == nil {
			t.Fatalf("%s is missing from the state", conn)
		}
		if want := rec.Access.Reveal(); len(printed[conn]) != 1 || !printed[conn][want] {
			t.Errorf("%s: the token processes printed %d distinct tokens, want only the stored one", conn, len(printed[conn]))
		}
		if _, err := check.Check(ctx, rec.Access); err != nil {
			t.Errorf("%s: the stored token is refused by the API: %v", conn, err)
		}
	}
	// No lost update: the stored refresh tokens are the live ones, so
	// refreshing every connection again, from the other laptop, works.
	for i := range conns {
		e.must(dirs[1], "token", "-min-valid=2h", fmt.Sprintf("c%d", i))
	}
	if st := e.emu.Stats(); st.Refreshes != 2*conns || st.Rejections != 0 {
		t.Errorf("after a forced refresh of each: %d refreshes, %d rejections; want %d and 0", st.Refreshes, st.Rejections, 2*conns)
	}
	// Both laptops see one state.
	a, b := e.show(dirs[0]), e.show(dirs[1])
	if a.Lineage != b.Lineage || a.Serial != b.Serial || len(a.Connections) != conns {
		t.Errorf("the two working directories disagree: %+v / %+v", a, b)
	}
}

// TestPGMigrateRoundTrip: a local state made by apply moves to PostgreSQL
// with state migrate -to pg and back with -to local, keeping its lineage,
// every connection and working tokens; the source is kept (renamed) and a
// non-empty destination is refused.
func TestPGMigrateRoundTrip(t *testing.T) {
	for name, settings := range map[string]string{
		"plain":     "",
		"encrypted": "  encryption {\n    passphrase = \"migrate-test-passphrase\"\n  }\n",
		// A key provider, enforced (issue 19): the copy stays sealed, and
		// enforced, on both backends.
		"passphrase_command enforced": "  encryption {\n    passphrase_command = [\"sh\", \"-c\", \"echo pg-key-from-command\"]\n    enforced = true\n  }\n",
	} {
		t.Run(name, func(t *testing.T) {
			testMigrateRoundTrip(t, settings)
		})
	}
}

func testMigrateRoundTrip(t *testing.T, settings string) {
	e := newPGEnv(t)
	encrypted, enforced := settings != "", strings.Contains(settings, "enforced")
	dir := e.dir(e.config(3, false, settings))
	e.must(dir, "apply", "-auto-approve")
	before := e.show(dir)
	tokens := map[string]string{}
	for i := range 3 {
		c := fmt.Sprintf("c%d", i)
		tokens[c], _ = e.must(dir, "token", c)
	}

	// To PostgreSQL, with the backend block configured first.
	writeConfig(t, dir, e.config(3, true, settings))
	out, x := e.must(dir, "state", "migrate", "-to", "pg", "-lock-timeout=10s")
	e.noSecret("state migrate -to pg", out+x)
	for _, want := range []string{"3 connection(s)", "postgres://", "state.db.migrated-", "nothing to change"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate -to pg output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".oauthform", "state.db")); err == nil {
		t.Error("the local state is still in place after migrate -to pg")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".oauthform", "state.db.migrated-*")); len(m) != 1 {
		t.Errorf("the local state was not kept under a new name: %v", m)
	}
	inPG := e.show(dir)
	if !strings.Contains(out, "lineage "+inPG.Lineage) && !strings.Contains(out, "lineage is now "+inPG.Lineage) {
		t.Errorf("migrate -to pg does not report the lineage %s:\n%s", inPG.Lineage, out)
	}
	if inPG.Lineage != before.Lineage {
		t.Errorf("in PostgreSQL: lineage %s, want %s", inPG.Lineage, before.Lineage)
	}
	if len(inPG.Connections) != 3 {
		t.Errorf("in PostgreSQL: %d connections, want 3", len(inPG.Connections))
	}
	snap, err := e.openPG(state.Options{}).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Encrypted != encrypted || snap.Enforced != enforced {
		t.Errorf("in PostgreSQL: encrypted %v, enforced %v; want %v, %v", snap.Encrypted, snap.Enforced, encrypted, enforced)
	}
	for c, tok := range tokens {
		if got, _ := e.must(dir, "token", c); got != tok {
			t.Errorf("token %s from PostgreSQL = %q, want %q", c, got, tok)
		}
	}
	if o, _ := e.must(dir, "plan"); !strings.Contains(o, "No changes.") {
		t.Errorf("plan after migrating:\n%s", o)
	}
	// Again: the destination is not empty any more.
	writeConfig(t, dir, e.config(3, false, settings))
	e.must(dir, "apply", "-auto-approve") // a new local state
	writeConfig(t, dir, e.config(3, true, settings))
	if _, x, err := e.run(dir, nil, "state", "migrate", "-to", "pg"); err == nil || !strings.Contains(x, "not empty") {
		t.Errorf("migrate into a non-empty state: err %v\n%s", err, x)
	}
	if err := os.Remove(filepath.Join(dir, ".oauthform", "state.db")); err != nil {
		t.Fatal(err)
	}

	// A refresh in PostgreSQL, then back to a local file.
	refreshed, _ := e.must(dir, "token", "-min-valid=2h", "c1")
	out, x = e.must(dir, "state", "migrate", "-to", "local")
	e.noSecret("state migrate -to local", out+x)
	if !strings.Contains(out, "3 connection(s)") || !strings.Contains(out, "backend \"pg\"") {
		t.Errorf("migrate -to local output:\n%s", out)
	}
	writeConfig(t, dir, e.config(3, false, settings))
	back := e.show(dir)
	if !strings.Contains(out, "lineage "+back.Lineage) && !strings.Contains(out, "lineage is now "+back.Lineage) {
		t.Errorf("migrate -to local does not report the lineage %s:\n%s", back.Lineage, out)
	}
	if back.Lineage != inPG.Lineage {
		t.Errorf("back in a local file: lineage %s, want %s", back.Lineage, inPG.Lineage)
	}
	if len(back.Connections) != 3 {
		t.Errorf("back in a local file: %d connections, want 3", len(back.Connections))
	}
	if encrypted {
		local, err := statebolt.Open(filepath.Join(dir, ".oauthform", "state.db"), state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ls, err := local.Snapshot(context.Background())
		_ = local.Close()
		if err != nil || !ls.Encrypted || ls.Enforced != enforced {
			t.Errorf("back in a local file: %+v, %v; want encrypted, enforced %v", ls, err, enforced)
		}
	}
	if o, _ := e.must(dir, "plan"); !strings.Contains(o, "No changes.") {
		t.Errorf("plan after migrating back:\n%s", o)
	}
	tokens["c1"] = refreshed
	for c, tok := range tokens {
		if got, _ := e.must(dir, "token", c); got != tok {
			t.Errorf("token %s after the round trip = %q, want %q", c, got, tok)
		}
	}
	if st := e.emu.Stats(); st.Rejections != 0 {
		t.Errorf("the emulator rejected %d requests", st.Rejections)
	}
	// PostgreSQL's copy is left as it was.
	if snap, err := e.openPG(state.Options{}).Snapshot(context.Background()); err != nil || len(snap.Records) != 3 {
		t.Errorf("the PostgreSQL state after migrate -to local: %v, %v", snap, err)
	}
	names := make([]string, 0, len(back.Connections))
	for _, c := range back.Connections {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "c0,c1,c2" {
		t.Errorf("connections after the round trip: %v", names)
	}
}

// TestPGMigrateWithFlags: without a backend block yet, -conn-str-env and
// -schema name the database, and the output gives the block to add; a
// locked source makes migrate fail naming the holder.
func TestPGMigrateWithFlags(t *testing.T) {
	e := newPGEnv(t)
	dir := e.dir(e.config(2, false, ""))
	e.must(dir, "apply", "-auto-approve")
	out, x := e.must(dir, "state", "migrate", "-to=pg", "-conn-str-env=OAUTHFORM_PG", "-schema=team_a")
	e.noSecret("state migrate -to pg", out+x)
	for _, want := range []string{"2 connection(s)", "schema=team_a", `backend "pg" {`, `conn_str    = env("OAUTHFORM_PG")`, `schema_name = "team_a"`} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}
	ctx := context.Background()
	st, err := pg.Open(ctx, secret.New(e.connStr), "team_a", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := st.Snapshot(ctx)
	if err != nil || len(snap.Records) != 2 {
		t.Fatalf("schema team_a: %v, %v", snap, err)
	}

	// Back, while another machine holds the PostgreSQL state's lock.
	info, err := st.Lock(ctx, "apply")
	if err != nil {
		t.Fatal(err)
	}
	_, x, err = e.run(dir, nil, "state", "migrate", "-to=local", "-conn-str-env=OAUTHFORM_PG", "-schema=team_a")
	if err == nil || !strings.Contains(x, "Error acquiring the state lock") || !strings.Contains(x, info.ID) {
		t.Errorf("migrate with the source locked: %v\n%s", err, x)
	}
	if _, err := os.Stat(filepath.Join(dir, ".oauthform", "state.db")); err == nil {
		t.Error("a local state was written although the source was locked")
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		_ = st.Unlock(ctx)
	}()
	out, _ = e.must(dir, "state", "migrate", "-to=local", "-conn-str-env=OAUTHFORM_PG", "-schema=team_a", "-lock-timeout=30s")
	if !strings.Contains(out, "2 connection(s)") || !strings.Contains(out, "uses the local file already") {
		t.Errorf("migrate -to local output:\n%s", out)
	}
	if s := e.show(dir); len(s.Connections) != 2 {
		t.Errorf("after migrating back: %+v", s)
	}
}

// TestPGKeyRotation (issue 19): teams rotate the key of a PostgreSQL state
// as of a local one: a new passphrase_command with the old one as
// fallback; plan lists every record to reseal, apply reseals them in one
// transaction, then the old key alone no longer opens the state and the
// new one opens every record.
func TestPGKeyRotation(t *testing.T) {
	e := newPGEnv(t)
	oldKey := "  encryption {\n    passphrase_command = [\"sh\", \"-c\", \"echo pg-old-key\"]\n  }\n"
	rotate := "  encryption {\n    passphrase_command = [\"sh\", \"-c\", \"echo pg-new-key\"]\n" +
		"    fallback {\n      passphrase_command = [\"sh\", \"-c\", \"echo pg-old-key\"]\n    }\n  }\n"
	dir := e.dir(e.config(2, true, oldKey))
	e.must(dir, "apply", "-auto-approve")
	tokens := map[string]string{}
	for i := range 2 {
		c := fmt.Sprintf("c%d", i)
		tokens[c], _ = e.must(dir, "token", c)
	}

	writeConfig(t, dir, e.config(2, true, rotate))
	out, _, err := e.run(dir, nil, "plan", "-detailed-exitcode")
	if err == nil || !strings.Contains(out, "sealed under the fallback key") || !strings.Contains(out, "2 to update") {
		t.Fatalf("plan during the rotation: %v\n%s", err, out)
	}
	out, _ = e.must(dir, "apply", "-auto-approve")
	if !strings.Contains(out, "Resealed the tokens of 2 connection(s) under the new key") {
		t.Errorf("apply during the rotation:\n%s", out)
	}
	if out, _ := e.must(dir, "plan"); !strings.Contains(out, "No changes.") {
		t.Errorf("plan after the rotation:\n%s", out)
	}

	ctx := context.Background()
	if _, err := e.openPG(state.Options{Passphrase: secret.New("pg-old-key")}).Snapshot(ctx); !errors.Is(err, state.ErrWrongPassphrase) {
		t.Errorf("the old key after the rotation: %v, want %v", err, state.ErrWrongPassphrase)
	}
	st := e.openPG(state.Options{Passphrase: secret.New("pg-new-key")})
	for c, tok := range tokens {
		rec, err := st.Get(ctx, c)
		if err != nil || rec.Access.Reveal() != strings.TrimSpace(tok) {
			t.Errorf("%s under the new key: %v (token matches: %v)", c, err, err == nil && rec.Access.Reveal() == strings.TrimSpace(tok))
		}
	}
	writeConfig(t, dir, e.config(2, true, strings.Replace(oldKey, "pg-old-key", "pg-new-key", 1)))
	for c, tok := range tokens {
		if got, _ := e.must(dir, "token", c); got != tok {
			t.Errorf("token %s with the new key alone changed", c)
		}
	}
}
