package emulator

import (
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// bearerToken reads and checks the access token of an API call. It accepts
// the Authorization: Bearer header (RFC 6750 §2.1); Buffer v1 also accepts
// access_token in the form body or the URL query, as its seed says. Any
// refusal is answered before it returns false.
func (s *Server) bearerToken(w http.ResponseWriter, r *http.Request, body []byte) (*token, bool) {
	tok, ok := s.bearerValue(w, r, body)
	if !ok {
		return nil, false
	}
	t, err := s.liveAccess(tok)
	switch {
	case err != nil:
		s.apiFail(w, http.StatusInternalServerError, "server_error", "The emulator could not read its state file.", err.Error())
		return nil, false
	case t == nil:
		s.apiFail(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.", "API call with an invalid, expired or revoked access token")
		return nil, false
	}
	return t, true
}

// bearerValue reads the access token of an API call, without checking it
// against the store. Any refusal is answered before it returns false.
func (s *Server) bearerValue(w http.ResponseWriter, r *http.Request, body []byte) (string, bool) {
	var tok string
	var methods []string
	if scheme, rest, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(rest)
		methods = append(methods, "header")
	}
	if q, err := parseURLEncoded(r.URL.RawQuery); err == nil && q.has("access_token") {
		tok = q.get("access_token")
		methods = append(methods, "query")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" {
		if f, err := parseURLEncoded(string(body)); err == nil && f.has("access_token") {
			tok = f.get("access_token")
			methods = append(methods, "body")
		}
	}
	switch {
	case len(methods) > 1:
		s.apiFail(w, http.StatusBadRequest, "invalid_request", "More than one method of sending the access token.",
			"access token sent by more than one method: "+strings.Join(methods, ", ")+" (RFC 6750 §2)")
		return "", false
	case len(methods) == 0:
		s.apiFail(w, http.StatusUnauthorized, "", "The request has no access token.", "API call without an access token")
		return "", false
	case methods[0] != "header" && !s.spec.queryTokens:
		s.apiFail(w, http.StatusUnauthorized, "", "The request has no access token.",
			fmt.Sprintf("access token in the %s: %s accepts only the Authorization header", methods[0], s.spec.name))
		return "", false
	}
	s.mu.Lock()
	switch methods[0] {
	case "query":
		s.stats.QueryTokens++
	case "body":
		s.stats.BodyTokens++
	}
	s.mu.Unlock()
	return tok, true
}

// apiFail counts a refused API call and answers it in the provider's shape.
func (s *Server) apiFail(w http.ResponseWriter, status int, code, desc, reason string) {
	s.reject(reason)
	s.spec.encodeAPIError(w, status, code, desc, true)
}

// encodeAPIError answers a resource-server error. code is empty when the
// request carried no token (RFC 6750 §3.1: then no error attribute).
func (sp *spec) encodeAPIError(w http.ResponseWriter, status int, code, desc string, challenge bool) {
	switch sp.api {
	case apiPhoneBurner:
		// Documented on PhoneBurner's "Usage Examples" page.
		writeJSON(w, status, map[string]any{
			"http_status": status, "status": "error",
			"debug_codes": []map[string]any{{"code": status*100 + 1, "reason": desc}},
		})
	case apiBufferV1:
		// Undocumented in the seed: Buffer v1's API error style, with its
		// 1001 "access token required" code.
		n := status
		if status == http.StatusUnauthorized && code == "" {
			n = 1001
		}
		writeJSON(w, status, map[string]any{"success": false, "code": n, "message": desc})
	default:
		if challenge && status == http.StatusUnauthorized {
			h := fmt.Sprintf("Bearer realm=%q", sp.name)
			if code != "" {
				h += fmt.Sprintf(", error=%q, error_description=%q", code, desc)
			}
			w.Header().Set("WWW-Authenticate", h)
		}
		if code == "" {
			code = "unauthorized"
		}
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
}

// apiOK counts a successful API call and answers v.
func (s *Server) apiOK(w http.ResponseWriter, v any) {
	s.mu.Lock()
	s.stats.APICalls++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

// checkBurner serves GET /v1/burners: every burner of the user with a
// burners scope, else the burners connected with messages:connect.
func (s *Server) checkBurner(w http.ResponseWriter, r *http.Request, body []byte) {
	t, ok := s.bearerToken(w, r, body)
	if !ok {
		return
	}
	list := t.grant.burners
	if slices.Contains(t.scopes, "burners:read") || slices.Contains(t.scopes, "burners:write") {
		list = userBurners
	}
	out := make([]map[string]any, 0, len(list))
	for i, b := range list {
		out = append(out, map[string]any{
			"id": b.ID, "name": b.Name, "phoneNumberId": fmt.Sprintf("+1555010%04d", i+1),
			"userId": "u-emulated", "ringer": true, "notifications": true,
		})
	}
	s.apiOK(w, out)
}

// sms77Profile is the answer of sms77's /me (seed 001).
type sms77Profile struct {
	Success bool   `json:"success"`
	UserID  int    `json:"user_id"`
	Email   string `json:"email"`
	Company string `json:"company"`
	Alias   string `json:"alias"`
	Balance string `json:"balance"`
}

// checkSms77 serves GET /me.
func (s *Server) checkSms77(w http.ResponseWriter, r *http.Request, body []byte) {
	if _, ok := s.bearerToken(w, r, body); !ok {
		return
	}
	s.apiOK(w, sms77Profile{Success: true, UserID: 12345, Email: "john.doe@acme.inc", Company: "Acme Inc", Alias: "acme_inc", Balance: "627.3615"})
}

// checkBufferV1 serves GET /1/user.json (fields as Buffer v1's user object).
func (s *Server) checkBufferV1(w http.ResponseWriter, r *http.Request, body []byte) {
	if _, ok := s.bearerToken(w, r, body); !ok {
		return
	}
	s.apiOK(w, map[string]any{
		"_id": "4f0c0a06512f7ef214000000", "id": "4f0c0a06512f7ef214000000",
		"name": "Emulated User", "plan": "free", "timezone": "Europe/Berlin",
		"activity_at": 1343654640, "created_at": 1326189062,
	})
}

// checkUserinfo serves buffer_v2's /me and oauth2's /userinfo.
func (s *Server) checkUserinfo(w http.ResponseWriter, r *http.Request, body []byte) {
	t, ok := s.bearerToken(w, r, body)
	if !ok {
		return
	}
	s.apiOK(w, map[string]any{
		"sub": "emulated-user-1", "name": "Emulated User", "email": "user@example.test",
		"client_id": t.grant.clientID, "scope": strings.Join(t.scopes, " "),
	})
}

// checkPhoneBurner serves GET /rest/1/members/ in PhoneBurner's REST
// envelope (as its route list shows for /rest/1/contacts).
func (s *Server) checkPhoneBurner(w http.ResponseWriter, r *http.Request, body []byte) {
	if _, ok := s.bearerToken(w, r, body); !ok {
		return
	}
	s.apiOK(w, map[string]any{
		"http_status": 200, "status": "success",
		"members": map[string]any{
			"page": 1, "page_size": 25, "total_results": 1, "total_pages": 1,
			"members": []map[string]any{{
				"user_id": "13514766", "username": "emulated", "first_name": "Emulated",
				"last_name": "User", "email_address": "user@example.test",
			}},
		},
	})
}
