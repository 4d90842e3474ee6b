package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharedPair starts two emulators of provider on one state file, as two
// processes would run them.
func sharedPair(t *testing.T, provider, path string, mods ...func(*Options)) (*fixture, *fixture) {
	t.Helper()
	mods = append([]func(*Options){func(o *Options) { o.StateFile = path }}, mods...)
	return newFixture(t, provider, mods...), newFixture(t, provider, mods...)
}

// readState decodes the state file at path.
func readState(t *testing.T, path string) stateJSON {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file: %v\n%s", err, b)
	}
	return st
}

// send is fixture.post/get for goroutines: errors are returned, not fatal.
func (f *fixture) send(method, path, body string, hdr ...string) (result, error) {
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		return result{}, err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// field reads a string field of a JSON object body, "" when absent.
func (r result) field(k string) string {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	s, _ := m[k].(string)
	return s
}

// TestPersistSharedAcrossServers: tokens issued by one server through the
// whole flow are accepted and refreshable at another on the same file, and
// a refresh token rotated at one is refused at the other afterwards.
func TestPersistSharedAcrossServers(t *testing.T) {
	for _, provider := range Providers() {
		t.Run(provider, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			a, b := sharedPair(t, provider, path)
			res := a.tokens()
			at, rt := res.str(t, "access_token"), res.field("refresh_token")
			wantStatus(t, b.get(b.path(kindCheck), at), http.StatusOK)
			wantStatus(t, a.get(a.path(kindCheck), at), http.StatusOK)
			if _, ok := b.srv.Paths()[kindRefresh]; !ok || rt == "" {
				if provider == "buffer" {
					// Deauthorized at b, dead at a.
					wantStatus(t, b.revoke(at, ""), http.StatusOK)
					wantStatus(t, a.get(a.path(kindCheck), at), http.StatusUnauthorized)
				}
				return
			}
			r2 := b.refresh(rt)
			wantStatus(t, r2, http.StatusOK)
			at2 := r2.str(t, "access_token")
			wantStatus(t, a.get(a.path(kindCheck), at2), http.StatusOK)
			wantStatus(t, b.get(b.path(kindCheck), at2), http.StatusOK)
			if !b.srv.rotate() {
				wantStatus(t, a.refresh(rt), http.StatusOK) // still good
				return
			}
			rt2 := r2.str(t, "refresh_token")
			old := a.refresh(rt)
			wantStatus(t, old, http.StatusBadRequest)
			if e := old.str(t, "error"); e != "invalid_grant" {
				t.Errorf("rotated refresh token at the other server: error %q, want invalid_grant", e)
			}
			if !a.srv.spec.reuseRevokes {
				wantStatus(t, a.refresh(rt2), http.StatusOK)
			} else {
				// buffer_v2: the reuse revoked the grant, at both servers.
				wantStatus(t, b.refresh(rt2), http.StatusBadRequest)
				wantStatus(t, b.get(b.path(kindCheck), at2), http.StatusUnauthorized)
			}
		})
	}
}

// TestPersistRevokeAndCodeAcrossServers: revocation and code binding hold
// across servers.
func TestPersistRevokeAndCodeAcrossServers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	a, b := sharedPair(t, "oauth2", path)

	// A code approved at a is exchanged at b; its reuse at a is refused
	// and (oauth2) revokes the tokens minted from it.
	code, pk := a.code()
	res := b.exchange(code, pk)
	wantStatus(t, res, http.StatusOK)
	at := res.str(t, "access_token")
	wantStatus(t, a.get(a.path(kindCheck), at), http.StatusOK)
	wantStatus(t, a.exchange(code, pk), http.StatusBadRequest)
	a.wantRejection("reused")
	wantStatus(t, b.get(b.path(kindCheck), at), http.StatusUnauthorized)

	// Revoking a refresh token at b kills the grant at a.
	res = a.tokens()
	at, rt := res.str(t, "access_token"), res.str(t, "refresh_token")
	wantStatus(t, b.revoke(rt, "refresh_token"), http.StatusOK)
	wantStatus(t, a.get(a.path(kindCheck), at), http.StatusUnauthorized)
	wantStatus(t, a.refresh(rt), http.StatusBadRequest)
	if st := a.srv.Stats(); st.LiveGrants != 0 {
		t.Errorf("LiveGrants = %d at a after revocations at b, want 0", st.LiveGrants)
	}
}

