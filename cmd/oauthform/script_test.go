package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	statebolt "github.com/oauthform/oauthform/internal/state/bolt"
	"github.com/oauthform/oauthform/internal/state/pgtest"
)

// TestMain lets the test binary act as the oauthform command inside script
// tests, so no separate build is needed and coverage still counts. The
// tests run through pgtest.Main, which stops the PostgreSQL test server
// the pg backend tests start (pgtest.Start).
func TestMain(m *testing.M) {
	testscript.Main(pgtestMain{m}, map[string]func(){
		"oauthform":   scriptOAuthform,
		"testbrowser": testBrowser,
		"oidcbrowser": oidcBrowser,
		"holdlock":    holdLock,
	})
}

// pgtestMain runs the tests with pgtest.Main, for testscript.Main (which
// takes anything with Run and exits with its result).
type pgtestMain struct{ m *testing.M }

func (p pgtestMain) Run() int { return pgtest.Main(p.m) }

// TestScripts runs testdata/script/*.txtar. Set UPDATE_SCRIPTS=1 to rewrite
// golden files inside the archives when a cmp fails.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") != "",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("NO_COLOR", "1")
			e.Setenv("OAUTHFORM_LOG", "")
			// Under -race every child process would otherwise sleep 1s
			// at exit (the race runtime's default atexit_sleep_ms).
			e.Setenv("GORACE", "atexit_sleep_ms=0")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"seed-state": cmdSeedState,
			"validjson":  cmdValidJSON,
			"filemode":   cmdFileMode,
			"waitfile":   cmdWaitFile,
			"emulator":   cmdEmulator,
			"clock":      cmdClock,
			"paste":      cmdPaste,
			"freeport":   cmdFreePort,
			"secretscan": cmdSecretScan,
			"sealed":     cmdSealed,
		},
	})
}

// seedRecord is the JSON a script uses to put records in a state, with
// expiry relative to now so golden output stays stable.
type seedRecord struct {
	Conn          string            `json:"conn"`
	Provider      string            `json:"provider"`
	ClientID      string            `json:"client_id"`
	ClientSecret  string            `json:"client_secret"`
	RedirectURI   string            `json:"redirect_uri"`
	Scopes        []string          `json:"scopes"`
	GrantedScopes []string          `json:"granted_scopes"`
	Params        map[string]string `json:"params"`
	RefreshBefore string            `json:"refresh_before"`
	Access        string            `json:"access"`
	Refresh       string            `json:"refresh"`
	ExpiresIn     string            `json:"expires_in"` // Go duration from now; "" = never
	Status        string            `json:"status"`
	LastError     string            `json:"last_error"` // error kind
	Meta          map[string]any    `json:"meta"`
}

// cmdSeedState: seed-state STATE_PATH RECORDS.json — create the state and
// write the records, as a finished apply would have.
func cmdSeedState(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: seed-state STATE_PATH RECORDS.json")
	}
	ctx := context.Background()
	var recs []seedRecord
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &recs))
	st, err := statebolt.Open(ts.MkAbs(args[0]), state.Options{Create: true})
	ts.Check(err)
	defer st.Close()
	lineage, err := st.Init(ctx)
	ts.Check(err)
	_, err = st.Lock(ctx, "seed-state")
	ts.Check(err)
	defer st.Unlock(ctx)
	now := time.Now()
	for _, r := range recs {
		rb := 10 * time.Minute
		if r.RefreshBefore != "" {
			rb, err = time.ParseDuration(r.RefreshBefore)
			ts.Check(err)
		}
		rec := &state.Record{
			Conn: r.Conn, Provider: r.Provider, ClientID: r.ClientID,
			ClientSecretHash: state.HashSecret(lineage, secret.New(r.ClientSecret)),
			RedirectURI:      r.RedirectURI, Scopes: r.Scopes, GrantedScopes: r.GrantedScopes,
			Params: r.Params, RefreshBefore: rb,
			Access: secret.New(r.Access), Refresh: secret.New(r.Refresh), TokenType: "Bearer",
			Status: state.StatusActive, Meta: r.Meta, Created: now, Refreshed: now,
		}
		if rec.Params == nil {
			rec.Params = map[string]string{}
		}
		if r.ExpiresIn != "" {
			d, err := time.ParseDuration(r.ExpiresIn)
			ts.Check(err)
			rec.Expiry = now.Add(d).Truncate(time.Second)
		}
		if r.Status != "" {
			rec.Status = state.Status(r.Status)
		}
		if r.LastError != "" {
			rec.LastError = &state.LastError{Kind: r.LastError, Message: "seeded", At: now}
		}
		ts.Check(st.Put(ctx, rec))
	}
}

