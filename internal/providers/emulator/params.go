package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxBody caps request bodies, like x/oauth2 caps responses.
const maxBody = 1 << 20

var errBodyTooLarge = errors.New("body larger than 1 MiB")

// readBody reads the whole request body (POST only).
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Method != http.MethodPost {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if len(b) > maxBody {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// form is a decoded set of request parameters, each present at most once.
type form struct {
	vals map[string]string
	raw  map[string]string // the values as written on the wire, undecoded
	dup  string            // the first parameter sent more than once
	dups map[string]bool   // every parameter sent more than once
}

// get returns a parameter, "" when absent.
func (f *form) get(k string) string { return f.vals[k] }

// has reports whether a parameter was sent (even empty).
func (f *form) has(k string) bool {
	_, ok := f.vals[k]
	return ok
}

// parseURLEncoded decodes an application/x-www-form-urlencoded string,
// keeping the raw values and noting repeated names (RFC 6749 §3.1, §3.2:
// parameters MUST NOT be included more than once).
func parseURLEncoded(s string) (*form, error) {
	f := &form{vals: map[string]string{}, raw: map[string]string{}, dups: map[string]bool{}}
	for pair := range strings.SplitSeq(s, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("parameter name %q: %w", k, err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", key, err)
		}
		if _, seen := f.vals[key]; seen {
			if f.dup == "" {
				f.dup = key
			}
			f.dups[key] = true
		}
		f.vals[key] = val
		f.raw[key] = v
	}
	return f, nil
}

// parseBody decodes a POST body. It must be form-encoded; allowJSON also
// accepts a flat JSON object of strings (Burner only).
func parseBody(r *http.Request, body []byte, allowJSON bool) (*form, *failure) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ""
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		f, err := parseURLEncoded(string(body))
		if err != nil {
			return nil, invalidRequest("body", "malformed form body", "malformed form body: "+err.Error())
		}
		return f, nil
	case mt == "application/json" && allowJSON:
		return parseJSONBody(body)
	}
	return nil, invalidRequest("body", "the request body must be application/x-www-form-urlencoded",
		fmt.Sprintf("request body has Content-Type %q, not application/x-www-form-urlencoded", ct))
}

// parseJSONBody decodes a flat JSON object whose values are strings.
func parseJSONBody(body []byte) (*form, *failure) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, invalidRequest("body", "malformed JSON body", "malformed JSON body: "+err.Error())
	}
	f := &form{vals: map[string]string{}, raw: map[string]string{}}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			f.vals[k] = v
		case json.Number:
			f.vals[k] = v.String()
		default:
			return nil, invalidRequest(k, "JSON parameter "+k+" must be a string", "JSON parameter "+k+" is not a string")
		}
		f.raw[k] = f.vals[k]
	}
	return f, nil
}

// tokenForm parses a token, refresh or revocation request: parameters in the
// body only (RFC 6749 §4.1.3), each at most once.
func tokenForm(r *http.Request, body []byte, allowJSON bool) (*form, *failure) {
	if r.URL.RawQuery != "" {
		return nil, invalidRequest("query", "parameters must be sent in the request body, not the URL query",
			"token endpoint request with parameters in the URL query")
	}
	f, fail := parseBody(r, body, allowJSON)
	if fail != nil {
		return nil, fail
	}
	if f.dup != "" {
		return nil, invalidRequest(f.dup, "parameter "+f.dup+" sent more than once", "parameter "+f.dup+" sent more than once (RFC 6749 §3.2)")
	}
	return f, nil
}

// grantTypeOf peeks at the grant_type of a form body, to tell refreshes from
// code exchanges when both share a path.
func grantTypeOf(body []byte) string {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	return v.Get("grant_type")
}

// basicCreds is an HTTP Basic Authorization header.
type basicCreds struct {
	present bool // an Authorization: Basic header was sent
	ok      bool // it decoded
	id      string
	secret  string
}

// parseBasic reads HTTP Basic client credentials, form-decoding both parts
// as RFC 6749 §2.3.1 requires.
func parseBasic(r *http.Request) basicCreds {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return basicCreds{}
	}
	c := basicCreds{present: true}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return c
	}
	id, secret, found := strings.Cut(string(raw), ":")
	if !found {
		return c
	}
	if c.id, err = url.QueryUnescape(id); err != nil {
		return c
	}
	if c.secret, err = url.QueryUnescape(secret); err != nil {
		return c
	}
	c.ok = true
	return c
}
