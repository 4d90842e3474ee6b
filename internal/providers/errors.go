package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// Kind classifies a provider error by what the caller should do about it.
type Kind string

// Error kinds. The first group are RFC 6749 §5.2 / §4.1.2.1 codes (and what
// non-standard shapes mean); the rest describe transport failures.
const (
	// KindInvalidGrant: the code or refresh token is invalid, expired,
	// revoked or already used. On refresh it means a person must reconnect.
	KindInvalidGrant Kind = "invalid_grant"
	// KindInvalidClient: client authentication failed (wrong id or secret,
	// or the wrong authentication method).
	KindInvalidClient Kind = "invalid_client"
	// KindAccessDenied: the person or the server refused the grant.
	KindAccessDenied Kind = "access_denied"
	// KindExpiredToken: the device code expired before the person
	// approved the device authorization (RFC 8628 §3.5 expired_token, or
	// its expires_in passed): a new device authorization must start.
	KindExpiredToken Kind = "expired_token"
	// KindInvalidScope: a requested scope is unknown or not allowed.
	KindInvalidScope Kind = "invalid_scope"
	// KindInvalidRequest: the provider refused the request's shape
	// (invalid_request, unsupported_grant_type, unauthorized_client, …).
	KindInvalidRequest Kind = "invalid_request"
	// KindInvalidToken: a resource call (check, Bearer revoke) refused the
	// access token (RFC 6750 401).
	KindInvalidToken Kind = "invalid_token"
	// KindRateLimited: HTTP 429, or 503 with Retry-After.
	KindRateLimited Kind = "rate_limited"
	// KindServerError: a 5xx or server_error / temporarily_unavailable.
	KindServerError Kind = "server_error"
	// KindMalformed: the answer could not be understood (HTML where JSON was
	// expected, truncated JSON, no access_token, a field of the wrong type).
	KindMalformed Kind = "malformed_response"
	// KindNetwork: no answer (connection refused or dropped, timeout).
	KindNetwork Kind = "network"
)

// Error is every failure of a provider call. It never holds a secret: the
// provider's words are scrubbed of every form of the secrets sent in the
// request, and of control characters and escape sequences (ScrubText).
type Error struct {
	Kind     Kind
	Op       string // "authorize", "exchange", "refresh", "revoke", "check", "discover", "device_authorization", "device_token", "client_credentials"
	Provider string
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Code is the provider's error code as sent ("invalid_grant",
	// "invalid client_id"); empty when it sent none.
	Code string
	// Message is the provider's human explanation (error_description,
	// error_message, a sentence in error, an HTML page's title).
	Message string
	// RetryAfter is the provider's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Err is the underlying transport error for KindNetwork and
	// KindMalformed, nil otherwise.
	Err error
	// NewRefresh, on a failed refresh, is the new refresh token found in a
	// 2xx answer that could not be used as a whole (a rotating provider's
	// answer with a field malformed, or any answer refused for its
	// token_type): the provider has rotated, the old refresh token may be
	// dead and this one is the only live one. It must be stored. It is
	// never part of the message.
	NewRefresh secret.Secret
}

