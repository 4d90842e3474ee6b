package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// An end-to-end test against a real OpenID Connect provider: zitadel's
// OP library (github.com/zitadel/oidc/v3/pkg/op) with its example storage,
// run in the test process on 127.0.0.1, with a small login page of our
// own in front of it. oauthform knows only the issuer and discovers the
// endpoints; the browser (oidcbrowser) signs in as a person would. The
// device grant's person is the test itself, at the example OP's device
// pages, with the user code apply prints.

const (
	oidcClientID     = "oauthform-e2e"
	oidcClientSecret = "e2e-secret"
	oidcPassword     = "verysecure" // the example storage's users' password

	// The device grant's client (the example storage's DeviceClient,
	// allowed refresh tokens too: see e2eStorage.GetClientByClientID).
	oidcDeviceClientID     = "oauthform-tv"
	oidcDeviceClientSecret = "tv-secret"
	// The example storage's service user, the only client it lets use
	// the client_credentials grant.
	oidcServiceID     = "sid1"
	oidcServiceSecret = "verysecret"
)

// oidcOP is a running zitadel OP and what its token and revocation
// endpoints answered.
type oidcOP struct {
	issuer     string
	userinfo   string // its userinfo endpoint
	tokenURL   string // its token endpoint
	introspect string // its introspection endpoint

	mu      sync.Mutex
	issued  []oidcTokens // token endpoint answers (200s), in order
	revokes []int        // revocation endpoint statuses
	// beforeToken, when set, runs before the OP answers a token request.
	beforeToken func()
}

type oidcTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// startOIDCOP starts the OP with one confidential web client whose only
// redirect URI is redirect, a device client (oidcDeviceClientID) and the
// example storage's service user (oidcServiceID) for client credentials,
// device authorization on, and the example OP's device pages at /device.
func startOIDCOP(t *testing.T, redirect string) *oidcOP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	o := &oidcOP{issuer: "http://" + srv.Listener.Addr().String()}
	users := e2eUsers{storage.NewUserStore(o.issuer)}
	st := &e2eStorage{Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{
		oidcClientID:       storage.WebClient(oidcClientID, oidcClientSecret, redirect),
		oidcDeviceClientID: storage.DeviceClient(oidcDeviceClientID, oidcDeviceClientSecret),
		// The service user as a resource server too, so that it can
		// call the introspection endpoint (which authenticates its
		// callers among the clients, and answers active only to a
		// caller in the token's audience: a client credentials token's
		// audience is the service user).
		oidcServiceID: storage.WebClient(oidcServiceID, oidcServiceSecret),
	}), users: users}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             sha256.Sum256([]byte("oauthform e2e")),
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		// As the example OP's, but polled every second (the smallest
		// interval the OP can state) to keep the test short.
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     time.Minute,
			PollInterval: time.Second,
			UserFormPath: "/device",
			UserCode:     op.UserCodeBase20,
		},
	}, st, op.StaticIssuer(o.issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	o.userinfo = provider.UserinfoEndpoint().Absolute(o.issuer)
	o.tokenURL = provider.TokenEndpoint().Absolute(o.issuer)
	o.introspect = provider.IntrospectionEndpoint().Absolute(o.issuer)
	// The device verification pages (/device: the user code form, the
	// login, the allow/deny confirmation) are zitadel's example OP's
	// own; its router is asked only for them, with the same storage.
	devicePages := exampleop.SetupServer(o.issuer, st, nil, false)
	callback := op.AuthCallbackURL(provider)
	mux := http.NewServeMux()
	mux.Handle("/device", devicePages)
	mux.Handle("/device/", devicePages)
	// The login page the example storage's clients send people to
	// (/login/username?authRequestID=ID), as the example OP's: a form,
	// and on a right password back to the OP's authorize callback.
	mux.HandleFunc("GET /login/username", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><form method="POST" action="/login/username">
<input type="hidden" name="id" value="%s">
<input name="username"><input name="password" type="password"><button type="submit">Login</button>
</form></body></html>`, html.EscapeString(r.FormValue("authRequestID")))
	})
	mux.Handle("POST /login/username", op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue("id")
		if err := st.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	tokenPath := provider.TokenEndpoint().Relative()
	revokePath := provider.RevocationEndpoint().Relative()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != tokenPath && r.URL.Path != revokePath {
			provider.ServeHTTP(w, r)
			return
		}
		o.mu.Lock()
		before := o.beforeToken
		o.mu.Unlock()
		if before != nil && r.URL.Path == tokenPath {
			before()
		}
		rec := httptest.NewRecorder()
		provider.ServeHTTP(rec, r)
		o.mu.Lock()
		if r.URL.Path == revokePath {
			o.revokes = append(o.revokes, rec.Code)
		} else if rec.Code == http.StatusOK {
			var tk oidcTokens
			if err := json.Unmarshal(rec.Body.Bytes(), &tk); err == nil {
				o.issued = append(o.issued, tk)
			}
		}
		o.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return o
}

// e2eStorage is the example storage with what its device authorization
// support lacks for a whole device grant (the example OP only shows the
// first token): the example device page completes the authorization
// with the username where the storage's tokens and userinfo want the
// user's ID; the storage gives tokens made for a device authorization
// no client (so the client can neither refresh nor revoke them); and
// its DeviceClient may not use refresh tokens.
type e2eStorage struct {
	*storage.Storage
	users storage.UserStore
}

func (s *e2eStorage) CompleteDeviceAuthorization(ctx context.Context, userCode, username string) error {
	subject := username
	if u := s.users.GetUserByUsername(username); u != nil {
		subject = u.ID
	}
	return s.Storage.CompleteDeviceAuthorization(ctx, userCode, subject)
}

func (s *e2eStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	return s.Storage.CreateAccessToken(ctx, withClient(req))
}

func (s *e2eStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	return s.Storage.CreateAccessAndRefreshTokens(ctx, withClient(req), current)
}

// withClient gives a device authorization's token request to the
// storage as the authorization request it reads the client from.
func withClient(req op.TokenRequest) op.TokenRequest {
	if d, ok := req.(*op.DeviceAuthorizationState); ok {
		return &storage.AuthRequest{ApplicationID: d.ClientID, UserID: d.Subject, Scopes: d.Scopes}
	}
	return req
}

func (s *e2eStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err == nil && id == oidcDeviceClientID {
		c = refreshingClient{c}
	}
	return c, err
}

// refreshingClient is a client also allowed the refresh_token grant.
type refreshingClient struct{ op.Client }

func (c refreshingClient) GrantTypes() []oidc.GrantType {
	return append(c.Client.GrantTypes(), oidc.GrantTypeRefreshToken)
}

// e2eUsers is the example user store, which also knows the service user
// (the subject of its client credentials tokens) as a user, without
// which the storage answers neither userinfo nor introspection for them.
type e2eUsers struct{ storage.UserStore }

func (u e2eUsers) GetUserByID(id string) *storage.User {
	if id == oidcServiceID {
		return &storage.User{ID: id, Username: id}
	}
	return u.UserStore.GetUserByID(id)
}

// tokens is what the token endpoint has answered so far.
func (o *oidcOP) tokens() []oidcTokens {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]oidcTokens(nil), o.issued...)
}

func (o *oidcOP) revocations() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int(nil), o.revokes...)
}

// userinfoStatus calls the userinfo endpoint with the access token.
func (o *oidcOP) userinfoStatus(t *testing.T, access string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, o.userinfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	return do(t, req)
}

// refreshStatus makes a refresh_token grant with refresh as the client.
func (o *oidcOP) refreshStatus(t *testing.T, refresh string) (int, string) {
	t.Helper()
	return o.refreshStatusAs(t, oidcClientID, oidcClientSecret, refresh)
}

// refreshStatusAs makes a refresh_token grant with refresh as the client
// id.
func (o *oidcOP) refreshStatusAs(t *testing.T, id, secret, refresh string) (int, string) {
	t.Helper()
	return o.postForm(t, o.tokenURL, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
}

// introspection asks the introspection endpoint about token, as the
// service user (the resource server of its client credentials tokens),
// and returns its answer's active and sub.
func (o *oidcOP) introspection(t *testing.T, token string) (active bool, sub string) {
	t.Helper()
	code, body := o.postForm(t, o.introspect, oidcServiceID, oidcServiceSecret, url.Values{"token": {token}})
	var ans struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &ans) != nil {
		t.Fatalf("introspection: %d %s", code, body)
	}
	return ans.Active, ans.Sub
}

func (o *oidcOP) postForm(t *testing.T, endpoint, id, secret string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestOIDCProvider: a provider declared by its issuer alone, against a
// real OpenID Connect server: apply discovers the endpoints and connects
// through its login page, token prints an access token the OP accepts,
// a forced refresh works, and destroy revokes the grant at the OP.
func TestOIDCProvider(t *testing.T) {
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t))
	o := startOIDCOP(t, redirect)
	dir := t.TempDir()
	writeConfig(t, dir, fmt.Sprintf(`
provider "zitadel" {
  issuer = %q
}
app "e2e" {
  provider      = "zitadel"
  client_id     = %q
  client_secret = %q
  redirect_uri  = %q
}
connection "me" {
  app    = app.e2e
  scopes = ["openid", "offline_access"]
}
`, o.issuer, oidcClientID, oidcClientSecret, redirect))
	browserLog := filepath.Join(dir, "browser.log")
	run := func(args ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "oauthform", append([]string{"-chdir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "NO_COLOR=1", "OAUTHFORM_LOG=",
			"OAUTHFORM_PASSPHRASE=", "OAUTHFORM_BROWSER=oidcbrowser", "TESTBROWSER_LOG="+browserLog,
			"OIDCBROWSER_USER=test-user@127.0.0.1", "OIDCBROWSER_PASSWORD="+oidcPassword)
		var o, x bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &x
		if err := cmd.Run(); err != nil {
			log, _ := os.ReadFile(browserLog)
			t.Fatalf("oauthform %s: %v\nstdout:\n%s\nstderr:\n%s\nbrowser:\n%s", strings.Join(args, " "), err, &o, &x, log)
		}
		return o.String(), x.String()
	}

	out, _ := run("apply", "-auto-approve")
	if !strings.Contains(out, "Apply complete! 1 connected") {
		t.Fatalf("apply output:\n%s", out)
	}
	if log, err := os.ReadFile(browserLog); err != nil || !strings.HasPrefix(string(log), "status: 200\n") {
		t.Errorf("the browser's last page (%v):\n%s", err, log)
	}
	issued := o.tokens()
	if len(issued) != 1 || issued[0].AccessToken == "" || issued[0].RefreshToken == "" {
		t.Fatalf("the OP's token endpoint answered %+v; want one answer with an access and a refresh token", issued)
	}

	tok, _ := run("token", "me")
	tok = strings.TrimSpace(tok)
	if tok != issued[0].AccessToken {
		t.Errorf("token printed %q, want the access token the OP issued", tok)
	}
	if code, body := o.userinfoStatus(t, tok); code != http.StatusOK || !strings.Contains(body, `"sub":"id1"`) {
		t.Errorf("userinfo with the token: %d %s", code, body)
	}

	// -min-valid beyond the access token's life (5 minutes at this OP)
	// forces a refresh.
	refreshed, _ := run("token", "-min-valid", "1h", "me")
	refreshed = strings.TrimSpace(refreshed)
	issued = o.tokens()
	if len(issued) != 2 || refreshed == tok || refreshed != issued[1].AccessToken {
		t.Fatalf("token -min-valid 1h printed %q (before %q); the OP issued %+v", refreshed, tok, issued)
	}
	if code, body := o.userinfoStatus(t, refreshed); code != http.StatusOK {
		t.Errorf("userinfo with the refreshed token: %d %s", code, body)
	}
	if code, _ := o.userinfoStatus(t, tok); code == http.StatusOK {
		t.Error("the OP still accepts the access token the refresh replaced")
	}
	last := issued[1]

	// The state keeps the discovered endpoints, so plan knows the OP
	// revokes without fetching its metadata.
	out, _ = run("plan", "-destroy", "-json")
	if !strings.Contains(out, `"can_revoke": true`) || strings.Contains(out, "revoke_by_discovery") {
		t.Errorf("plan -destroy -json does not say the OP can revoke:\n%s", out)
	}

	out, errOut := run("destroy", "-auto-approve")
	if !strings.Contains(out, "Destroy complete! 1 disconnected.") || !strings.Contains(out+errOut, "revoked at zitadel") {
		t.Errorf("destroy output:\n%s\nstderr:\n%s", out, errOut)
	}
	if strings.Contains(out+errOut, "Revoke these at the provider") || strings.Contains(out+errOut, "not revoked") {
		t.Errorf("destroy says to revoke by hand:\n%s\nstderr:\n%s", out, errOut)
	}
	if got := o.revocations(); len(got) != 1 || got[0] != http.StatusOK {
		t.Errorf("revocation endpoint statuses %v, want one 200", got)
	}
	if code, body := o.userinfoStatus(t, last.AccessToken); code == http.StatusOK {
		t.Errorf("the OP still accepts the revoked grant's access token: %d %s", code, body)
	}
	// (Last: a refresh that works would also retire that access token.)
	if code, body := o.refreshStatus(t, last.RefreshToken); code == http.StatusOK {
		t.Errorf("the OP still refreshes with the revoked refresh token: %d %s", code, body)
	}
}

var (
	formActionRE = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
	hiddenRE     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// oidcBrowser is the browser of TestOIDCProvider (OAUTHFORM_BROWSER=
// oidcbrowser): it opens the authorization URL, follows the OP to its
// login page, submits the form with $OIDCBROWSER_USER and
// $OIDCBROWSER_PASSWORD, follows the redirects back to oauthform's
// callback, and writes the page oauthform answered into $TESTBROWSER_LOG
// (status line first).
func oidcBrowser() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oidcbrowser URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := signIn(ctx, os.Args[len(os.Args)-1]); err != nil {
		writeBrowserLog(fmt.Sprintf("sign-in failed: %v\n", err))
		os.Exit(1)
	}
}

func signIn(ctx context.Context, authURL string) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(req *http.Request, err error) (*http.Response, string, error) {
		if err != nil {
			return nil, "", err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, string(body), err
	}
	resp, page, err := get(http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil))
	if err != nil {
		return err
	}
	m := formActionRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return fmt.Errorf("no login form at %s (status %d):\n%s", resp.Request.URL.Redacted(), resp.StatusCode, page)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return err
	}
	form := url.Values{"username": {os.Getenv("OIDCBROWSER_USER")}, "password": {os.Getenv("OIDCBROWSER_PASSWORD")}}
	for _, h := range hiddenRE.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err == nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, page, err = get(req, err)
	if err != nil {
		return err
	}
	if resp.Request.URL.Path != "/callback" {
		return fmt.Errorf("the login ended at %s (status %d), not oauthform's callback:\n%s", resp.Request.URL.Redacted(), resp.StatusCode, page)
	}
	writeBrowserLog(fmt.Sprintf("status: %d\n%s\n", resp.StatusCode, page))
	return nil
}

// oidcCommand is oauthform run in dir with no browser (the device
// grant's person is the test, the client credentials grant has none).
func oidcCommand(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "oauthform", append([]string{"-chdir", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "NO_COLOR=1", "OAUTHFORM_LOG=",
		"OAUTHFORM_PASSPHRASE=", "OAUTHFORM_BROWSER=false")
	return cmd
}

// oidcRun runs oauthform in dir and returns its output and exit code.
func oidcRun(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := oidcCommand(ctx, dir, args...)
	var o, x bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &x
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil || ctx.Err() != nil {
		t.Fatalf("oauthform %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &o, &x)
	}
	return o.String(), x.String(), cmd.ProcessState.ExitCode()
}

// oidcMust runs oauthform in dir and fails the test unless it succeeds.
func oidcMust(t *testing.T, dir string, args ...string) (stdout, stderr string) {
	t.Helper()
	o, x, code := oidcRun(t, dir, args...)
	if code != 0 {
		t.Fatalf("oauthform %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, o, x)
	}
	return o, x
}

var (
	deviceAddrRE = regexp.MustCompile(`(?m)^To authorize (\S+), open this address on any device:\n(\S+)\nand enter the code: (\S+)$`)
	confirmRE    = regexp.MustCompile(`location\.href='([^']*)'`)
)