// TestPersistIssueTokens: IssueTokens persists, Burner's connected burners
// included, and a later server (a new process) sees the grants.
func TestPersistIssueTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	a, b := sharedPair(t, "burner", path)
	ts, err := a.srv.IssueTokens(testID, []string{"messages:connect"})
	if err != nil {
		t.Fatal(err)
	}
	res := b.get(b.path(kindCheck), ts.AccessToken)
	wantStatus(t, res, http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal(res.body, &list); err != nil || len(list) != 1 || list[0]["id"] != userBurners[0].ID {
		t.Errorf("burners at the other server = %s (%v), want the one connected burner", res.body, err)
	}
	c := newFixture(t, "burner", func(o *Options) { o.StateFile = path })
	if st := c.srv.Stats(); st.LiveGrants != 1 {
		t.Errorf("LiveGrants at a new server = %d, want 1", st.LiveGrants)
	}
	if _, err := c.srv.IssueTokens(testID, []string{"burners:read"}); err != nil {
		t.Fatal(err)
	}
	if st := readState(t, path); st.NextGrant != 2 || len(st.Grants) != 2 || len(st.Access) != 2 {
		t.Errorf("state: next_grant %d, %d grants, %d access tokens; want 2, 2, 2", st.NextGrant, len(st.Grants), len(st.Access))
	}
}

// TestPersistConcurrentNonRotating: 20 goroutines across two servers each
// walk a grant and refresh one shared, non-rotating refresh token; no
// update is lost.
func TestPersistConcurrentNonRotating(t *testing.T) {
	noRotate := false
	for _, provider := range []string{"oauth2", "phoneburner"} {
		t.Run(provider, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			a, b := sharedPair(t, provider, path, func(o *Options) { o.RotateRefresh = &noRotate })
			fs := []*fixture{a, b}
			first := a.tokens()
			rt := first.str(t, "refresh_token")
			authURL := []string{a.authURL(nil), b.authURL(nil)}
			tokenPath, refreshPath := a.path(kindToken), a.path(kindRefresh)

			const n = 20
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				tokens []string
				errs   []error
			)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					got, err := concurrentGrant(fs[i%2], fs[(i+1)%2], authURL[i%2], tokenPath, refreshPath, rt)
					mu.Lock()
					defer mu.Unlock()
					tokens = append(tokens, got...)
					if err != nil {
						errs = append(errs, fmt.Errorf("goroutine %d: %w", i, err))
					}
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				t.Error(err)
			}
			if t.Failed() {
				return
			}
			st := readState(t, path)
			if len(st.Access) != 1+2*n || len(st.Refresh) != 1+n || len(st.Grants) != 1+n || st.NextGrant != 1+n {
				t.Errorf("state: %d access, %d refresh, %d grants, next_grant %d; want %d, %d, %d, %d",
					len(st.Access), len(st.Refresh), len(st.Grants), st.NextGrant, 1+2*n, 1+n, 1+n, 1+n)
			}
			slices.Sort(tokens)
			if len(slices.Compact(tokens)) != 2*n {
				t.Errorf("got %d distinct access tokens, want %d", len(tokens), 2*n)
			}
			for _, tok := range tokens {
				if _, ok := st.Access[tok]; !ok {
					t.Errorf("access token missing from the file")
				}
				wantStatus(t, a.get(a.path(kindCheck), tok), http.StatusOK)
				wantStatus(t, b.get(b.path(kindCheck), tok), http.StatusOK)
			}
		})
	}
}

// concurrentGrant walks a grant at a (authorize) and b (exchange), then
// refreshes rt at a. It returns the two access tokens minted.
func concurrentGrant(a, b *fixture, authURL, tokenPath, refreshPath, rt string) ([]string, error) {
	var pk pkcePair
	if usesPKCE(a.provider) {
		pk = newPKCE()
	}
	loc, err := Consent(context.Background(), a.ts.Client(), authURL+a.authQuery(pk).Encode(), true)
	if err != nil {
		return nil, err
	}
	body, hdr := exchangeForm(b.provider, loc.Query().Get("code"), pk)
	res, err := b.send(http.MethodPost, tokenPath, body, hdr...)
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusOK {
		return nil, fmt.Errorf("exchange: %d %s", res.status, res.body)
	}
	out := []string{res.field("access_token")}
	body, hdr = refreshForm(a.provider, rt)
	if res, err = a.send(http.MethodPost, refreshPath, body, hdr...); err != nil {
		return out, err
	}
	if res.status != http.StatusOK {
		return out, fmt.Errorf("refresh: %d %s", res.status, res.body)
	}
	return append(out, res.field("access_token")), nil
}