// cmdSealed: sealed STATE_PATH CONN OUT — write to OUT the sealed secrets
// of CONN's record as the bbolt file stores them (the base64 text of the
// ciphertext), whole and as its first and last 24 characters, one a line,
// for secretscan: the ciphertext is random, so finding any of them later
// means that copy of the record survived.
func cmdSealed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: sealed STATE_PATH CONN OUT")
	}
	db, err := bolt.Open(ts.MkAbs(args[0]), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	ts.Check(err)
	defer db.Close()
	var raw []byte
	ts.Check(db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("connections")); b != nil {
			raw = bytes.Clone(b.Get([]byte(args[1])))
		}
		return nil
	}))
	var rec struct {
		Sealed json.RawMessage `json:"sealed"`
	}
	ts.Check(json.Unmarshal(raw, &rec))
	var text string
	ts.Check(json.Unmarshal(rec.Sealed, &text))
	if len(text) < 48 {
		ts.Fatalf("record %q has no sealed secrets (%q)", args[1], text)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(text+"\n"+text[:24]+"\n"+text[len(text)-24:]+"\n"), 0o600))
}

// cmdValidJSON: validjson FILE — FILE parses as one JSON document.
func cmdValidJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: validjson FILE")
	}
	var v any
	err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v)
	if neg != (err != nil) {
		ts.Fatalf("validjson %s: neg=%v err=%v", args[0], neg, err)
	}
}

// cmdFileMode: filemode PATH 0600 — PATH has exactly this permission.
func cmdFileMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode PATH MODE")
	}
	info, err := os.Stat(ts.MkAbs(filepath.Clean(args[0])))
	ts.Check(err)
	got := fmt.Sprintf("%04o", info.Mode().Perm())
	if (got == args[1]) == neg {
		ts.Fatalf("%s has mode %s, want %s%s", args[0], got, map[bool]string{true: "not ", false: ""}[neg], args[1])
	}
}

// holdLock is a helper program for lock tests: holdlock STATE [DURATION
// [CONN]] takes the state lock as "apply", creates locked.flag, and
// releases the lock after DURATION, or when release.flag appears. With
// CONN it acts as a `token` refreshing CONN instead: it takes CONN's lock
// alone and reads its record, and when released writes it back with the
// access token AT-CONN-written-back, as a refresh does, before releasing.
func holdLock() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: holdlock STATE [DURATION [CONN]]")
		os.Exit(2)
	}
	ctx := context.Background()
	st, err := statebolt.Open(os.Args[1], state.Options{})
	var rec *state.Record
	var releaseConn func() error
	switch {
	case err != nil:
	case len(os.Args) > 3:
		conn := os.Args[3]
		if releaseConn, err = st.LockConn(ctx, conn, 0); err == nil {
			rec, err = st.Get(ctx, conn)
		}
	default:
		_, err = st.Lock(ctx, "apply")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile("locked.flag", nil, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	deadline := time.Now().Add(time.Minute)
	if len(os.Args) > 2 {
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		deadline = time.Now().Add(d)
	}
	for time.Now().Before(deadline) {
		if _, err := os.Stat("release.flag"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rec != nil {
		rec.Access = secret.New("AT-" + rec.Conn + "-written-back")
		if err := st.Put(ctx, rec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = releaseConn()
	} else {
		_ = st.Unlock(ctx)
	}
	_ = st.Close()
}

// cmdWaitFile: waitfile PATH — wait (up to 30s) until PATH exists.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within 30s", args[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
