package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Faults are failures injected into an emulator's answers, for reliability
// tests. The zero value injects nothing.
//
// A request is "picked" while FailNext is positive (each pick decrements
// it) or, failing that, with probability FailRate. A picked request fails
// with FailStatus, or is dropped when Drop is set. When neither FailNext
// nor FailRate is set, Drop drops every matching request. Latency,
// InvalidGrant and Truncate apply to every matching request.
type Faults struct {
	// Latency is added before answering; the wait ends early, without an
	// answer, when the client gives up (the request context is done).
	Latency time.Duration
	// AnswerLatency delays the answer of a request that has already been
	// carried out, as a slow network or provider does: a refresh rotates
	// at once and its answer (holding the only live refresh token) is
	// sent AnswerLatency later, whether or not the client still waits.
	// This is the window in which a client that gives up, or dies, loses
	// the login.
	AnswerLatency time.Duration
	// FailNext makes the next N matching requests fail (deterministic).
	FailNext int
	// FailRate is the probability (0..1) that a matching request fails,
	// drawn from a source seeded with Options.Seed.
	FailRate float64
	// FailStatus is the status of an injected failure (default 500).
	FailStatus int
	// RetryAfter, when set, adds Retry-After (whole seconds, rounded up) to
	// injected failures.
	RetryAfter time.Duration
	// HTMLError makes injected failures answer an HTML page instead of the
	// provider's JSON error.
	HTMLError bool
	// Truncate cuts successful token responses off in the middle of the JSON.
	Truncate bool
	// InvalidGrant makes every code exchange and refresh answer invalid_grant
	// in the provider's own error shape, without touching its state.
	InvalidGrant bool
	// Drop hijacks and closes the connection without an answer.
	Drop bool
	// Description, when set, is the error_description (PhoneBurner: the
	// error_message) of injected failures, in place of "injected fault:
	// …": a provider's words with escape sequences, say.
	Description string
	// TokenType, when set, replaces the token_type of successful token
	// and refresh answers (a provider that issues MAC or DPoP tokens, or
	// names its type wrongly). The answer is otherwise real: a rotating
	// provider has retired the old refresh token.
	TokenType string
	// OmitExpiry removes expires_in and expires from successful token
	// and refresh answers, as a provider does that does not say how long
	// its tokens live. The tokens still expire at the emulator.
	OmitExpiry bool
	// EchoRequest makes injected failures echo the request in their
	// description, as a careless provider does: its Authorization header
	// and its body, raw. Tests use it to check that no form of a secret
	// oauthform sent reaches its output.
	EchoRequest bool
	// Endpoints are the endpoint kinds the faults apply to ("authorize",
	// "token", "refresh", "revoke", "check", "metadata",
	// "device_authorization", "verification"); empty means token and
	// refresh (device code and client credentials requests included: they
	// go to the token endpoint).
	Endpoints []string
}

// applies reports whether the faults cover an endpoint kind.
func (f *Faults) applies(kind string) bool {
	if len(f.Endpoints) == 0 {
		return kind == kindToken || kind == kindRefresh
	}
	return slices.Contains(f.Endpoints, kind)
}

// SetFaults replaces the fault set. It is safe to call while serving.
func (s *Server) SetFaults(f Faults) {
	f.FailRate = math.Max(0, math.Min(1, f.FailRate))
	f.Endpoints = slices.Clone(f.Endpoints)
	s.mu.Lock()
	s.faults = f
	s.dropAll = f.Drop && f.FailNext == 0 && f.FailRate == 0
	s.mu.Unlock()
}

// Faults returns the current fault set (FailNext counts down as requests
// are picked).
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	f.Endpoints = slices.Clone(f.Endpoints)
	return f
}

// injectFaults applies the fault set to a request of kind. It returns the
// writer the handler must use, and true when the request is already
// answered (or abandoned).
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request, body []byte, kind string) (http.ResponseWriter, bool) {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	if !f.applies(kind) {
		return w, false
	}
	if f.Latency > 0 && !sleepCtx(r.Context(), f.Latency) {
		s.logf("%s %s: client gave up during injected latency", s.spec.name, r.URL.Path)
		return w, true
	}
	picked, dropAll := s.pick()
	tokenKind := kind == kindToken || kind == kindRefresh
	switch {
	case f.Drop && (picked || dropAll):
		s.countFault("dropped connection")
		drop(w)
		return w, true
	case picked:
		s.countFault("injected failure")
		s.writeInjected(w, r, body, kind, f)
		return w, true
	case f.InvalidGrant && tokenKind:
		s.countFault("injected invalid_grant")
		s.spec.encodeFailure(w, invalidGrant(grantParam(kind), "The provided authorization grant is invalid.", "injected invalid_grant"))
		return w, true
	case f.Truncate && tokenKind:
		return &truncWriter{heldWriter{ResponseWriter: w, s: s}}, false
	case (f.TokenType != "" || f.OmitExpiry) && tokenKind:
		return &tokenTypeWriter{heldWriter: heldWriter{ResponseWriter: w, s: s}, tokenType: f.TokenType, omitExpiry: f.OmitExpiry}, false
	case f.AnswerLatency > 0:
		return &delayWriter{heldWriter: heldWriter{ResponseWriter: w, s: s}, delay: f.AnswerLatency}, false
	}
	return w, false
}

