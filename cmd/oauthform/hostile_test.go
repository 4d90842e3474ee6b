package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// hostileDescription is a provider's error_description that attacks the
// terminal: a title change, a clear screen, a fake line of oauthform's,
// an 8-bit CSI and a bidi override.
const hostileDescription = "\x1b]0;pwned\x07\x1b[2Jrejected\r\nApply complete! Resources: 1 added, 0 changed, 0 destroyed. \u009b31mred \u202eevil"

// secretForms are the forms of v a provider could echo: raw, percent- and
// form-encoded in both cases of hex, and JSON-escaped.
func secretForms(v string) []string {
	lower := regexp.MustCompile(`%[0-9A-F]{2}`)
	var forms []string
	for _, f := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
		forms = append(forms, f, lower.ReplaceAllStringFunc(f, strings.ToLower))
	}
	j, _ := json.Marshal(v)
	inner := string(j[1 : len(j)-1])
	return append(forms, inner, strings.ReplaceAll(inner, "/", `\/`))
}

// checkOutput fails when out holds a form of a secret, an escape sequence
// or a control character other than the line breaks oauthform writes.
func checkOutput(t *testing.T, what, out string, forms []string) {
	t.Helper()
	for _, f := range forms {
		if strings.Contains(out, f) {
			t.Errorf("%s shows the secret form %q:\n%s", what, f, out)
		}
	}
	if strings.IndexByte(out, 0x1b) >= 0 || strings.IndexByte(out, 0x9b) >= 0 || strings.Contains(out, "\r") {
		t.Errorf("%s holds ESC, 0x9b or CR: %q", what, out)
	}
	for _, r := range out {
		if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) || r == 0x202e {
			t.Errorf("%s holds the control %U: %q", what, r, out)
			break
		}
	}
	if strings.Contains(out, "pwned") {
		t.Errorf("%s keeps the body of an OSC sequence: %q", what, out)
	}
}

// TestHostileProviderErrorNeverReachesOutput: a provider answers a refresh
// with an error that echoes the request (the Basic Authorization header,
// the form body with the refresh token) under a description full of
// escape sequences. No form of the client secret, the Basic credentials
// or the refresh token, and no escape sequence, reaches token's error,
// show, show -json, state show (human and JSON) or the state file.
func TestHostileProviderErrorNeverReachesOutput(t *testing.T) {
	// Basic: the client secret is in the Authorization header; body: it is
	// form-encoded in the body (cs%2Babc%2Fdef%26g%3Dh).
	for _, auth := range []string{"basic", "body"} {
		t.Run(auth, func(t *testing.T) { testHostileProviderError(t, auth) })
	}
}

