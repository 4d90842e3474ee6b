package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// digestVersion prefixes the digest input; bump it when the encoding changes.
const digestVersion = "oauthform-config-digest/v1\n"

// Digest fingerprints everything in cfg that Diff and apply depend on: the
// apps (provider, client_id, redirect_uri, and the client secret only as
// state.HashSecret(lineage, …)), the connections (app, scopes as a set,
// params, refresh_before) and the resolved provider profiles' endpoints and
// knobs. It is the hex SHA-256 of a canonical encoding in which every list
// is sorted, so map iteration order and scope order do not affect it. Source
// positions, descriptions and variables are not part of it.
func Digest(cfg *config.Config, lineage string) string {
	h := sha256.New()
	writeDigestInput(h, cfg, lineage)
	return hex.EncodeToString(h.Sum(nil))
}

type digestApp struct {
	Name         string         `json:"name"`
	Provider     string         `json:"provider"`
	Profile      *digestProfile `json:"profile"`
	ClientID     string         `json:"client_id"`
	ClientSecret string         `json:"client_secret_hash"`
	RedirectURI  string         `json:"redirect_uri"`
}

type digestConn struct {
	Name          string            `json:"name"`
	App           string            `json:"app"`
	Scopes        []string          `json:"scopes"`
	Params        map[string]string `json:"params"` // encoding/json sorts keys
	RefreshBefore time.Duration     `json:"refresh_before"`
	TokenLifetime time.Duration     `json:"token_lifetime,omitempty"` // 0: unset (digests of older plans stay equal)
	Grant         string            `json:"grant,omitempty"`          // empty: the authorization code (digests of older plans stay equal)
}

type digestParam struct {
	Name          string   `json:"name"`
	Values        []string `json:"values"`
	RequiresScope string   `json:"requires_scope"`
}

type digestProfile struct {
	Name           string            `json:"name"`
	AuthorizeURL   string            `json:"authorize_url"`
	TokenURL       string            `json:"token_url"`
	RefreshURL     string            `json:"refresh_url"`
	RevokeURL      string            `json:"revoke_url"`
	CheckURL       string            `json:"check_url"`
	Issuer         string            `json:"issuer"`
	ScopeSeparator string            `json:"scope_separator"`
	ClientAuth     string            `json:"client_auth"`
	ParamAliases   map[string]string `json:"param_aliases"`
	CodeRaw        bool              `json:"code_raw"`
	PKCE           bool              `json:"pkce"`
	Expiry         string            `json:"expiry"`
	Refresh        bool              `json:"refresh"`
	RotatesRefresh bool              `json:"rotates_refresh"`
	DownScope      bool              `json:"down_scope"`
	DeviceAuthURL  string            `json:"device_authorization_url,omitempty"` // empty: none (digests of older plans stay equal)
	ErrorFormat    string            `json:"error_format"`
	TokenType      string            `json:"token_type,omitempty"` // empty: Bearer (digests of older plans stay equal)
	NoScopes       bool              `json:"no_scopes"`
	Emulator       bool              `json:"emulator,omitempty"`
	TokenLifetime  time.Duration     `json:"token_lifetime,omitempty"` // 0: unset (digests of older plans stay equal)
	KnownScopes    []string          `json:"known_scopes"`
	AnyParam       bool              `json:"any_param"`
	Params         []digestParam     `json:"params"`
	Metadata       []string          `json:"metadata"`
}

type digestDoc struct {
	Providers   []*digestProfile `json:"providers"`
	Apps        []digestApp      `json:"apps"`
	Connections []digestConn     `json:"connections"`
}

// writeDigestInput writes the canonical encoding Digest hashes, which
// holds no secret: digestVersion, then the JSON of a digestDoc. The
// connections are encoded one at a time, giving the bytes json.Marshal
// gives for the whole document without holding it (megabytes at 10,000
// connections).
func writeDigestInput(w io.Writer, cfg *config.Config, lineage string) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	var doc digestDoc
	for _, name := range sortedKeys(cfg.Providers) {
		doc.Providers = append(doc.Providers, profileDigest(name, cfg.Providers[name]))
	}
	for _, name := range sortedKeys(cfg.Apps) {
		a := cfg.Apps[name]
		if a == nil {
			continue
		}
		doc.Apps = append(doc.Apps, digestApp{
			Name:         name,
			Provider:     a.Provider,
			Profile:      profileDigest(a.Provider, a.Profile),
			ClientID:     a.ClientID,
			ClientSecret: state.HashSecret(lineage, a.ClientSecret),
			RedirectURI:  a.RedirectURI,
		})
	}
	doc.Connections = []digestConn{}
	head := mustMarshal(doc)
	// head ends with "connections":[]} : the connections go between the
	// brackets.
	_, _ = io.WriteString(w, digestVersion)
	_, _ = w.Write(head[:len(head)-2])
	first := true
	for _, name := range sortedKeys(cfg.Connections) {
		c := cfg.Connections[name]
		if c == nil {
			continue
		}
		dc := digestConn{
			Name:          name,
			Scopes:        sortedUnique(c.Scopes),
			Params:        c.Params,
			RefreshBefore: c.RefreshBefore,
			TokenLifetime: c.TokenLifetime,
		}
		if c.Grant != providers.GrantAuthorizationCode {
			dc.Grant = string(c.Grant)
		}
		if c.App != nil {
			dc.App = c.App.Name
		}
		if !first {
			_, _ = io.WriteString(w, ",")
		}
		first = false
		_, _ = w.Write(mustMarshal(dc))
	}
	_, _ = io.WriteString(w, "]}")
}

// mustMarshal encodes v, made of strings, bools, numbers, slices and
// string maps only, which cannot fail.
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("plan: encoding digest input: " + err.Error())
	}
	return b
}

func profileDigest(name string, p *providers.Profile) *digestProfile {
	if p == nil {
		return nil
	}
	d := &digestProfile{
		Name:           name,
		AuthorizeURL:   p.AuthorizeURL,
		TokenURL:       p.TokenURL,
		RefreshURL:     p.RefreshURL,
		RevokeURL:      p.RevokeURL,
		CheckURL:       p.CheckURL,
		Issuer:         p.Issuer,
		ScopeSeparator: p.ScopeSeparator,
		ClientAuth:     string(p.ClientAuth),
		ParamAliases:   p.ParamAliases,
		CodeRaw:        p.CodeRaw,
		PKCE:           p.PKCE,
		Expiry:         string(p.Expiry),
		Refresh:        p.Refresh,
		RotatesRefresh: p.RotatesRefresh,
		DownScope:      p.DownScope,
		DeviceAuthURL:  p.DeviceAuthURL,
		ErrorFormat:    string(p.ErrorFormat),
		NoScopes:       p.NoScopes,
		Emulator:       p.Emulator,
		TokenLifetime:  p.TokenLifetime,
		KnownScopes:    sortedUnique(p.KnownScopes),
		AnyParam:       p.Params == nil,
		Metadata:       sortedUnique(p.Metadata),
	}
	if !strings.EqualFold(p.TokenType, providers.DefaultTokenType) {
		d.TokenType = p.TokenType
	}
	for _, n := range sortedKeys(p.Params) {
		v := p.Params[n]
		d.Params = append(d.Params, digestParam{Name: n, Values: sortedUnique(v.Values), RequiresScope: v.RequiresScope})
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
