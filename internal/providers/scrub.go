package providers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// A provider's words (error bodies, error codes and descriptions, HTML
// titles, transport errors, a callback's error parameters) reach the
// terminal, the logs and the state's last_error. Before they do, they are
// sanitized (textsafe.Sanitize: no escape sequences, no control or bidi
// characters) and every form of every secret oauthform sent is replaced
// by the redaction marker: a provider that echoes its request, or the
// Authorization header, must not make oauthform print a secret in it.

// minSecret is the shortest secret value scrubbed: shorter ones would
// redact ordinary words.
const minSecret = 4

// ScrubText returns text fit to print, log or store: sanitized, with every
// form of every secret (raw, percent- and form-encoded, JSON-escaped,
// HTML-escaped) replaced by secret.Redacted.
func ScrubText(text string, secrets ...secret.Secret) string {
	return scrub(text, secrets)
}

// Scrub is ScrubText with the client's own credentials added: its secret
// and the HTTP Basic credentials it sends.
func (c *Client) Scrub(text string, extra ...secret.Secret) string {
	return scrub(text, c.sent(extra...))
}

// sent is what a request of c sends that must never be shown: extra (a
// code, a verifier, tokens), the client secret, and the HTTP Basic
// credentials built from it.
func (c *Client) sent(extra ...secret.Secret) []secret.Secret {
	out := make([]secret.Secret, 0, len(extra)+5)
	out = append(out, extra...)
	if c.ClientSecret.IsZero() {
		return out
	}
	out = append(out, c.ClientSecret)
	return append(out, basicCredentials(c.ClientID, c.ClientSecret.Reveal())...)
}

// basicCredentials are the forms of an HTTP Basic Authorization header for
// id and sec: base64 of "id:secret" with both form-encoded first (RFC 6749
// §2.3.1, as x/oauth2 and clientRequest send it) and raw (as many servers
// echo or expect it), with and without its padding and "Basic ".
func basicCredentials(id, sec string) []secret.Secret {
	var out []secret.Secret
	for _, pair := range []string{url.QueryEscape(id) + ":" + url.QueryEscape(sec), id + ":" + sec} {
		b64 := base64.StdEncoding.EncodeToString([]byte(pair))
		out = append(out, secret.New("Basic "+b64), secret.New(b64))
		if t := strings.TrimRight(b64, "="); t != b64 {
			out = append(out, secret.New(t))
		}
	}
	return out
}

// scrub sanitizes s and redacts every form of every secret in it.
// Sanitizing comes first, so that a secret split by escape sequences or
// control characters is whole again when it is looked for.
func scrub(s string, secrets []secret.Secret) string {
	s = textsafe.Sanitize(s)
	var needles []string
	for _, sec := range secrets {
		v := sec.Reveal()
		if len(v) < minSecret {
			continue
		}
		for _, f := range secretForms(v) {
			if !slices.Contains(needles, f) {
				needles = append(needles, f)
			}
		}
	}
	if len(needles) == 0 || s == "" {
		return s
	}
	s = redact(s, needles)
	if !utf8.ValidString(s) {
		// A needle that was not UTF-8 may have cut a character in two.
		s = textsafe.Sanitize(s)
	}
	return s
}

// secretForms returns the ways v is written on the wire and in the
// answers of the servers oauthform talks to.
func secretForms(v string) []string {
	forms := make([]string, 0, 16)
	add := func(f string) {
		if len(f) >= minSecret && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	add(v)
	add(textsafe.Sanitize(v)) // a secret with a control character, as shown
	qe := url.QueryEscape(v)
	for _, p := range []string{
		qe,                                 // form bodies (url.Values.Encode), Basic credentials
		strings.ReplaceAll(qe, "+", "%20"), // a space as %20
		url.PathEscape(v),                  // a path segment
		rawFormValue(v),                    // code_raw: "/" left literal
		percentEncode(v, isUnreserved),     // RFC 3986 strict
		percentEncode(v, isURIComponent),   // JavaScript's encodeURIComponent
	} {
		add(p)
		add(url.QueryEscape(p)) // encoded twice (a form body inside a URL)
	}
	for _, j := range jsonForms(v) {
		add(j)
	}
	add(html.EscapeString(v))
	// Escapes in upper and in lower case (Go writes %2B and \u00e9; others
	// write %2b or \u00E9); redact also matches mixed case.
	for _, f := range forms {
		add(caseHex(f, true))
		add(caseHex(f, false))
	}
	return forms
}

// jsonForms returns v as a JSON string's contents, escaped the ways JSON
// encoders do: Go's (HTML characters as \u0026…), without HTML escaping,
// PHP's (escaped slashes \/), Python's and PHP's ASCII-only (\u00e9).
func jsonForms(v string) []string {
	var out []string
	for _, escapeHTML := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(escapeHTML)
		if enc.Encode(v) != nil {
			continue
		}
		j := strings.TrimSuffix(b.String(), "\n")
		j = j[1 : len(j)-1]
		for _, f := range []string{j, asciiJSON(j)} {
			out = append(out, f, strings.ReplaceAll(f, "/", `\/`))
		}
	}
	return out
}

// asciiJSON escapes every non-ASCII character of the JSON string contents
// j as \uXXXX (a surrogate pair beyond U+FFFF).
func asciiJSON(j string) string {
	var b strings.Builder
	for _, r := range j {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isURIComponent(c byte) bool {
	return isUnreserved(c) || strings.IndexByte("!'()*", c) >= 0
}

// percentEncode escapes every byte of v that keep refuses as %XX.
func percentEncode(v string, keep func(byte) bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if c := v[i]; keep(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// redact replaces every occurrence of every needle in s by the redaction
// marker. Occurrences that overlap or touch become one marker. Escapes are
// matched in any case: %2b as %2B, \u00E9 as \u00e9.
func redact(s string, needles []string) string {
	folded := foldHex(s)
	var spans [][2]int
	find := func(h, n string) {
		for from := 0; from < len(h); {
			i := strings.Index(h[from:], n)
			if i < 0 {
				return
			}
			spans = append(spans, [2]int{from + i, from + i + len(n)})
			from += i + 1
		}
	}
	for _, n := range needles {
		find(s, n)
		if fn := foldHex(n); folded != s || fn != n {
			find(folded, fn)
		}
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var b strings.Builder
	at := 0 // s[:at] is written
	for i := 0; i < len(spans); {
		start, end := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] <= end; i++ {
			end = max(end, spans[i][1])
		}
		b.WriteString(s[at:start])
		b.WriteString(secret.Redacted)
		at = end
	}
	b.WriteString(s[at:])
	return b.String()
}

// foldHex upper-cases the hex digits of percent escapes (%2b) and JSON
// \u escapes (\u00e9), keeping every byte in place.
func foldHex(s string) string { return caseHex(s, true) }

// caseHex sets the case of the hex digits of the percent and \u escapes
// in s.
func caseHex(s string, upper bool) string {
	if !strings.ContainsAny(s, `%\`) {
		return s
	}
	from, to := byte('a'), byte('A')
	if !upper {
		from, to = to, from
	}
	var b []byte
	set := func(at, n int) {
		for k := at; k < at+n && k < len(s); k++ {
			c := s[k]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return
			}
			if from <= c && c <= from+5 {
				if b == nil {
					b = []byte(s)
				}
				b[k] = c - from + to
			}
		}
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%':
			set(i+1, 2)
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == 'u':
			set(i+2, 4)
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}
