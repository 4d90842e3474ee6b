package emulator

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
)

// failure is one refusal at an OAuth endpoint.
type failure struct {
	status   int
	code     string // RFC 6749 §5.2 error code
	desc     string // error_description (or PhoneBurner's error_message) on the wire
	param    string // PhoneBurner: the parameter its sentence names
	reason   string // why, for Stats.LastRejection and the log; desc when empty
	basic    bool   // the client used HTTP Basic: 401 with a Basic challenge
	clientID string // PhoneBurner: the unknown client_id it quotes back
}

// why is the human reason recorded in the stats.
func (f *failure) why() string {
	if f.reason != "" {
		return f.reason
	}
	return f.code + ": " + f.desc
}

// invalidRequest builds a 400 invalid_request about param.
func invalidRequest(param, desc, reason string) *failure {
	return &failure{status: http.StatusBadRequest, code: "invalid_request", desc: desc, param: param, reason: reason}
}

// invalidGrant builds a 400 invalid_grant about param.
func invalidGrant(param, desc, reason string) *failure {
	return &failure{status: http.StatusBadRequest, code: "invalid_grant", desc: desc, param: param, reason: reason}
}

// invalidClient builds an invalid_client: 401 with a Basic challenge when the
// client tried HTTP Basic, 400 otherwise (RFC 6749 §5.2).
func invalidClient(basic bool, clientID, desc, reason string) *failure {
	return &failure{status: http.StatusBadRequest, code: "invalid_client", desc: desc, basic: basic, clientID: clientID, param: "client_id", reason: reason}
}

// PhoneBurner's messages (seed 003, the PHP League oauth2-server texts).
const (
	pbSentence     = `The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Check the "%s" parameter.`
	pbInvalidGrant = `The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client. Check the "%s" parameter.`
	pbDenied       = "The resource owner or authorization server denied the request."
)

// writeFailure counts the refusal and answers it in the provider's shape.
func (s *Server) writeFailure(w http.ResponseWriter, f *failure) {
	s.reject(f.why())
	s.spec.encodeFailure(w, f)
}

// encodeFailure answers f in the provider's token-endpoint error shape.
func (sp *spec) encodeFailure(w http.ResponseWriter, f *failure) {
	status := f.status
	if f.basic {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", sp.name))
		status = http.StatusUnauthorized
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if sp.errs == shapePhoneBurner {
		writeJSON(w, status, phoneBurnerError(f))
		return
	}
	// Burner and Buffer v1 do not document their error bodies; both get the
	// RFC 6749 §5.2 shape (Buffer v1 says it follows draft 20, which has it).
	body := map[string]string{"error": f.code}
	if f.desc != "" {
		body["error_description"] = f.desc
	}
	writeJSON(w, status, body)
}

// phoneBurnerError renders f in one of PhoneBurner's four error shapes.
func phoneBurnerError(f *failure) map[string]string {
	switch f.code {
	case "invalid_request", "unsupported_grant_type", "invalid_scope":
		// (a) the whole sentence in "error".
		return map[string]string{"error": fmt.Sprintf(pbSentence, f.param)}
	case "invalid_client":
		// (c) a code with a space in it.
		return map[string]string{"error": "invalid client_id", "error_message": "invalid client_id: " + f.clientID}
	case "invalid_grant":
		// (d) the standard shape.
		return map[string]string{"error": "invalid_grant", "error_description": fmt.Sprintf(pbInvalidGrant, f.param)}
	}
	// (b) error + error_message.
	return map[string]string{"error": f.code, "error_message": f.desc}
}

// writeMethodError answers a request with a method the endpoint lacks.
func (sp *spec) writeMethodError(w http.ResponseWriter, kind string) {
	switch kind {
	case kindAuthorize:
		writeHTMLError(w, http.StatusMethodNotAllowed, "Method not allowed")
	case kindCheck:
		sp.encodeAPIError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed", false)
	default:
		sp.encodeFailure(w, &failure{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "method not allowed", param: "method"})
	}
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "emulator: encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Error</title></head>
<body>
<h1>Error</h1>
<p id="error">{{.}}</p>
</body>
</html>
`))

// writeHTMLError answers a browser-facing error page. It is what an
// authorization server shows when it must not redirect (RFC 6749 §4.1.2.1).
func writeHTMLError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, msg)
}
