package main

import (
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// An end-to-end test against a real OpenID Connect provider: zitadel's
// OP library (github.com/zitadel/oidc/v3/pkg/op) with its example storage,
// run in the test process on 127.0.0.1, with a small login page of our
// own in front of it. oauthform knows only the issuer and discovers the
// endpoints; the browser (oidcbrowser) signs in as a person would.

const (
	oidcClientID     = "oauthform-e2e"
	oidcClientSecret = "e2e-secret"
	oidcPassword     = "verysecure" // the example storage's users' password
)

// oidcOP is a running zitadel OP and what its token and revocation
// endpoints answered.
type oidcOP struct {
	issuer   string
	userinfo string // its userinfo endpoint
	tokenURL string // its token endpoint

	mu      sync.Mutex
	issued  []oidcTokens // token endpoint answers (200s), in order
	revokes []int        // revocation endpoint statuses
}

type oidcTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// startOIDCOP starts the OP with one confidential web client whose only
// redirect URI is redirect.
func startOIDCOP(t *testing.T, redirect string) *oidcOP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	o := &oidcOP{issuer: "http://" + srv.Listener.Addr().String()}
	st := storage.NewStorageWithClients(storage.NewUserStore(o.issuer), map[string]*storage.Client{
		oidcClientID: storage.WebClient(oidcClientID, oidcClientSecret, redirect),
	})
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             sha256.Sum256([]byte("oauthform e2e")),
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
	}, st, op.StaticIssuer(o.issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	o.userinfo = provider.UserinfoEndpoint().Absolute(o.issuer)
	o.tokenURL = provider.TokenEndpoint().Absolute(o.issuer)
	callback := op.AuthCallbackURL(provider)
	mux := http.NewServeMux()
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
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	req, err := http.NewRequest(http.MethodPost, o.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(oidcClientID, oidcClientSecret)
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