// Error names the operation and the provider, then the provider's code and
// message. Code and Message are scrubbed when an Error is made; they are
// sanitized again here, as is Err's text, in case an Error was made
// elsewhere.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s with %s: ", e.Op, e.Provider)
	code, msg := textsafe.Sanitize(e.Code), textsafe.Sanitize(e.Message)
	switch {
	case code != "" && msg != "" && code != msg:
		fmt.Fprintf(&b, "%s: %s", code, msg)
	case code != "":
		b.WriteString(code)
	case msg != "":
		fmt.Fprintf(&b, "%s: %s", e.Kind, msg)
	case e.Err != nil:
		fmt.Fprintf(&b, "%s: %s", e.Kind, textsafe.Sanitize(e.Err.Error()))
	default:
		b.WriteString(string(e.Kind))
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// NeedsReconnect reports whether err means the grant is gone and only a
// new authorization can help (invalid_grant on a refresh).
// Transient reports whether err is a failure that may go away by itself
// (a timeout or connection error, a 5xx, 429, an HTML error page): worth
// retrying later with backoff. A terminal failure (invalid_grant,
// invalid_client, unauthorized_client, a refused scope…) needs a person
// or a configuration change; retrying it changes nothing.
func Transient(err error) bool {
	var pe *Error
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Kind {
	case KindNetwork, KindServerError, KindRateLimited, KindMalformed:
		return true
	}
	return false
}

func NeedsReconnect(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Kind == KindInvalidGrant
}

// maxBody caps every response body oauthform reads (the same cap
// golang.org/x/oauth2 applies to token responses).
const maxBody = 1 << 20

// errorBody is every error field the four providers document.
type errorBody struct {
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
	ErrorMessage     string          `json:"error_message"` // PhoneBurner
	Message          string          `json:"message"`       // common non-OAuth APIs
}

// decodeError turns an error answer into an *Error. body may be JSON in
// any of the documented shapes, a form-encoded body, an HTML page, or
// truncated. secrets are scrubbed from whatever text is kept.
func (p *Profile) decodeError(op string, status int, contentType string, body []byte, retryAfter time.Duration, secrets []secret.Secret) *Error {
	e := &Error{Op: op, Provider: p.Name, Status: status, RetryAfter: retryAfter}
	media, _, _ := mime.ParseMediaType(contentType)
	var code, msg string
	parsed := false
	switch {
	case media == "application/x-www-form-urlencoded":
		if v, err := url.ParseQuery(string(body)); err == nil {
			code, msg, parsed = v.Get("error"), firstNonEmpty(v.Get("error_description"), v.Get("error_message")), true
		}
	case looksJSON(body):
		var eb errorBody
		if json.Unmarshal(body, &eb) == nil {
			parsed = true
			// A non-string `error` (an object, a number) is kept as text.
			if err := json.Unmarshal(eb.Error, &code); err != nil && len(eb.Error) > 0 {
				code = string(eb.Error)
			}
			msg = firstNonEmpty(eb.ErrorDescription, eb.ErrorMessage, eb.Message)
		}
	}
	// Classified as shown: without escape sequences or control characters.
	code, msg = textsafe.Sanitize(code), textsafe.Sanitize(msg)
	if p.ErrorFormat == ErrorsPhoneBurner && msg == "" && strings.Count(code, " ") >= 3 {
		// PhoneBurner's first shape: a whole sentence in `error`, no code.
		code, msg = "", code
	}
	switch {
	case parsed && (code != "" || msg != ""):
		e.Code, e.Message = code, msg
		e.Kind = p.kindOf(code, msg)
	case !parsed && (media == "text/html" || looksHTML(body)):
		e.Message = htmlTitle(body, secrets)
		e.Kind = kindFromStatus(status, KindMalformed)
	case looksJSON(body) && !parsed:
		e.Message = "the error body is not valid JSON (truncated?)"
		e.Kind = kindFromStatus(status, KindMalformed)
	default:
		e.Kind = kindFromStatus(status, KindMalformed)
	}
	if status == 429 || (status == 503 && retryAfter > 0) {
		e.Kind = KindRateLimited
	}
	// Scrub before clipping: a clip could cut a secret in half and leave
	// the first half unrecognised.
	e.Code = clip(scrub(e.Code, secrets), maxCode)
	e.Message = clip(scrub(e.Message, secrets), maxMessage)
	return e
}

// kindOf maps a provider's code (and, for PhoneBurner, its sentences) to a
// Kind.
func (p *Profile) kindOf(code, msg string) Kind {
	norm := strings.ToLower(strings.TrimSpace(code))
	if k, ok := rfcKinds[norm]; ok {
		return k
	}
	if p.ErrorFormat == ErrorsPhoneBurner {
		// PhoneBurner's "invalid client_id" carries a space.
		if norm == "invalid client_id" {
			return KindInvalidClient
		}
		// PhoneBurner puts the whole RFC 6749 description (as the PHP League
		// server words it) in `error`; recognise it by its opening words.
		for _, s := range leagueSentences {
			if strings.HasPrefix(norm, s.prefix) || strings.HasPrefix(strings.ToLower(msg), s.prefix) {
				return s.kind
			}
		}
	}
	return KindInvalidRequest
}

var rfcKinds = map[string]Kind{
	"invalid_grant":             KindInvalidGrant,
	"invalid_client":            KindInvalidClient,
	"unauthorized_client":       KindInvalidClient,
	"access_denied":             KindAccessDenied,
	"expired_token":             KindExpiredToken,
	"invalid_scope":             KindInvalidScope,
	"invalid_request":           KindInvalidRequest,
	"unsupported_grant_type":    KindInvalidRequest,
	"unsupported_response_type": KindInvalidRequest,
	"unsupported_token_type":    KindInvalidRequest,
	"invalid_token":             KindInvalidToken,
	"server_error":              KindServerError,
	"temporarily_unavailable":   KindServerError,
	"slow_down":                 KindRateLimited,
}

// leagueSentences are the RFC 6749 descriptions as thephpleague/oauth2-server
// words them, which PhoneBurner sends in place of a code.
var leagueSentences = []struct {
	prefix string
	kind   Kind
}{
	{"the request is missing a required parameter", KindInvalidRequest},
	{"client authentication failed", KindInvalidClient},
	{"the provided authorization grant is invalid", KindInvalidGrant},
	{"the refresh token is invalid", KindInvalidGrant},
	{"the resource owner or authorization server denied", KindAccessDenied},
	{"the requested scope is invalid", KindInvalidScope},
	{"the authorization grant type is not supported", KindInvalidRequest},
	{"the authorization server encountered an unexpected condition", KindServerError},
}

func kindFromStatus(status int, fallback Kind) Kind {
	switch {
	case status == 429:
		return KindRateLimited
	case status >= 500:
		return KindServerError
	case status == 401:
		return KindInvalidClient
	}
	return fallback
}

func looksJSON(b []byte) bool {
	t := strings.TrimSpace(string(b[:min(len(b), 64)]))
	return strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")
}

func looksHTML(b []byte) bool {
	t := strings.ToLower(strings.TrimSpace(string(b[:min(len(b), 256)])))
	return strings.HasPrefix(t, "<!doctype html") || strings.HasPrefix(t, "<html") || strings.Contains(t, "<body")
}

var (
	titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	tagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// htmlTitle summarises an HTML error page by its <title>, scrubbed of
// secrets before it is cut short.
func htmlTitle(b []byte, secrets []secret.Secret) string {
	// Only a real <title>: the page's text could echo anything (a token
	// sent in the request), and tags alone do not make it safe.
	var s string
	if m := titleRE.FindStringSubmatch(string(b)); m != nil {
		s = html.UnescapeString(tagRE.ReplaceAllString(m[1], " "))
	}
	// Spaces are collapsed before the scrub, which must see the text as
	// it will be shown.
	s = strings.TrimSpace(scrub(spaceRE.ReplaceAllString(textsafe.Sanitize(s), " "), secrets))
	if s == "" {
		return "an HTML page instead of a JSON answer"
	}
	return "an HTML page instead of a JSON answer: " + clip(s, 120)
}

// Limits of the provider text kept in an Error.
const (
	maxCode    = 200
	maxMessage = 500
)

// clip cuts s to at most n bytes, on a UTF-8 character boundary, marking
// the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