// TestPersistConcurrentRotating: one rotating refresh token presented
// concurrently at two servers succeeds exactly once.
func TestPersistConcurrentRotating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	a, b := sharedPair(t, "sms77", path)
	rt := a.tokens().str(t, "refresh_token")
	fs := []*fixture{a, b}
	refreshPath := a.path(kindRefresh)
	const n = 10
	var wg sync.WaitGroup
	results := make([]result, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			body, hdr := refreshForm("sms77", rt)
			results[i], errs[i] = fs[i%2].send(http.MethodPost, refreshPath, body, hdr...)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, res := range results {
		switch {
		case errs[i] != nil:
			t.Errorf("refresh %d: %v", i, errs[i])
		case res.status == http.StatusOK:
			ok++
		case res.status != http.StatusBadRequest || res.field("error") != "invalid_grant":
			t.Errorf("refresh %d: %d %s, want 200 or invalid_grant", i, res.status, res.body)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent refreshes of one rotating token succeeded, want exactly 1", ok)
	}
	if st := readState(t, path); len(st.Refresh) != 2 {
		t.Errorf("state holds %d refresh tokens, want 2 (the consumed one and its successor)", len(st.Refresh))
	}
}

// TestPersistFile covers the file itself: modes, a missing directory, and
// files New must refuse.
func TestPersistFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "state.json")
	f := newFixture(t, "sms77", func(o *Options) { o.StateFile = path })
	if _, err := f.srv.IssueTokens(testID, nil); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir, path + ".lock": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	if st := readState(t, path); st.Version != stateVersion || st.Provider != "sms77" || len(st.Access) != 1 || len(st.Refresh) != 1 {
		t.Errorf("state = %+v", st)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".state.json.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	newAt := func(p, provider string) error {
		_, err := New(Options{Provider: provider, StateFile: p,
			Clients: []Client{{ID: testID, Secret: testSecret, RedirectURIs: []string{testRedirect}}}})
		return err
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, tc := range map[string]struct {
		path, provider, want string
	}{
		"corrupt":        {write("corrupt.json", "{not json"), "sms77", "corrupt state"},
		"truncated":      {write("trunc.json", `{"version":1,"provider":"sms77","next_grant":`), "sms77", "corrupt state"},
		"other provider": {path, "seven", `state of the "sms77" emulator`},
		"version":        {write("v9.json", `{"version":9,"provider":"sms77"}`), "sms77", "version 9"},
		"dangling grant": {write("dangling.json", `{"version":1,"provider":"sms77","next_grant":1,"access":{"x":{"grant":7,"scopes":null}}}`), "sms77", "unknown grant 7"},
		"directory":      {dir, "sms77", "is a directory"},
	} {
		err := newAt(tc.path, tc.provider)
		switch {
		case err == nil:
			t.Errorf("%s: New accepted %s", name, tc.path)
		case !errors.Is(err, ErrBadStateFile) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q, want ErrBadStateFile naming %s and saying %q", name, err, tc.path, tc.want)
		}
	}
	for _, content := range []string{"", "\n  \n"} {
		if err := newAt(write("empty.json", content), "sms77"); err != nil {
			t.Errorf("empty file %q: %v", content, err)
		}
	}
}

