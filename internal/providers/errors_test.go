package providers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

func TestDecodeError(t *testing.T) {
	pb, _ := Builtin("phoneburner")
	rfc, _ := Builtin("sms77")
	const sentence = `The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Check the \"client_id\" parameter.`
	tests := []struct {
		name        string
		p           *Profile
		status      int
		ctype, body string
		retryAfter  time.Duration
		kind        Kind
		code, msg   string // msg: a substring of Message
	}{
		{"phoneburner sentence in error", pb, 400, "application/json", `{"error": "` + sentence + `"}`, 0,
			KindInvalidRequest, "", `Check the "client_id" parameter.`},
		{"phoneburner error_message", pb, 400, "application/json",
			`{"error": "access_denied", "error_message": "The resource owner or authorization server denied the request."}`, 0,
			KindAccessDenied, "access_denied", "denied the request"},
		{"phoneburner invalid client_id with a space", pb, 401, "application/json",
			`{"error": "invalid client_id", "error_message": "invalid client_id: 878x518e02c5e4bbf38784a0644db99feabe55a89"}`, 0,
			KindInvalidClient, "invalid client_id", "878x518e"},
		{"phoneburner standard invalid_grant", pb, 400, "application/json",
			`{"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked"}`, 0,
			KindInvalidGrant, "invalid_grant", "grant is invalid"},
		{"rfc6749 invalid_client", rfc, 401, "application/json; charset=utf-8",
			`{"error":"invalid_client","error_description":"Client authentication failed"}`, 0,
			KindInvalidClient, "invalid_client", "authentication failed"},
		{"rfc6749 unsupported_grant_type", rfc, 400, "application/json",
			`{"error":"unsupported_grant_type"}`, 0, KindInvalidRequest, "unsupported_grant_type", ""},
		{"form-encoded error", rfc, 400, "application/x-www-form-urlencoded",
			`error=invalid_scope&error_description=no+such+scope`, 0, KindInvalidScope, "invalid_scope", "no such scope"},
		{"html page on 502", rfc, 502, "text/html",
			`<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>`, 0,
			KindServerError, "", "502 Bad Gateway"},
		// Without a <title> the page's text is not shown: it could echo a
		// token of the request.
		{"html page on 400 without content type", rfc, 400, "",
			`<html><body><h1>Oops</h1></body></html>`, 0, KindMalformed, "", "an HTML page instead of a JSON answer"},
		{"truncated json", rfc, 500, "application/json", `{"error":"server_err`, 0,
			KindServerError, "", "not valid JSON"},
		{"truncated json on 400", rfc, 400, "application/json", `{"error":"inval`, 0,
			KindMalformed, "", "not valid JSON"},
		{"429 with Retry-After", rfc, 429, "application/json", `{"error":"slow_down"}`, 3 * time.Second,
			KindRateLimited, "slow_down", ""},
		{"503 with Retry-After is rate limiting", rfc, 503, "text/plain", `busy`, 2 * time.Second,
			KindRateLimited, "", ""},
		{"empty 503", rfc, 503, "", ``, 0, KindServerError, "", ""},
		{"non-string error", rfc, 400, "application/json", `{"error": {"code": 7}, "message": "bad"}`, 0,
			KindInvalidRequest, `{"code": 7}`, "bad"},
		{"phoneburner sentence for a bad grant", pb, 400, "application/json",
			`{"error":"The provided authorization grant is invalid, expired or revoked."}`, 0,
			KindInvalidGrant, "", "The provided authorization grant"},
		{"unknown code", rfc, 400, "application/json", `{"error":"weird_thing"}`, 0, KindInvalidRequest, "weird_thing", ""},
		{"server_error code", rfc, 500, "application/json", `{"error":"server_error"}`, 0, KindServerError, "server_error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.p.decodeError("exchange", tt.status, tt.ctype, []byte(tt.body), tt.retryAfter, nil)
			if e.Kind != tt.kind {
				t.Errorf("Kind = %q, want %q (%v)", e.Kind, tt.kind, e)
			}
			if e.Status != tt.status || e.Op != "exchange" || e.Provider != tt.p.Name {
				t.Errorf("Status/Op/Provider = %d/%q/%q", e.Status, e.Op, e.Provider)
			}
			if tt.code != "" && !strings.HasPrefix(e.Code, tt.code) {
				t.Errorf("Code = %q, want prefix %q", e.Code, tt.code)
			}
			if tt.msg != "" && !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Message = %q, want it to contain %q", e.Message, tt.msg)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if !strings.Contains(e.Error(), tt.p.Name) {
				t.Errorf("Error() = %q does not name the provider", e.Error())
			}
		})
	}
}

func TestDecodeErrorScrubsSecrets(t *testing.T) {
	p, _ := Builtin("sms77")
	code := secret.New("c0de-value-123")
	e := p.decodeError("exchange", 400, "application/json",
		[]byte(`{"error":"invalid_grant","error_description":"code c0de-value-123 was already used"}`), 0, []secret.Secret{code})
	if strings.Contains(e.Error(), "c0de-value-123") {
		t.Fatalf("the code leaked: %v", e)
	}
	if !strings.Contains(e.Message, secret.Redacted) {
		t.Errorf("Message = %q, want the redaction marker", e.Message)
	}
}

func TestNeedsReconnect(t *testing.T) {
	grant := &Error{Kind: KindInvalidGrant, Op: "refresh", Provider: "x"}
	if !NeedsReconnect(grant) || !NeedsReconnect(errors.Join(errors.New("ctx"), grant)) {
		t.Error("invalid_grant should need a reconnect")
	}
	if NeedsReconnect(&Error{Kind: KindServerError}) || NeedsReconnect(errors.New("x")) {
		t.Error("other errors should not")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Op: "refresh", Provider: "sms77", Kind: KindInvalidGrant, Code: "invalid_grant", Message: "revoked", Status: 400},
			"refresh with sms77: invalid_grant: revoked (HTTP 400)"},
		{&Error{Op: "exchange", Provider: "buffer", Kind: KindServerError, Status: 503, RetryAfter: 2 * time.Second},
			"exchange with buffer: server_error (HTTP 503); retry after 2s"},
		{&Error{Op: "check", Provider: "burner", Kind: KindNetwork, Err: errors.New("connection refused")},
			"check with burner: network: connection refused"},
		{&Error{Op: "exchange", Provider: "phoneburner", Kind: KindInvalidRequest, Code: "Check the thing.", Message: "Check the thing."},
			"exchange with phoneburner: Check the thing."},
		{&Error{Op: "refresh", Provider: "x", Kind: KindMalformed, Message: "no access_token"},
			"refresh with x: malformed_response: no access_token"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
