package providers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oauthform/oauthform/internal/secret"
)

// leakForms are the ways a secret value v can be written in a provider's
// answer, computed here independently of scrub's own list: raw, percent-
// and form-encoded (upper and lower case hex), JSON-escaped (Go's HTML
// escapes, PHP's escaped slashes).
func leakForms(v string) []string {
	var forms []string
	add := func(f string) {
		if len(f) >= minSecret {
			forms = append(forms, f)
		}
	}
	for _, f := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
		add(f)
		add(lowerPercent(f))
	}
	add(url.Values{"client_secret": {v}}.Encode())
	if j, err := json.Marshal(v); err == nil {
		inner := string(j[1 : len(j)-1])
		add(inner)
		add(strings.ReplaceAll(inner, "/", `\/`))
	}
	return forms
}

// basicLeakForms are the forms of the Basic credentials of id and sec:
// the base64 of "id:secret" form-encoded (RFC 6749 §2.3.1) and raw.
func basicLeakForms(id, sec string) []string {
	var forms []string
	for _, pair := range []string{url.QueryEscape(id) + ":" + url.QueryEscape(sec), id + ":" + sec} {
		b64 := base64.StdEncoding.EncodeToString([]byte(pair))
		forms = append(forms, b64, strings.TrimRight(b64, "="), url.QueryEscape(b64))
	}
	return forms
}

var percentRE = regexp.MustCompile(`%[0-9A-F]{2}`)

func lowerPercent(s string) string { return percentRE.ReplaceAllStringFunc(s, strings.ToLower) }

// checkProviderText fails when s, a provider's words as oauthform keeps
// them, holds an escape sequence, a control or bidi character, invalid
// UTF-8, or any form of any of the secrets.
func checkProviderText(t *testing.T, what, s string, forms []string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s is not UTF-8: %q", what, s)
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Errorf("%s keeps the control %U: %q", what, r, s)
			break
		}
	}
	// The ellipsis of a clip is not the provider's.
	kept := redactedOut(strings.TrimSuffix(s, "…"))
	for _, f := range forms {
		if !strings.Contains(f, "\x00") && strings.Contains(kept, f) {
			t.Errorf("%s shows the secret form %q: %q", what, f, s)
		}
	}
}

func TestScrubTextEveryForm(t *testing.T) {
	const id = "my client@example"
	secrets := map[string]string{
		"client secret": "cs+abc/def&g=h <é>",
		"code":          "1/c0de+xyz~!",
		"refresh token": "rt/rotating+token==",
		"verifier":      "Ver1fier-0123456789_abcdefghijklmnopqrstuvwx",
		"access token":  "at.eyJhbGciOi+/x",
	}
	c := &Client{ClientID: id, ClientSecret: secret.New(secrets["client secret"])}
	var extra []secret.Secret
	var all []string
	for name, v := range secrets {
		if name != "client secret" {
			extra = append(extra, secret.New(v))
		}
		all = append(all, leakForms(v)...)
	}
	basic := basicLeakForms(id, secrets["client secret"])
	all = append(all, basic...)
	var texts []string
	for _, f := range all {
		texts = append(texts, "the request had "+f+" in it")
	}
	texts = append(texts,
		"Authorization: Basic "+basic[0],
		"mixed case: "+strings.Replace(url.QueryEscape(secrets["client secret"]), "%2B", "%2b", 1),
		"\\u escapes in upper case: "+jsonUpper(secrets["client secret"]),
		"split by an escape sequence: cs+abc/\x1b[0mdef&g=h <é>",
	)
	for _, text := range texts {
		got := c.Scrub(text, extra...)
		checkProviderText(t, fmt.Sprintf("Scrub(%q)", text), got, all)
		if !strings.Contains(got, secret.Redacted) {
			t.Errorf("Scrub(%q) = %q: no redaction marker", text, got)
		}
	}
	// "Basic <b64>" is one marker, not "Basic (sensitive)".
	if got := c.Scrub("Authorization: Basic " + basic[0]); got != "Authorization: "+secret.Redacted {
		t.Errorf("Basic header: %q", got)
	}
	// Text without a secret is left alone, control characters aside.
	if got := c.Scrub("invalid_grant: the code has expired\r\n", extra...); got != "invalid_grant: the code has expired " {
		t.Errorf("plain text: %q", got)
	}
}