// TestPersistStateErrorAtRequest: a state file broken behind the server's
// back fails requests with server_error, and they work again once fixed.
func TestPersistStateErrorAtRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f := newFixture(t, "sms77", func(o *Options) { o.StateFile = path })
	res := f.tokens()
	at, rt := res.str(t, "access_token"), res.str(t, "refresh_token")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := f.refresh(rt)
	wantStatus(t, r, http.StatusInternalServerError)
	if e := r.str(t, "error"); e != "server_error" {
		t.Errorf("error = %q, want server_error", e)
	}
	f.wantRejection(path)
	wantStatus(t, f.get(f.path(kindCheck), at), http.StatusInternalServerError)
	wantStatus(t, f.revoke(at, ""), http.StatusInternalServerError)
	if _, err := f.srv.IssueTokens(testID, nil); !errors.Is(err, ErrBadStateFile) {
		t.Errorf("IssueTokens: %v, want ErrBadStateFile", err)
	}
	loc := f.consent(f.authQuery(newPKCE()), true)
	if loc.Query().Get("error") != "server_error" {
		t.Errorf("authorize with a broken state file redirected to %s, want error=server_error", loc)
	}
	_ = f.srv.Stats() // falls back to the store as last loaded
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.get(f.path(kindCheck), at), http.StatusOK)
	wantStatus(t, f.refresh(rt), http.StatusOK)
}

// TestPersistDeauthorizeBufferV1 revokes a Buffer v1 grant through a
// persistent server, and refuses a token revoked elsewhere.
func TestPersistDeauthorizeBufferV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	a, b := sharedPair(t, "buffer", path)
	ts, err := a.srv.IssueTokens(testID, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.revoke(ts.AccessToken, ""), http.StatusOK)
	wantStatus(t, a.revoke(ts.AccessToken, ""), http.StatusUnauthorized)
	if st := b.srv.Stats(); st.Revokes != 1 {
		t.Errorf("Revokes = %d, want 1", st.Revokes)
	}
}

// TestPersistPrune: saving drops codes expired over an hour ago and tokens
// dead for over a day, and keeps the rest.
func TestPersistPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	rotate := true
	f := newFixture(t, "oauth2", func(o *Options) {
		o.StateFile = path
		o.AccessTTL = time.Hour
		o.RotateRefresh = &rotate
	})
	old, err := f.srv.IssueTokens(testID, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := f.refresh(old.RefreshToken) // consumes old.RefreshToken
	wantStatus(t, r, http.StatusOK)
	kept := r.str(t, "refresh_token")
	f.code() // an unused code
	if st := readState(t, path); len(st.Codes) != 1 || len(st.Access) != 2 || len(st.Refresh) != 2 {
		t.Fatalf("before: %d codes, %d access, %d refresh; want 1, 2, 2", len(st.Codes), len(st.Access), len(st.Refresh))
	}

	f.clock.Advance(2 * time.Hour) // code expired over an hour ago; tokens not a day yet
	if _, err := f.srv.IssueTokens(testID, nil); err != nil {
		t.Fatal(err)
	}
	st := readState(t, path)
	if len(st.Codes) != 0 || len(st.Access) != 3 || len(st.Refresh) != 3 {
		t.Fatalf("after 2h: %d codes, %d access, %d refresh; want 0, 3, 3", len(st.Codes), len(st.Access), len(st.Refresh))
	}

	f.clock.Advance(2 * 24 * time.Hour) // every access token expired over a day ago
	newest, err := f.srv.IssueTokens(testID, nil)
	if err != nil {
		t.Fatal(err)
	}
	st = readState(t, path)
	if _, ok := st.Access[newest.AccessToken]; !ok || len(st.Access) != 1 {
		t.Errorf("after 2 days: %d access tokens, want only the newest", len(st.Access))
	}
	if _, ok := st.Refresh[old.RefreshToken]; ok || len(st.Refresh) != 3 {
		t.Errorf("after 2 days: %d refresh tokens (consumed one kept: %v), want the 3 live ones", len(st.Refresh), ok)
	}
	if len(st.Grants) != 3 || st.NextGrant != 3 {
		t.Errorf("grants %v, next_grant %d; want all 3 grants kept, 3", st.Grants, st.NextGrant)
	}
	wantStatus(t, f.revoke(newest.AccessToken, "access_token"), http.StatusOK)
	if st := readState(t, path); st.Access[newest.AccessToken].Ended.IsZero() {
		t.Errorf("revoked access token not marked ended: %+v", st.Access[newest.AccessToken])
	}
	wantStatus(t, f.refresh(kept), http.StatusOK)
}

