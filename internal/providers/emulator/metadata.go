package emulator

import (
	"net/http"
)

// serveMetadata serves RFC 8414 authorization server metadata (buffer_v2,
// oauth2). The issuer is [Options.Issuer] or the server's own base URL; the endpoint URLs
// always point at this server, as reached by the request.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request, _ []byte) {
	base := baseURL(r)
	p := s.spec.paths
	auth := []string{"client_secret_basic", "client_secret_post", "none"}
	if s.spec.auth == authPostOrNone {
		auth = []string{"none", "client_secret_post"}
	}
	m := map[string]any{
		"issuer":                                         s.issuer(r),
		"authorization_endpoint":                         base + p[kindAuthorize],
		"token_endpoint":                                 base + p[kindToken],
		"revocation_endpoint":                            base + p[kindRevoke],
		"userinfo_endpoint":                              base + p[kindCheck],
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          auth,
		"revocation_endpoint_auth_methods_supported":     auth,
		"authorization_response_iss_parameter_supported": true,
	}
	if s.spec.deviceGrant {
		m["device_authorization_endpoint"] = base + p[kindDevice]
	}
	grants := []string{"authorization_code", "refresh_token"}
	if s.spec.deviceGrant {
		grants = append(grants, deviceGrantType)
	}
	if s.spec.clientCredentials {
		grants = append(grants, "client_credentials")
	}
	m["grant_types_supported"] = grants
	switch {
	case s.spec.scopes != nil:
		m["scopes_supported"] = s.spec.scopes
	case s.opts.Scopes != nil:
		m["scopes_supported"] = s.opts.Scopes
	}
	s.mu.Lock()
	s.stats.MetadataCalls++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, m)
}
