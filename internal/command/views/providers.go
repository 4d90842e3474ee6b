package views

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/oauthform/oauthform/internal/providers"
)

// Provider is one built-in provider in `providers -json`.
type Provider struct {
	Name           string            `json:"name"`
	Description    string            `json:"description"`
	AuthorizeURL   string            `json:"authorize_url"`
	TokenURL       string            `json:"token_url"`
	RefreshURL     string            `json:"refresh_url,omitempty"`
	RevokeURL      string            `json:"revoke_url,omitempty"`
	RevokeMethod   string            `json:"revoke_method"`
	CheckURL       string            `json:"check_url,omitempty"`
	DeviceAuthURL  string            `json:"device_authorization_url,omitempty"`
	Issuer         string            `json:"issuer,omitempty"`
	ClientAuth     string            `json:"client_auth"`
	ScopeSeparator string            `json:"scope_separator"`
	ParamAliases   map[string]string `json:"param_aliases"`
	CodeRaw        bool              `json:"code_raw"`
	PKCE           bool              `json:"pkce"`
	Expiry         string            `json:"expiry"`
	Refresh        bool              `json:"refresh"`
	RotatesRefresh bool              `json:"rotates_refresh"`
	ErrorFormat    string            `json:"error_format"`
	TokenType      string            `json:"token_type"`
	TokenLifetime  string            `json:"token_lifetime,omitempty"`
	Scopes         []string          `json:"known_scopes"`
	NoScopes       bool              `json:"no_scopes"`
	Params         []string          `json:"params"`
	Metadata       []string          `json:"metadata"`
	Quirks         []string          `json:"quirks"`
	// KeepAlive is the provider's keep_alive; IdleRefreshToken says what
	// its documentation says of refresh tokens left unused ("not
	// documented" for every seed provider).
	KeepAlive        string `json:"keep_alive,omitempty"`
	IdleRefreshToken string `json:"idle_refresh_token,omitempty"`
	// Grants are the grant types the provider supports (a connection's
	// grant attribute).
	Grants []string `json:"grants"`
}

// Providers lists the built-in providers: a table and each one's
// endpoints and quirks, or one JSON document.
func (v *View) Providers(builtins []*providers.Profile, asJSON bool) {
	list := providerList(builtins)
	if asJSON {
		_ = WriteJSON(v.Out, struct {
			FormatVersion string     `json:"format_version"`
			Providers     []Provider `json:"providers"`
		}{"1.0", list})
		return
	}
	v.providerTable(list)
}

func providerList(builtins []*providers.Profile) []Provider {
	var list []Provider
	for _, p := range builtins {
		jp := Provider{
			Name: p.Name, Description: p.Description,
			AuthorizeURL: p.AuthorizeURL, TokenURL: p.TokenURL, RefreshURL: p.RefreshURL,
			RevokeURL: p.RevokeURL, RevokeMethod: string(p.RevokeMethod), CheckURL: p.CheckURL, Issuer: p.Issuer,
			DeviceAuthURL: p.DeviceAuthURL, Grants: []string{},
			ClientAuth: string(p.ClientAuth), ScopeSeparator: p.ScopeSeparator,
			ParamAliases: map[string]string{}, CodeRaw: p.CodeRaw, PKCE: p.PKCE,
			Expiry: string(p.Expiry), Refresh: p.Refresh, RotatesRefresh: p.RotatesRefresh,
			ErrorFormat: string(p.ErrorFormat), TokenType: p.TokenType,
			Scopes: append([]string{}, p.KnownScopes...), NoScopes: p.NoScopes,
			Params: []string{}, Metadata: append([]string{}, p.Metadata...), Quirks: append([]string{}, p.Quirks...),
		}
		for _, g := range p.SupportedGrants() {
			jp.Grants = append(jp.Grants, string(g))
		}
		if p.TokenLifetime > 0 {
			jp.TokenLifetime = FormatDuration(p.TokenLifetime)
		}
		if p.KeepAlive > 0 {
			jp.KeepAlive = FormatDuration(p.KeepAlive)
		}
		if p.Refresh {
			jp.IdleRefreshToken = "not documented"
			if p.KeepAlive > 0 {
				jp.IdleRefreshToken = "refreshed after " + jp.KeepAlive + " unused (keep_alive)"
			}
		}
		for k, v := range p.ParamAliases {
			jp.ParamAliases[k] = v
		}
		for k := range p.Params {
			jp.Params = append(jp.Params, k)
		}
		sort.Strings(jp.Params)
		list = append(list, jp)
	}
	return list
}

func (v *View) providerTable(list []Provider) {
	out := v.Out
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCLIENT AUTH\tPKCE\tSCOPES\tEXPIRY\tREFRESH\tREVOKE\tDESCRIPTION")
	for _, p := range list {
		scopes := "any"
		switch {
		case p.NoScopes:
			scopes = "none"
		case len(p.Scopes) > 0:
			scopes = fmt.Sprintf("%d known", len(p.Scopes))
		}
		refresh := "no"
		if p.Refresh {
			refresh = "yes"
			if p.RotatesRefresh {
				refresh = "rotating"
			}
		}
		revoke := "no"
		switch {
		case p.RevokeURL != "" && p.RevokeMethod == string(providers.RevokeBearer):
			revoke = "deauthorize"
		case p.RevokeURL != "":
			revoke = "RFC 7009"
		}
		pkce := "no"
		if p.PKCE {
			pkce = "S256"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.ClientAuth, pkce, scopes, p.Expiry, refresh, revoke, p.Description)
	}
	_ = tw.Flush()
	for _, p := range list {
		fmt.Fprintf(out, "\n%s\n", p.Name)
		if p.AuthorizeURL != "" {
			fmt.Fprintf(out, "  authorize: %s\n  token:     %s\n", p.AuthorizeURL, p.TokenURL)
		}
		if p.DeviceAuthURL != "" {
			fmt.Fprintf(out, "  device:    %s\n", p.DeviceAuthURL)
		}
		fmt.Fprintf(out, "  grants:    %s\n", strings.Join(p.Grants, ", "))
		if len(p.Scopes) > 0 {
			fmt.Fprintf(out, "  scopes:    %s\n", strings.Join(p.Scopes, " "))
		}
		for _, q := range p.Quirks {
			fmt.Fprintf(out, "  - %s\n", q)
		}
		if p.IdleRefreshToken != "" {
			fmt.Fprintf(out, "  - lifetime of an unused refresh token: %s (set keep_alive if the provider expires them)\n", p.IdleRefreshToken)
		}
	}
}
