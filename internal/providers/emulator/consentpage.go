package emulator

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Authorize {{.ClientID}} - {{.Provider}} emulator</title></head>
<body>
<h1>{{.ClientID}} wants to access your {{.Provider}} account</h1>
{{if .Scopes}}<ul id="scopes">{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p>No specific permissions requested.</p>
{{end}}<form method="post" action="{{.Action}}">
{{range .Hidden}}<input type="hidden" name="{{index . 0}}" value="{{index . 1}}">
{{end}}{{if .Burners}}<label>Connect burner <select name="burner_id">{{range .Burners}}<option value="{{.ID}}">{{.Name}}</option>{{end}}</select></label>
{{end}}<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body>
</html>
`))

// consentData fills consentPage.
type consentData struct {
	Provider, ClientID, Action string
	Scopes                     []string
	Hidden                     [][2]string
	Burners                    []burner
}

// showConsent renders the consent page: a POST form that carries the
// request in hidden fields plus a single-use ticket, and Approve/Deny
// buttons named "decision".
func (s *Server) showConsent(w http.ResponseWriter, r *http.Request, ar *authRequest) {
	id := randAlnum(32)
	s.mu.Lock()
	s.tickets[id] = &ticket{req: *ar, expires: s.now().Add(ticketTTL)}
	s.mu.Unlock()
	data := consentData{
		Provider: s.spec.name, ClientID: ar.clientID, Action: r.URL.Path,
		Scopes: ar.scopes, Hidden: append([][2]string{{"ticket", id}}, ar.hidden()...),
	}
	if burnerPicker(s.spec, ar) {
		data.Burners = userBurners
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	_ = consentPage.Execute(w, data)
}

// burnerPicker reports whether the consent page shows Burner's burner
// selection (messages:connect without burner_id).
func burnerPicker(sp *spec, ar *authRequest) bool {
	return sp.name == "burner" && ar.burnerID == "" && slices.Contains(ar.scopes, "messages:connect")
}

// handleDecision takes the consent form's POST.
func (s *Server) handleDecision(w http.ResponseWriter, r *http.Request, body []byte) {
	f, fail := parseBody(r, body, false)
	if fail != nil {
		s.pageError(w, "The consent form was not submitted as a form.", "consent decision: "+fail.why())
		return
	}
	if f.dup != "" {
		s.pageError(w, "The consent form repeats a field.", "consent decision repeats "+f.dup)
		return
	}
	s.mu.Lock()
	t := s.tickets[f.get("ticket")]
	delete(s.tickets, f.get("ticket"))
	s.mu.Unlock()
	if t == nil {
		s.pageError(w, "This consent form is unknown or was already used.", "consent decision without a valid ticket (form not fetched, or submitted twice)")
		return
	}
	if !s.now().Before(t.expires) {
		s.pageError(w, "This consent form has expired.", "consent decision on an expired form")
		return
	}
	for _, kv := range t.req.hidden() {
		if !f.has(kv[0]) || f.get(kv[0]) != kv[1] {
			s.pageError(w, "The consent form was altered.", "consent form field "+kv[0]+" altered or missing")
			return
		}
	}
	switch f.get("decision") {
	case "approve":
		picked, ok := pickBurner(s.spec, &t.req, f.get("burner_id"))
		if !ok {
			s.pageError(w, "Unknown burner.", fmt.Sprintf("consent picked unknown burner %q", f.get("burner_id")))
			return
		}
		s.approve(w, r, &t.req, picked)
	case "deny":
		s.mu.Lock()
		s.stats.Denials++
		s.mu.Unlock()
		desc := "The resource owner denied the request."
		if s.spec.errs == shapePhoneBurner {
			desc = pbDenied
		}
		s.redirectError(w, r, &t.req, "access_denied", desc)
	default:
		s.pageError(w, "Choose Approve or Deny.", fmt.Sprintf("consent decision %q is neither approve nor deny", f.get("decision")))
	}
}

// pickBurner resolves the burner chosen on the consent page.
func pickBurner(sp *spec, ar *authRequest, id string) (*burner, bool) {
	if !burnerPicker(sp, ar) || id == "" {
		return nil, true
	}
	for i := range userBurners {
		if userBurners[i].ID == id {
			return &userBurners[i], true
		}
	}
	return nil, false
}

// appendQuery adds params to the query of base, keeping the query base
// already has (RFC 6749 §3.1.2). Spaces are written %20. With rawCode the
// code value is written verbatim (Buffer v1's "1/…" codes).
func appendQuery(base string, params [][2]string, rawCode bool) string {
	u, err := url.Parse(base)
	if err != nil { // registered URIs are checked by New
		return base
	}
	var b strings.Builder
	b.WriteString(u.RawQuery)
	for _, p := range params {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p[0]))
		b.WriteByte('=')
		if rawCode && p[0] == "code" {
			b.WriteString(p[1])
			continue
		}
		b.WriteString(strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	u.RawQuery = b.String()
	return u.String()
}

// isBase64URL reports whether s uses only the base64url alphabet.
func isBase64URL(s string) bool {
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
