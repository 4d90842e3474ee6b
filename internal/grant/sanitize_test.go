package grant

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
)

// TestCallbackErrorShownSanitized: a callback whose error parameters carry
// escape sequences (a title change, a clear screen, a fake line, an 8-bit
// CSI, a bidi override) and echo the code and the client's credentials in
// encoded forms: the page, the log and the grant's error show none of
// them.
func TestCallbackErrorShownSanitized(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	ar, err := f.client.AuthCodeURL([]string{"sms"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const code = "c0de/with+plus"
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(testClientID) + ":" + url.QueryEscape(testClientSecret)))
	q := url.Values{
		"state": {ar.State},
		"code":  {code},
		"error": {"access_denied\x1b]0;pwned\x07"},
		"error_description": {"\x1b[2Jdenied\r\nApply complete! Resources: 1 added. \x9b31m\u202eevil code=" +
			url.QueryEscape(code) + " Basic " + basic + " state=" + url.QueryEscape(ar.State)},
	}
	var logs bytes.Buffer
	s := &session{req: Request{Client: f.client}, secrets: []secret.Secret{secret.New(ar.State), ar.Verifier, f.client.ClientSecret}}
	h := &callbackHandler{path: "/callback", conn: "sms_main", provider: "sms77", client: f.client, ar: ar,
		ctx: context.Background(), log: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace}),
		scrub: s.scrub, results: make(chan result, 1)}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/callback?"+q.Encode(), nil))
	res := <-h.results
	var pe *providers.Error
	if !errors.As(res.err, &pe) || pe.Kind != providers.KindAccessDenied {
		t.Fatalf("result = %v, want access_denied", res.err)
	}
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "denied Apply complete!") {
		t.Errorf("page = %d\n%s", rec.Code, rec.Body)
	}
	for what, text := range map[string]string{"the page": rec.Body.String(), "the log": logs.String(), "the error": res.err.Error()} {
		if strings.ContainsAny(text, "\x1b\r\u202e\u009b") || strings.IndexByte(text, 0x9b) >= 0 || strings.Contains(text, "pwned") {
			t.Errorf("%s keeps an escape sequence or a control: %q", what, text)
		}
		assertNoSecrets(t, what, text, code, url.QueryEscape(code), basic, ar.State, testClientSecret)
	}
}