// applyDevice runs apply -auto-approve in dir and plays the person of its
// device grant: it reads the verification address and the user code from
// apply's output as apply waits, and answers at the OP's pages, allowing
// or denying. It returns apply's output, exit code and the user code.
func applyDevice(t *testing.T, dir string, allow bool) (stdout, stderr string, code int, userCode string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := oidcCommand(ctx, dir, "apply", "-auto-approve")
	var x bytes.Buffer
	cmd.Stderr = &x
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	personErr := make(chan error, 1)
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if userCode != "" {
			continue
		}
		if m := deviceAddrRE.FindStringSubmatch(out.String()); m != nil {
			userCode = m[3]
			go func() { personErr <- answerDevice(ctx, m[2], m[3], allow) }()
		}
	}
	err = cmd.Wait()
	if err != nil && cmd.ProcessState == nil || ctx.Err() != nil {
		t.Fatalf("apply: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &x)
	}
	if userCode == "" {
		t.Fatalf("apply printed no verification address and user code:\n%s\nstderr:\n%s", &out, &x)
	}
	if err := <-personErr; err != nil {
		t.Fatalf("the person at the OP's device pages: %v\napply's output:\n%s\nstderr:\n%s", err, &out, &x)
	}
	return out.String(), x.String(), cmd.ProcessState.ExitCode(), userCode
}