// jsonUpper is the JSON form of v with \u escapes in upper case.
func jsonUpper(v string) string {
	j, _ := json.Marshal(v)
	return regexp.MustCompile(`\\u[0-9a-f]{4}`).ReplaceAllStringFunc(string(j[1:len(j)-1]), func(e string) string {
		return `\u` + strings.ToUpper(e[2:])
	})
}

// echoServer is a provider whose every answer is an error echoing the
// request: its Authorization header and its body, in the shape mode says.
func echoServer(t *testing.T, mode string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		echo := fmt.Sprintf("Authorization: %s body: %s", r.Header.Get("Authorization"), body)
		switch mode {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			b, _ := json.Marshal(map[string]string{"error": "invalid_request", "error_description": echo})
			_, _ = w.Write(b)
		case "php":
			// PHP's json_encode: slashes escaped, non-ASCII as \u.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(map[string]string{"error": echo})
			_, _ = io.WriteString(w, asciiJSON(strings.ReplaceAll(b.String(), "/", `\/`)))
		case "form":
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, url.Values{"error": {"invalid_client"}, "error_description": {echo}}.Encode())
		case "html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<html><head><title>Denied: %s</title></head></html>", html.EscapeString(echo))
		case "escapes", "escapes-form":
			// A terminal attack: a title change, a clear screen, 8-bit
			// CSIs, a fake line and a bidi override. JSON cannot carry
			// the lone 0x9b byte (it decodes to U+FFFD); a form body can.
			fields := map[string]string{
				"error":             "invalid_grant\x1b[2J",
				"error_description": "\x1b]0;pwned\x07bad\x9b31m\u009b2J grant\r\nApply complete! Resources: 1 added \u202egnp.exe " + echo,
			}
			if mode == "escapes-form" {
				w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
				w.WriteHeader(http.StatusBadRequest)
				v := url.Values{}
				for k, f := range fields {
					v.Set(k, f)
				}
				_, _ = io.WriteString(w, v.Encode())
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			b, _ := json.Marshal(fields)
			_, _ = w.Write(b)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestProviderErrorEchoingTheRequest: a provider whose error echoes the
// Authorization header and the request body, in JSON, PHP-style JSON, a
// form body or an HTML title, for Basic, body and JSON client
// authentication: no form of any secret sent (client secret, code, PKCE
// verifier, refresh and access tokens) is in the *Error, and no escape
// sequence or control character either.
func TestProviderErrorEchoingTheRequest(t *testing.T) {
	const (
		id        = "the-client"
		clientSec = "cs+abc/def&g=h"
		code      = "1/c0de+value"
		refresh   = "rt/rotating+token"
		access    = "at+access/token"
	)
	for _, mode := range []string{"json", "php", "form", "html", "escapes", "escapes-form"} {
		for _, auth := range []ClientAuth{AuthBasic, AuthBody, AuthJSON} {
			t.Run(mode+"/"+string(auth), func(t *testing.T) {
				srv := echoServer(t, mode)
				p := Generic("acme")
				p.AuthorizeURL, p.TokenURL, p.RevokeURL = srv.URL+"/authorize", srv.URL+"/token", srv.URL+"/revoke"
				p.ClientAuth = auth
				c := &Client{Profile: p, ClientID: id, ClientSecret: secret.New(clientSec), RedirectURI: "http://127.0.0.1:8765/callback", MaxRetries: -1}
				req, err := c.AuthCodeURL(nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				var forms []string
				for _, v := range []string{clientSec, code, refresh, access, req.Verifier.Reveal()} {
					forms = append(forms, leakForms(v)...)
				}
				forms = append(forms, basicLeakForms(id, clientSec)...)
				ctx := context.Background()
				_, errX := c.Exchange(ctx, req, secret.New(code))
				_, errR := c.Refresh(ctx, secret.New(refresh))
				errV := c.Revoke(ctx, secret.New(access), secret.Secret{})
				for op, err := range map[string]error{"exchange": errX, "refresh": errR, "revoke": errV} {
					var pe *Error
					if !errors.As(err, &pe) {
						t.Fatalf("%s: err = %v, want an *Error", op, err)
					}
					checkProviderText(t, op+" Error()", pe.Error(), forms)
					checkProviderText(t, op+" Code", pe.Code, forms)
					checkProviderText(t, op+" Message", pe.Message, forms)
					if !strings.Contains(pe.Code+pe.Message, secret.Redacted) {
						t.Errorf("%s: Code %q, Message %q: the echo was not redacted", op, pe.Code, pe.Message)
					}
					if strings.ContainsAny(pe.Error(), "\x1b\r\n") || strings.IndexByte(pe.Error(), 0x9b) >= 0 {
						t.Errorf("%s: %q keeps an escape or a line break", op, pe.Error())
					}
				}
			})
		}
	}
}

// TestCallbackErrorIsSanitized: a callback's error and error_description
// reach the *Error without escape sequences, control characters or the
// code.
func TestCallbackErrorIsSanitized(t *testing.T) {
	c := &Client{Profile: Generic("acme"), ClientID: "the-client", ClientSecret: secret.New("cs+abc/def")}
	c.Profile.AuthorizeURL, c.Profile.TokenURL = "https://x.example/authorize", "https://x.example/token"
	req, err := c.AuthCodeURL(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{
		"state": {req.State},
		"code":  {"c0de/value+1"},
		"error": {"access_denied\x1b]0;pwned\x07"},
		"error_description": {"\x1b[2Jdenied\r\nApply complete! Resources: 1 added, 0 changed, 0 destroyed. code=" +
			url.QueryEscape("c0de/value+1") + " \x9b1;31mred \u202eevil"},
	}
	_, err = c.ParseCallback(q, req)
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != KindAccessDenied {
		t.Fatalf("err = %v, want access_denied", err)
	}
	forms := leakForms("c0de/value+1")
	for what, s := range map[string]string{"Error()": pe.Error(), "Code": pe.Code, "Message": pe.Message} {
		checkProviderText(t, what, s, forms)
		if strings.ContainsAny(s, "\x1b\r\n") || strings.IndexByte(s, 0x9b) >= 0 {
			t.Errorf("%s = %q keeps an escape or a line break", what, s)
		}
	}
	if pe.Code != "access_denied" || !strings.Contains(pe.Message, "denied Apply complete!") {
		t.Errorf("Code %q, Message %q", pe.Code, pe.Message)
	}
}

// TestTransportErrorIsScrubbed: a transport error's text (which may quote
// what was sent) is scrubbed too.
func TestTransportErrorIsScrubbed(t *testing.T) {
	c := &Client{Profile: Generic("acme"), ClientID: "id", ClientSecret: secret.New("cs+abc/def")}
	e := c.transportError("refresh", fmt.Errorf("proxy said: refresh_token=%s\x1b[2J", url.QueryEscape("rt/1+2")), c.sent(secret.New("rt/1+2")))
	checkProviderText(t, "Message", e.Message, append(leakForms("rt/1+2"), leakForms("cs+abc/def")...))
	checkProviderText(t, "Error()", e.Error(), leakForms("rt/1+2"))
}

// TestGrantedScopesSanitized: the granted scopes, which the state keeps
// and show prints, carry no escape sequence or control character.
func TestGrantedScopesSanitized(t *testing.T) {
	for _, body := range []string{
		`{"access_token":"at","expires_in":60,"scope":"sms\u001b]0;pwned\u0007 voice\r\nadmin"}`,
		`{"access_token":"at","expires_in":60,"scope":["sms\u001b]0;pwned\u0007","voice\r\nadmin"]}`,
	} {
		f := newFake(t, reply{body: body})
		c := testClient(t, "sms77", f)
		req, _ := c.AuthCodeURL(nil, nil)
		tok, err := c.Exchange(context.Background(), req, secret.New("the-code"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(tok.Scopes, ","); got != "sms,voice,admin" {
			t.Errorf("%s: Scopes = %q", body, tok.Scopes)
		}
	}
}