func testHostileProviderError(t *testing.T, clientAuth string) {
	const clientSecret = "cs+abc/def&g=h"
	emu, dir, ts := tokenFixtureSecret(t, time.Minute, clientSecret)
	t.Chdir(dir)
	cfgPath := filepath.Join(dir, "main.oauth.hcl")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "  token_url", "  client_auth   = \""+clientAuth+"\"\n  token_url", 1))
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	// The emulator's sms77 takes Basic only, but the fault answers first.
	emu.SetFaults(emulator.Faults{FailNext: 1, FailStatus: 400, EchoRequest: true, Description: hostileDescription})

	forms := append(secretForms(clientSecret), secretForms(ts.RefreshToken)...)
	forms = append(forms, secretForms(ts.AccessToken)...)
	for _, pair := range []string{url.QueryEscape("cid") + ":" + url.QueryEscape(clientSecret), "cid:" + clientSecret} {
		b64 := base64.StdEncoding.EncodeToString([]byte(pair))
		forms = append(forms, b64, strings.TrimRight(b64, "="))
	}

	code, out, errOut := runCLI("token", "-min-valid=2h", "sms_main")
	if code != 1 || emu.Faults().FailNext != 0 || !strings.Contains(errOut, "request: Authorization") {
		t.Fatalf("token against the hostile error: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	checkOutput(t, "token's stdout", out, forms)
	checkOutput(t, "token's stderr", errOut, forms)
	if !strings.Contains(errOut, secret.Redacted) || !strings.Contains(errOut, "Apply complete!") {
		t.Errorf("token's stderr should show the provider's words, redacted:\n%s", errOut)
	}

	code, out, errOut = runCLI("show", "-json")
	if code != 0 {
		t.Fatalf("show -json: exit %d: %s", code, errOut)
	}
	checkOutput(t, "show -json", out, forms)
	var raw []byte
	var js struct {
		Connections []struct {
			LastError *struct{ Kind, Code, Message string } `json:"last_error"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js.Connections) != 1 || js.Connections[0].LastError == nil {
		t.Fatalf("show -json: %v\n%s", err, out)
	}
	le := js.Connections[0].LastError
	decoded := le.Kind + " " + le.Code + " " + le.Message
	checkOutput(t, "show -json's last_error, decoded", decoded, forms)
	if !strings.Contains(le.Message, secret.Redacted) || !strings.Contains(le.Message, "Apply complete!") {
		t.Errorf("last_error.message = %q, want the provider's words, redacted", le.Message)
	}
	for _, args := range [][]string{{"show"}, {"show", "sms_main"}, {"state", "show", "sms_main"}, {"state", "show", "-json", "sms_main"}, {"state", "list"}} {
		code, out, errOut := runCLI(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		checkOutput(t, strings.Join(args, " "), out+errOut, forms)
	}
	raw, err = os.ReadFile(filepath.Join(dir, ".oauthform", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The state file holds the tokens themselves (unencrypted here), so
	// only the client secret's forms and the escapes are looked for.
	clientForms := secretForms(clientSecret)
	for _, f := range clientForms {
		if strings.Contains(string(raw), f) {
			t.Errorf("the state file holds the client secret form %q", f)
		}
	}
	if strings.Contains(string(raw), "pwned") || strings.Contains(string(raw), "\x1b[2J") || strings.Contains(string(raw), `\u001b`) {
		t.Error("the state file holds the provider's escape sequences")
	}
}

// TestShowSanitizesStoredText: a state written by an older oauthform,
// whose last_error (and granted scopes, token type, metadata) hold a
// provider's escape sequences as they came, is shown without them by
// show, show -json and state show.
func TestShowSanitizesStoredText(t *testing.T) {
	_, dir := tokenFixture(t, time.Hour)
	t.Chdir(dir)
	st, err := bolt.Open(filepath.Join(dir, ".oauthform", "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(ctx, "sms_main")
	if err != nil {
		t.Fatal(err)
	}
	rec.LastError = &state.LastError{Kind: "invalid_request", Code: "bad\x1b[2J", Message: hostileDescription + " \x9b2J", At: time.Now()}
	rec.GrantedScopes = []string{"sms\x1b]0;pwned\x07"}
	rec.TokenType = "Bearer\x1b[31m"
	rec.Meta = map[string]any{"who\x1b[1m": []any{map[string]any{"name": "x\x1b]0;pwned\x07\u202e"}}}
	if err := st.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"show"}, {"show", "sms_main"}, {"show", "-json"}, {"state", "show", "sms_main"}, {"state", "show", "-json", "sms_main"}} {
		code, out, errOut := runCLI(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		checkOutput(t, strings.Join(args, " "), out, nil)
		if strings.Contains(out, `\u001b`) || strings.Contains(out, `\u009b`) || strings.Contains(out, "\u202e") {
			t.Errorf("%v: JSON-escaped controls in the output:\n%s", args, out)
		}
		if len(args) > 1 && args[len(args)-1] == "sms_main" && !strings.Contains(out, "Apply complete!") {
			t.Errorf("%v: the last error is not shown:\n%s", args, out)
		}
	}
}