// answerDevice is the person at the example OP's device pages: the user
// code form at the verification address, the login form (the test user),
// and the confirmation page's allow or deny.
func answerDevice(ctx context.Context, verificationURI, userCode string, allow bool) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	send := func(method, target string, form url.Values) (*http.Response, string, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			return nil, "", err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		page, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s %s: status %d:\n%s", method, target, resp.StatusCode, page)
		}
		return resp, string(page), err
	}
	// The user code form posts back to its own address.
	resp, page, err := send(http.MethodGet, verificationURI, nil)
	if err != nil {
		return err
	}
	if !strings.Contains(page, `name="user_code"`) {
		return fmt.Errorf("no user code form at %s:\n%s", verificationURI, page)
	}
	resp, page, err = send(http.MethodPost, resp.Request.URL.String(), url.Values{"user_code": {userCode}})
	if err != nil {
		return err
	}
	m := formActionRE.FindStringSubmatch(page)
	if m == nil {
		return fmt.Errorf("no login form after the user code:\n%s", page)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return err
	}
	form := url.Values{"username": {"test-user@127.0.0.1"}, "password": {oidcPassword}}
	for _, h := range hiddenRE.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	resp, page, err = send(http.MethodPost, action.String(), form)
	if err != nil {
		return err
	}
	want := "action=denied"
	if allow {
		want = "action=allowed"
	}
	var confirm string
	for _, b := range confirmRE.FindAllStringSubmatch(page, -1) {
		if strings.HasSuffix(b[1], want) {
			confirm = html.UnescapeString(b[1])
		}
	}
	if confirm == "" {
		return fmt.Errorf("no %s button on the confirmation page (the login failed?):\n%s", want, page)
	}
	u, err := resp.Request.URL.Parse(confirm)
	if err != nil {
		return err
	}
	_, page, err = send(http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if done := "Device authorization " + strings.TrimPrefix(want, "action="); !strings.HasPrefix(page, done) {
		return fmt.Errorf("the confirmation answered %q, want %q", page, done)
	}
	return nil
}