// TestPersistWriteFailure: when the file cannot be written the request
// fails with server_error and its changes are dropped, not half-kept.
func TestPersistWriteFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f := newFixture(t, "oauth2", func(o *Options) { o.StateFile = path })
	res := f.tokens()
	at, rt := res.str(t, "access_token"), res.str(t, "refresh_token")
	code, pk := f.code()

	writeState = func(string, []byte) error { return errors.New("disk full") }
	t.Cleanup(func() { writeState = writeAtomic })
	r := f.exchange(code, pk)
	wantStatus(t, r, http.StatusInternalServerError)
	f.wantRejection("disk full")
	wantStatus(t, f.refresh(rt), http.StatusInternalServerError)
	wantStatus(t, f.revoke(at, "access_token"), http.StatusInternalServerError)
	if _, err := f.srv.IssueTokens(testID, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("IssueTokens: %v, want the write error", err)
	}
	if loc := f.consent(f.authQuery(newPKCE()), true); loc.Query().Get("error") != "server_error" {
		t.Errorf("authorize redirected to %s, want error=server_error", loc)
	}
	wantStatus(t, f.get(f.path(kindCheck), at), http.StatusOK) // reads need no write

	writeState = writeAtomic
	// Nothing of the failed requests stuck: the code is still unused, the
	// access token not revoked, no grant was added.
	wantStatus(t, f.get(f.path(kindCheck), at), http.StatusOK)
	wantStatus(t, f.exchange(code, pk), http.StatusOK)
	if st := readState(t, path); st.NextGrant != 2 {
		t.Errorf("next_grant = %d, want 2", st.NextGrant)
	}
}

// TestPersistDeauthorizeWriteFailure covers Buffer v1's deauthorization
// when the file cannot be read or written.
func TestPersistDeauthorizeWriteFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f := newFixture(t, "buffer", func(o *Options) { o.StateFile = path })
	ts, err := f.srv.IssueTokens(testID, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeState = func(string, []byte) error { return errors.New("disk full") }
	t.Cleanup(func() { writeState = writeAtomic })
	wantStatus(t, f.revoke(ts.AccessToken, ""), http.StatusInternalServerError)
	writeState = writeAtomic
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.revoke(ts.AccessToken, ""), http.StatusInternalServerError)
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.revoke(ts.AccessToken, ""), http.StatusOK)
}

// childEnv names the state file a helper process works on.
const childEnv = "EMULATOR_PERSIST_CHILD"

// TestPersistHelperProcess is the body of the processes that
// TestPersistCrossProcess starts; it does nothing when run normally.
func TestPersistHelperProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process for TestPersistCrossProcess")
	}
	s, err := New(Options{Provider: "sms77", StateFile: path,
		Clients: []Client{{ID: testID, Secret: testSecret, RedirectURIs: []string{testRedirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, fail := s.useRefresh(refreshRequest{clientID: testID, token: os.Getenv(childEnv + "_RT")})
	fmt.Printf("refresh ok=%v\n", fail == nil)
	for range 10 {
		if _, err := s.IssueTokens(testID, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPersistCrossProcess runs emulators in separate processes on one
// file: no grant is lost, and a rotating refresh token works exactly once.
func TestPersistCrossProcess(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in a helper process")
	}
	path := filepath.Join(t.TempDir(), "state.json")
	// The helpers run on the real clock: so must this server, or its
	// tokens would look long expired to them (and be pruned).
	f := newFixture(t, "sms77", func(o *Options) { o.StateFile, o.Now = path, nil })
	ts, err := f.srv.IssueTokens(testID, nil)
	if err != nil {
		t.Fatal(err)
	}
	const procs = 4
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPersistHelperProcess$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"="+path, childEnv+"_RT="+ts.RefreshToken)
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	ok := 0
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("helper %d: %v\n%s", i, errs[i], outs[i])
		}
		ok += strings.Count(string(outs[i]), "refresh ok=true")
	}
	if ok != 1 {
		t.Errorf("%d processes refreshed the rotating token, want exactly 1", ok)
	}
	st := readState(t, path)
	if want := 1 + procs*10; st.NextGrant != want || len(st.Grants) != want || len(st.Access) != want+1 {
		t.Errorf("state: next_grant %d, %d grants, %d access tokens; want %d, %d, %d", st.NextGrant, len(st.Grants), len(st.Access), want, want, want+1)
	}
	// The parent's server sees the children's work.
	if got := f.srv.Stats().LiveGrants; got != 1+procs*10 {
		t.Errorf("LiveGrants = %d, want %d", got, 1+procs*10)
	}
}