// pick decides whether this request is picked to fail (FailNext first,
// then FailRate), and reports whether Drop applies to every request.
func (s *Server) pick() (picked, dropAll bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.faults.FailNext > 0:
		s.faults.FailNext--
		picked = true
	case s.faults.FailRate > 0:
		picked = s.rnd.Float64() < s.faults.FailRate
	}
	return picked, s.dropAll
}

// grantParam names the parameter an injected invalid_grant is about.
func grantParam(kind string) string {
	if kind == kindRefresh {
		return "refresh_token"
	}
	return "code"
}

// countFault counts one injected fault.
func (s *Server) countFault(what string) {
	s.mu.Lock()
	s.stats.Faults++
	s.mu.Unlock()
	s.logf("%s fault: %s", s.spec.name, what)
}

// sleepCtx waits d, or until ctx is done (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2 or a recorder: abort the stream instead
	}
	_ = conn.Close()
}

// writeInjected answers an injected failure to r, whose body is body.
func (s *Server) writeInjected(w http.ResponseWriter, r *http.Request, body []byte, kind string, f Faults) {
	status := f.FailStatus
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
	}
	desc := fmt.Sprintf("injected fault: %d %s", status, http.StatusText(status))
	if f.Description != "" {
		desc = f.Description
	}
	if f.EchoRequest {
		desc += fmt.Sprintf(" (request: Authorization: %s body: %s)", r.Header.Get("Authorization"), body)
	}
	switch {
	case f.HTMLError:
		writeHTMLError(w, status, desc)
	case kind == kindCheck:
		s.spec.encodeAPIError(w, status, "server_error", desc, false)
	default:
		code := "server_error"
		if status == http.StatusServiceUnavailable {
			code = "temporarily_unavailable"
		}
		s.spec.encodeFailure(w, &failure{status: status, code: code, desc: desc, param: "request"})
	}
}

// heldWriter holds a response back (status and body) so that a fault can
// change it before it is sent.
type heldWriter struct {
	http.ResponseWriter
	s      *Server
	status int
	buf    bytes.Buffer
}

// WriteHeader records the status.
func (h *heldWriter) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

// Write buffers the body.
func (h *heldWriter) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.buf.Write(b)
}

// held returns the status (200 when none was written) and the body.
func (h *heldWriter) held() (int, []byte) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.status, h.buf.Bytes()
}

// send sends status and body.
func (h *heldWriter) send(status int, body []byte) {
	h.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(len(body)))
	h.ResponseWriter.WriteHeader(status)
	_, _ = h.ResponseWriter.Write(body)
}

// truncWriter sends only the first half of a successful token response.
type truncWriter struct{ heldWriter }

// finish sends the held response, cut in half when it succeeded.
func (t *truncWriter) finish() {
	status, body := t.held()
	if status == http.StatusOK && len(body) > 1 {
		body = body[:len(body)/2]
		t.s.countFault("truncated token response")
	}
	t.send(status, body)
}

// tokenTypeWriter rewrites a successful token response: its token_type
// (when tokenType is set) and its expiry (removed with omitExpiry).
type tokenTypeWriter struct {
	heldWriter
	tokenType  string
	omitExpiry bool
}

// finish sends the held response, rewritten when it succeeded.
func (t *tokenTypeWriter) finish() {
	status, body := t.held()
	var m map[string]any
	if status == http.StatusOK && json.Unmarshal(body, &m) == nil {
		if t.tokenType != "" {
			m["token_type"] = t.tokenType
		}
		if t.omitExpiry {
			delete(m, "expires_in")
			delete(m, "expires")
		}
		if b, err := json.Marshal(m); err == nil {
			body = b
			if t.tokenType != "" {
				t.s.countFault("token_type " + t.tokenType)
			}
			if t.omitExpiry {
				t.s.countFault("no expiry in the answer")
			}
		}
	}
	t.send(status, body)
}

// delayWriter sends a response, whole, a delay after it was made.
type delayWriter struct {
	heldWriter
	delay time.Duration
}

// finish waits, then sends the held response.
func (d *delayWriter) finish() {
	time.Sleep(d.delay)
	d.send(d.held())
}