const oidcDeviceConfig = `
provider "zitadel" {
  issuer = %q
}
app "tv" {
  provider      = "zitadel"
  client_id     = %q
  client_secret = %q
}
connection "tv" {
  app    = app.tv
  grant  = "device_code"
  scopes = ["openid", "offline_access"]
}
`

// TestOIDCDeviceGrant: the device authorization grant (issue 17) with a
// provider declared by its issuer alone, against the real OP: apply
// prints the verification address and the user code and waits, the
// person approves at the OP's device pages, the connection is active,
// its token is accepted, a forced refresh rotates and works, destroy
// revokes.
func TestOIDCDeviceGrant(t *testing.T) {
	o := startOIDCOP(t, "http://127.0.0.1:1/unused")
	dir := t.TempDir()
	writeConfig(t, dir, fmt.Sprintf(oidcDeviceConfig, o.issuer, oidcDeviceClientID, oidcDeviceClientSecret))

	out, errOut, code, userCode := applyDevice(t, dir, true)
	if code != 0 || !strings.Contains(out, "tv: Connected") || !strings.Contains(out, "Apply complete! 1 connected") {
		t.Fatalf("apply exited %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := strings.Count(out+errOut, "and enter the code: "); n != 1 {
		t.Errorf("apply showed the user code %d times, want once:\n%s", n, out)
	}
	if !regexp.MustCompile(`^[B-Z]{4}-[B-Z]{4}$`).MatchString(userCode) {
		t.Errorf("user code %q is not the OP's base-20 XXXX-XXXX", userCode)
	}
	issued := o.tokens()
	if len(issued) != 1 || issued[0].AccessToken == "" || issued[0].RefreshToken == "" {
		t.Fatalf("the OP's token endpoint answered %+v; want one answer with an access and a refresh token", issued)
	}
	if out, _ := oidcMust(t, dir, "state", "show", "tv", "-json"); !strings.Contains(out, `"status": "active"`) {
		t.Errorf("state show tv -json:\n%s", out)
	}

	tok, _ := oidcMust(t, dir, "token", "tv")
	tok = strings.TrimSpace(tok)
	if tok != issued[0].AccessToken {
		t.Errorf("token printed %q, want the access token the OP issued", tok)
	}
	if code, body := o.userinfoStatus(t, tok); code != http.StatusOK || !strings.Contains(body, `"sub":"id1"`) {
		t.Errorf("userinfo with the token: %d %s", code, body)
	}

	// -min-valid beyond the access token's life (5 minutes) forces a
	// refresh; the OP rotates the refresh token.
	refreshed, _ := oidcMust(t, dir, "token", "-min-valid", "1h", "tv")
	refreshed = strings.TrimSpace(refreshed)
	issued = o.tokens()
	if len(issued) != 2 || refreshed == tok || refreshed != issued[1].AccessToken {
		t.Fatalf("token -min-valid 1h printed %q (before %q); the OP issued %+v", refreshed, tok, issued)
	}
	if issued[1].RefreshToken == "" || issued[1].RefreshToken == issued[0].RefreshToken {
		t.Errorf("the refresh did not rotate the refresh token: %+v", issued)
	}
	if code, body := o.userinfoStatus(t, refreshed); code != http.StatusOK || !strings.Contains(body, `"sub":"id1"`) {
		t.Errorf("userinfo with the refreshed token: %d %s", code, body)
	}
	if code, _ := o.userinfoStatus(t, tok); code == http.StatusOK {
		t.Error("the OP still accepts the access token the refresh replaced")
	}
	last := issued[1]

	out, errOut = oidcMust(t, dir, "destroy", "-auto-approve")
	if !strings.Contains(out, "Destroy complete! 1 disconnected.") || !strings.Contains(out+errOut, "revoked at zitadel") {
		t.Errorf("destroy output:\n%s\nstderr:\n%s", out, errOut)
	}
	if strings.Contains(out+errOut, "Revoke these at the provider") || strings.Contains(out+errOut, "not revoked") {
		t.Errorf("destroy says to revoke by hand:\n%s\nstderr:\n%s", out, errOut)
	}
	if got := o.revocations(); len(got) == 0 || slices.ContainsFunc(got, func(c int) bool { return c != http.StatusOK }) {
		t.Errorf("revocation endpoint statuses %v, want 200s", got)
	}
	if code, body := o.userinfoStatus(t, last.AccessToken); code == http.StatusOK {
		t.Errorf("the OP still accepts the revoked grant's access token: %d %s", code, body)
	}
	if code, body := o.refreshStatusAs(t, oidcDeviceClientID, oidcDeviceClientSecret, last.RefreshToken); code == http.StatusOK {
		t.Errorf("the OP still refreshes with the revoked refresh token: %d %s", code, body)
	}
}

// TestOIDCDeviceDenied: the person denies at the OP's device page: apply
// exits 1 naming the connection, and the state has nothing for it.
func TestOIDCDeviceDenied(t *testing.T) {
	o := startOIDCOP(t, "http://127.0.0.1:1/unused")
	dir := t.TempDir()
	writeConfig(t, dir, fmt.Sprintf(oidcDeviceConfig, o.issuer, oidcDeviceClientID, oidcDeviceClientSecret))

	out, errOut, code, _ := applyDevice(t, dir, false)
	if code != 1 || !strings.Contains(errOut, "Failed to connect tv") || !strings.Contains(errOut, "access_denied") {
		t.Errorf("apply exited %d, want 1 naming tv and access_denied:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out, "tv: Connected") {
		t.Errorf("apply says tv connected:\n%s", out)
	}
	if got := o.tokens(); len(got) != 0 {
		t.Errorf("the OP issued tokens: %+v", got)
	}
	// show lists the declared connection, not connected, with no tokens;
	// the state has no record of it.
	out, _ = oidcMust(t, dir, "show", "-json")
	var shown struct {
		Connections []struct {
			Name            string `json:"name"`
			Connected       bool   `json:"connected"`
			Status          string `json:"status"`
			HasAccessToken  bool   `json:"has_access_token"`
			HasRefreshToken bool   `json:"has_refresh_token"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("show -json: %v\n%s", err, out)
	}
	for _, c := range shown.Connections {
		if c.Name == "tv" && (c.Connected || c.Status != "not_connected" || c.HasAccessToken || c.HasRefreshToken) {
			t.Errorf("show -json has something for tv:\n%s", out)
		}
	}
	if out, _ := oidcMust(t, dir, "state", "list"); strings.Contains(out, "tv") {
		t.Errorf("state list has tv:\n%s", out)
	}
	if out, errOut, code := oidcRun(t, dir, "state", "show", "tv"); code == 0 {
		t.Errorf("state show tv succeeded:\n%s\nstderr:\n%s", out, errOut)
	}
}

// TestOIDCClientCredentials: a client credentials connection (issue 17)
// against the real OP, the example storage's service user: apply needs
// no person and no browser; the token is active at the OP's
// introspection endpoint; 20 concurrent `token -min-valid 2h` (beyond the
// token's 5 minutes, so each would renew) make the OP issue exactly one
// new token, and all 20 print it.
func TestOIDCClientCredentials(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("waits for the token processes through /proc")
	}
	o := startOIDCOP(t, "http://127.0.0.1:1/unused")
	dir := t.TempDir()
	writeConfig(t, dir, fmt.Sprintf(`
provider "zitadel" {
  issuer = %q
}
app "svc" {
  provider      = "zitadel"
  client_id     = %q
  client_secret = %q
}
connection "svc" {
  app    = app.svc
  grant  = "client_credentials"
  scopes = ["openid"]
}
`, o.issuer, oidcServiceID, oidcServiceSecret))

	out, errOut := oidcMust(t, dir, "apply", "-auto-approve", "-no-browser")
	if !strings.Contains(out, "svc: Connected") || !strings.Contains(out, "Apply complete! 1 connected") || strings.Contains(out, "Grant 1 of") {
		t.Fatalf("apply output:\n%s\nstderr:\n%s", out, errOut)
	}
	issued := o.tokens()
	if len(issued) != 1 || issued[0].AccessToken == "" {
		t.Fatalf("the OP's token endpoint answered %+v; want one access token", issued)
	}
	tok, _ := oidcMust(t, dir, "token", "svc")
	tok = strings.TrimSpace(tok)
	if tok != issued[0].AccessToken {
		t.Errorf("token printed %q, want the access token the OP issued", tok)
	}
	if active, sub := o.introspection(t, tok); !active || sub != oidcServiceID {
		t.Errorf("introspection of the token: active %v, sub %q", active, sub)
	}
	if active, _ := o.introspection(t, tok+"x"); active {
		t.Error("introspection says a token the OP never issued is active")
	}

	// The 20 must all be waiting for the connection's lock when the one
	// holding it gets its answer (one that starts after would rightly
	// renew again): the OP holds back its first answer until each of
	// them has the lock file open, which it does only after noting when
	// it asked.
	var lockFile string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "svc.lock" && strings.HasSuffix(filepath.Dir(p), ".locks") {
			lockFile = p
		}
		return nil
	})
	if lockFile == "" {
		t.Fatal("no lock file for svc in " + dir)
	}
	const n = 20
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var (
		pidMu sync.Mutex
		pids  []int
		gate  sync.Once
	)
	o.mu.Lock()
	o.beforeToken = func() {
		gate.Do(func() {
			for ctx.Err() == nil {
				pidMu.Lock()
				all := len(pids) == n && !slices.ContainsFunc(pids, func(pid int) bool { return !hasOpen(pid, lockFile) })
				pidMu.Unlock()
				if all {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	o.mu.Unlock()
	outs := make([]string, n)
	errs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := oidcCommand(ctx, dir, "token", "-min-valid", "2h", "svc")
			var o, x bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &x
			if err := cmd.Start(); err != nil {
				errs[i] = err.Error()
				return
			}
			pidMu.Lock()
			pids = append(pids, cmd.Process.Pid)
			pidMu.Unlock()
			if err := cmd.Wait(); err != nil {
				errs[i] = fmt.Sprintf("%v: %s", err, &x)
			}
			outs[i] = strings.TrimSpace(o.String())
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the 20 token processes did not finish in time")
	}
	issued = o.tokens()
	if len(issued) != 2 {
		t.Fatalf("the OP issued %d new tokens for the 20 token -min-valid 2h, want 1", len(issued)-1)
	}
	renewed := issued[1].AccessToken
	if renewed == tok {
		t.Fatal("the OP issued the same token again")
	}
	for i := range n {
		if errs[i] != "" || outs[i] != renewed {
			t.Errorf("token process %d printed %q (error %q), want the one new token %q", i, outs[i], errs[i], renewed)
		}
	}
	if active, _ := o.introspection(t, renewed); !active {
		t.Error("introspection says the renewed token is not active")
	}
}

// hasOpen says whether process pid has path open.
func hasOpen(pid int, path string) bool {
	fds := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(fds)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && p == path {
			return true
		}
	}
	return false
}
