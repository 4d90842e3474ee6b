package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// quirkTransport rewrites the form bodies of the requests oauthform sends to
// a provider's token, refresh and revoke endpoints, for the quirks
// golang.org/x/oauth2 cannot express (it only ever sends a url.Values form
// with RFC 6749 names):
//
//   - ParamAliases (Burner documents camelCase clientId, clientSecret,
//     redirectUri): x/oauth2 cannot rename or duplicate its own parameters,
//     so the alias names are added beside the standard ones.
//   - client_auth = "json": x/oauth2 has no JSON token requests, so the form
//     is re-encoded as one JSON object.
//   - code_raw (Buffer v1: "the code parameter must not be url encoded"):
//     url.Values.Encode turns "1/abc" into "1%2Fabc", so the code is written
//     with its slashes literal.
//
// Every other request passes through untouched.
type quirkTransport struct {
	base    http.RoundTripper
	profile *Profile
	// salvage, when set, notes the refresh_token of 2xx answers.
	salvage *salvager
}

func (t *quirkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err == nil && t.salvage != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		resp.Body = t.salvage.keep(resp.Body)
	}
	return resp, err
}

func (t *quirkTransport) roundTrip(req *http.Request) (*http.Response, error) {
	media, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if req.Body == nil || req.Method != http.MethodPost || media != "application/x-www-form-urlencoded" || !t.profile.rewritesForms() {
		return t.base.RoundTrip(req)
	}
	raw, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, fmt.Errorf("re-encoding the request body: %w", err)
	}
	body, ctype, err := t.profile.encodeForm(form)
	if err != nil {
		return nil, err
	}
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(strings.NewReader(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	r2.ContentLength = int64(len(body))
	r2.Header.Set("Content-Type", ctype)
	return t.base.RoundTrip(r2)
}

// rewritesForms reports whether encodeForm can write a form otherwise
// than url.Values.Encode, which is how x/oauth2 writes it: when it cannot,
// the request goes out as it is.
func (p *Profile) rewritesForms() bool {
	return len(p.ParamAliases) > 0 || p.ClientAuth == AuthJSON || p.CodeRaw
}

// encodeForm writes form the way the profile wants it on the wire and
// returns the body and its content type.
func (p *Profile) encodeForm(form url.Values) (string, string, error) {
	for std, alias := range p.ParamAliases {
		if vs, ok := form[std]; ok && form[alias] == nil {
			form[alias] = vs
		}
	}
	if p.ClientAuth == AuthJSON {
		obj := make(map[string]string, len(form))
		for k, vs := range form {
			obj[k] = vs[0]
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return "", "", fmt.Errorf("encoding the JSON request: %w", err)
		}
		return string(b), "application/json", nil
	}
	if p.CodeRaw && form.Has("code") {
		code := form.Get("code")
		rest := url.Values{}
		for k, vs := range form {
			if k != "code" {
				rest[k] = vs
			}
		}
		body := rest.Encode()
		if body != "" {
			body += "&"
		}
		return body + "code=" + rawFormValue(code), "application/x-www-form-urlencoded", nil
	}
	return form.Encode(), "application/x-www-form-urlencoded", nil
}

// rawFormValue escapes only what would break the form's syntax and leaves
// "/" literal, as Buffer v1 demands of its codes.
func rawFormValue(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "%2F", "/")
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// salvager keeps the refresh_token of a successful token answer, read
// leniently, for when the answer as a whole cannot be used: x/oauth2
// rejects an answer with one malformed field and keeps nothing of it, but
// a rotating provider has already retired the old refresh token by then.
// Written by hand because x/oauth2 exposes no raw body on that path.
type salvager struct {
	refresh string
}

// maxSalvage bounds the body kept for salvage.
const maxSalvage = 1 << 20

// keep reads body, notes its refresh_token (JSON or form-encoded) and
// returns an equivalent body for the real parser.
func (s *salvager) keep(body io.ReadCloser) io.ReadCloser {
	raw, err := io.ReadAll(io.LimitReader(body, maxSalvage))
	_ = body.Close()
	// Only the one member, left raw (a map of every member was a tenth
	// of the CPU an answer costs); a string is noted, as x/oauth2 reads
	// it.
	var obj struct {
		RefreshToken json.RawMessage `json:"refresh_token"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		var v string
		if len(obj.RefreshToken) > 0 && obj.RefreshToken[0] == '"' && json.Unmarshal(obj.RefreshToken, &v) == nil {
			s.refresh = v
		}
	} else if q, qerr := url.ParseQuery(string(raw)); qerr == nil {
		s.refresh = q.Get("refresh_token")
	}
	rc := io.NopCloser(bytes.NewReader(raw))
	if err != nil {
		return io.NopCloser(io.MultiReader(bytes.NewReader(raw), errReader{err}))
	}
	return rc
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
