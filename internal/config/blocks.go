package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
)

var settingsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "state_path"}, {Name: "give_up_after"}, {Name: "on_failure"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "encryption"},
		{Type: "backend", LabelNames: []string{"type"}},
	},
}

// decodeSettings decodes the oauthform block.
func (l *loader) decodeSettings() {
	b := l.settings
	if b == nil {
		return
	}
	l.cfg.Settings.DeclRange = b.DefRange
	content, diags := b.Body.Content(settingsSchema)
	l.diags = append(l.diags, diags...)
	if attr, ok := content.Attributes["state_path"]; ok {
		if s, set, ok := l.attrString(attr, false); ok && set {
			if s == "" {
				l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid value",
					"state_path must not be empty; leave it out for the default %s.", DefaultStatePath))
			} else {
				l.cfg.Settings.StatePath = s
			}
		}
	}
	if attr, ok := content.Attributes["give_up_after"]; ok {
		if d, set, ok := l.attrGiveUpAfter(attr); ok && set {
			l.cfg.Settings.GiveUpAfter = d
		}
	}
	if attr, ok := content.Attributes["on_failure"]; ok {
		l.decodeOnFailure(attr)
	}
	var first *hcl.Block
	var backends []*hcl.Block
	for _, eb := range content.Blocks {
		if eb.Type == "backend" {
			backends = append(backends, eb)
			continue
		}
		if first != nil {
			l.diags = append(l.diags, errorAt(eb.DefRange, "Duplicate encryption block",
				"An encryption block was already declared at %s. Only one is allowed.", pos(first.DefRange)))
			continue
		}
		first = eb
		if enc := l.decodeEncryption(eb); enc != nil {
			l.cfg.Settings.Encryption = enc
		}
	}
	l.decodeBackends(backends, content.Attributes["state_path"])
}

// Provider knobs as HCL attributes, each with how it sets the profile.
var (
	providerStringKnobs = map[string]func(*providers.Profile, string){
		"authorize_url":            func(p *providers.Profile, s string) { p.AuthorizeURL = s },
		"token_url":                func(p *providers.Profile, s string) { p.TokenURL = s },
		"refresh_url":              func(p *providers.Profile, s string) { p.RefreshURL = s },
		"revoke_url":               func(p *providers.Profile, s string) { p.RevokeURL = s },
		"check_url":                func(p *providers.Profile, s string) { p.CheckURL = s },
		"issuer":                   func(p *providers.Profile, s string) { p.Issuer = s },
		"device_authorization_url": func(p *providers.Profile, s string) { p.DeviceAuthURL = s },
		"scope_separator":          func(p *providers.Profile, s string) { p.ScopeSeparator = s },
		"client_auth":              func(p *providers.Profile, s string) { p.ClientAuth = providers.ClientAuth(s) },
		"expiry":                   func(p *providers.Profile, s string) { p.Expiry = providers.ExpirySource(s) },
		"error_format":             func(p *providers.Profile, s string) { p.ErrorFormat = providers.ErrorFormat(s) },
		"revoke_method":            func(p *providers.Profile, s string) { p.RevokeMethod = providers.RevokeMethod(s) },
		"token_type":               func(p *providers.Profile, s string) { p.TokenType = s },
	}
	providerBoolKnobs = map[string]func(*providers.Profile, bool){
		"code_raw":        func(p *providers.Profile, b bool) { p.CodeRaw = b },
		"pkce":            func(p *providers.Profile, b bool) { p.PKCE = b },
		"refresh":         func(p *providers.Profile, b bool) { p.Refresh = b },
		"rotates_refresh": func(p *providers.Profile, b bool) { p.RotatesRefresh = b },
		"down_scope":      func(p *providers.Profile, b bool) { p.DownScope = b },
		"no_scopes":       func(p *providers.Profile, b bool) { p.NoScopes = b },
		"emulator":        func(p *providers.Profile, b bool) { p.Emulator = b },
	}
	providerListKnobs = map[string]func(*providers.Profile, []string){
		"known_scopes": func(p *providers.Profile, l []string) { p.KnownScopes = l },
		"metadata":     func(p *providers.Profile, l []string) { p.Metadata = l },
		"params": func(p *providers.Profile, l []string) {
			p.Params = make(map[string]providers.Param, len(l))
			for _, n := range l {
				p.Params[n] = providers.Param{}
			}
		},
	}
	providerSchema = func() *hcl.BodySchema {
		s := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "param_aliases"}, {Name: "token_lifetime"}, {Name: "keep_alive"}}}
		for _, m := range []map[string]bool{keySet(providerStringKnobs), keySet(providerBoolKnobs), keySet(providerListKnobs)} {
			for _, k := range sortedKeys(m) {
				s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: k})
			}
		}
		return s
	}()
)

func keySet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// EmulatorIssuer is the issuer of a generic provider declared with
// `emulator = true` and no endpoints; the in-process emulator's address
// replaces its host.
const EmulatorIssuer = "http://127.0.0.1"

// decodeProviders resolves every provider: the built-ins, then the
// provider blocks, each overriding a built-in or declaring a new profile.
func (l *loader) decodeProviders() {
	for _, p := range providers.Builtins() {
		l.cfg.Providers[p.Name] = p
	}
	for _, b := range l.providers {
		name := b.Labels[0]
		p, builtin := providers.Builtin(name)
		if !builtin {
			p = providers.Generic(name)
		}
		l.providerBlocks[name] = b
		l.cfg.Providers[name] = p
		content, diags := b.Body.Content(providerSchema)
		l.diags = append(l.diags, diags...)
		ok := !diags.HasErrors()
		if attr, present := content.Attributes["issuer"]; present {
			l.cfg.issuers[name] = attr.Expr.Range()
		}
		for _, attr := range sortedAttrs(content.Attributes) {
			if !l.setKnob(p, attr) {
				ok = false
			}
		}
		if !ok {
			// Validate would complain about values that failed to decode.
			continue
		}
		if p.Emulator && p.AuthorizeURL == "" && p.TokenURL == "" && p.Issuer == "" {
			// The generic provider served by its in-process emulator: the
			// emulator's address is known only once it runs, so the
			// provider is its issuer on loopback, rebased to that address
			// (providers.Profile.Rebase); its metadata gives every
			// endpoint, the device authorization endpoint included.
			p.Issuer = EmulatorIssuer
		}
		for _, fe := range p.Validate() {
			if attr, present := content.Attributes[fe.Field]; present {
				l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid provider argument",
					"Provider %q: %s.", name, fe.Error()))
				ok = false
				continue
			}
			ok = false
			if fe.Message == "is required" {
				l.diags = append(l.diags, errorAt(b.DefRange, "Missing required argument",
					"Provider %q needs %s: the argument %q is required.", name, fe.Field, fe.Field))
				continue
			}
			l.diags = append(l.diags, errorAt(b.DefRange, "Invalid provider configuration",
				"Provider %q: %s.", name, fe.Error()))
		}
		l.providerOK[name] = ok
	}
}

// setKnob sets one profile knob from attr.
func (l *loader) setKnob(p *providers.Profile, attr *hcl.Attribute) bool {
	if set, ok := providerStringKnobs[attr.Name]; ok {
		s, isSet, ok := l.attrString(attr, false)
		if ok && isSet {
			set(p, s)
		}
		return ok
	}
	if set, ok := providerBoolKnobs[attr.Name]; ok {
		b, isSet, ok := l.attrBool(attr)
		if ok && isSet {
			set(p, b)
		}
		return ok
	}
	if set, ok := providerListKnobs[attr.Name]; ok {
		list, isSet, ok := l.attrStrings(attr)
		if ok && isSet {
			set(p, list)
		}
		return ok
	}
	if attr.Name == "keep_alive" {
		d, isSet, ok := l.attrKeepAlive(attr)
		if ok && isSet {
			p.KeepAlive = d
		}
		return ok
	}
	if attr.Name == "token_lifetime" {
		d, isSet, ok := l.attrLifetime(attr, "provider")
		if ok && isSet {
			p.TokenLifetime = d
		}
		return ok
	}
	// param_aliases
	m, isSet, ok := l.attrStringMap(attr)
	if ok && isSet {
		p.ParamAliases = m
	}
	return ok
}

var appSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "provider", Required: true},
		{Name: "client_id", Required: true},
		{Name: "client_secret"},
		// Required unless every connection of the app uses a grant
		// without a browser callback (checkRedirects).
		{Name: "redirect_uri"},
	},
}

// decodeApps decodes the app blocks.
func (l *loader) decodeApps() {
	for _, b := range l.apps {
		app := &App{Name: b.Labels[0], DeclRange: b.DefRange, NameRange: b.LabelRanges[0]}
		l.cfg.Apps[app.Name] = app
		content, diags := b.Body.Content(appSchema)
		l.diags = append(l.diags, diags...)

		if attr, ok := content.Attributes["provider"]; ok {
			if s, ok := l.requiredString(attr); ok {
				app.Provider = s
				app.Profile = l.resolveProvider(s, attr)
			}
		}
		if attr, ok := content.Attributes["client_id"]; ok {
			if s, ok := l.requiredString(attr); ok {
				app.ClientID = s
			}
		}
		hasSecret, secretKnown := false, true
		if attr, ok := content.Attributes["client_secret"]; ok {
			s, set, ok := l.attrString(attr, true)
			switch {
			case !ok:
				secretKnown = false // reported, or unknown after an earlier error
			case set && s != "":
				hasSecret = true
				l.secrets = append(l.secrets, s)
				app.ClientSecret = secret.New(s)
			}
		}
		if p := app.Profile; p != nil && secretKnown {
			switch {
			case p.ClientAuth == providers.AuthNone && hasSecret:
				// Subject is the block, not the attribute: the snippet
				// would show a literal secret.
				l.diags = append(l.diags, warningAt(b.DefRange, "Unused client_secret",
					"App %q sets client_secret, but provider %q is a public client (client_auth = \"none\") and never sends it. Remove client_secret.",
					app.Name, p.Name))
				app.ClientSecret = secret.Secret{}
			case p.ClientAuth != providers.AuthNone && !hasSecret:
				l.diags = append(l.diags, errorAt(b.Body.MissingItemRange(), "Missing required argument",
					"The argument \"client_secret\" is required: provider %q authenticates the app with client_auth = %q. Only public clients (client_auth = \"none\") go without one.",
					p.Name, p.ClientAuth))
			}
		}
		attr, ok := content.Attributes["redirect_uri"]
		if !ok {
			l.noRedirect[app.Name] = b
		}
		if ok {
			if s, ok := l.requiredString(attr); ok {
				if msg := redirectPortProblem(s); msg != "" {
					l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid redirect_uri",
						"redirect_uri %s. Set it to the redirect URI registered with the provider, with a port from 1 to 65535, such as http://127.0.0.1:8765/callback.", msg))
				} else if msg := providers.CheckEndpointURL(s); msg != "" {
					l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid redirect_uri",
						"redirect_uri %s. oauthform receives the code on a loopback address such as http://127.0.0.1:8765/callback.", msg))
				} else {
					app.RedirectURI = s
					if localhostRedirect(s) {
						l.diags = append(l.diags, warningAt(attr.Expr.Range(), "redirect_uri uses localhost",
							"The redirect_uri of app %q names localhost, which may resolve to an address other than the one oauthform listens on "+
								"(IPv6 ::1, or anything a hosts file says) or be answered by another program: RFC 8252 §8.3 recommends the loopback IP literal. "+
								"Register %s with the provider and use it here.", app.Name, withHost(s, "127.0.0.1")))
					}
				}
			}
		}
	}
}

// redirectPortProblem says what is wrong with the port of a redirect URI,
// or "" when it has none or a usable one (1 to 65535). It runs before
// url.Parse, which accepts any digits (99999) and calls a letter in the
// port an invalid URL without naming the port: the loopback listener
// would fail only after the person approved the grant.
// localhostRedirect reports whether raw is an http redirect_uri on the
// host name localhost (RFC 8252 §8.3: use 127.0.0.1 or [::1]).
func localhostRedirect(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "http" && strings.EqualFold(u.Hostname(), "localhost")
}

// withHost is raw with its host replaced by host (the port kept).
func withHost(raw, host string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if p := u.Port(); p != "" {
		host = net.JoinHostPort(host, p)
	}
	u.Host = host
	return u.String()
}

func redirectPortProblem(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return ""
		}
		rest = rest[end+1:]
	} else if i := strings.LastIndex(rest, ":"); i >= 0 {
		rest = rest[i:]
	} else {
		return ""
	}
	port, ok := strings.CutPrefix(rest, ":")
	if !ok || port == "" {
		return "" // no port: the scheme's default
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			if r := []rune(port); len(r) > 16 {
				port = string(r[:16]) + "…" // the snippet shows the rest
			}
			return fmt.Sprintf("has the port %q, which is not a number", port)
		}
	}
	n, err := strconv.Atoi(port)
	switch {
	case err != nil || n > 65535:
		if len(port) > 16 {
			port = port[:16] + "…"
		}
		return fmt.Sprintf("has the port %s, above the highest port 65535", port)
	case n == 0:
		return "has the port 0, which no listener can be registered on: the provider redirects to the exact port of the registered redirect URI"
	}
	return ""
}

// requiredString evaluates a required, non-empty string argument.
func (l *loader) requiredString(attr *hcl.Attribute) (string, bool) {
	s, set, ok := l.attrString(attr, false)
	if !ok {
		return "", false
	}
	if !set || strings.TrimSpace(s) == "" {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid value",
			"The argument %q must not be null or empty.", attr.Name))
		return "", false
	}
	return s, true
}

// resolveProvider finds the profile an app names, reporting unknown and
// unusable ones.
func (l *loader) resolveProvider(name string, attr *hcl.Attribute) *providers.Profile {
	p, ok := l.cfg.Providers[name]
	if !ok {
		detail := fmt.Sprintf("There is no provider named %q.", name)
		if s := suggest(name, sortedKeys(l.cfg.Providers)); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		} else {
			detail += fmt.Sprintf(" The built-in providers are %s. For any other OAuth 2.0 provider, declare it with a provider %q block.",
				strings.Join(providers.Names(), ", "), name)
		}
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Unknown provider", "%s", detail))
		return nil
	}
	if _, declared := l.providerBlocks[name]; declared {
		if !l.providerOK[name] {
			return nil // its block's errors are reported
		}
		return p
	}
	// An untouched built-in: only "oauth2" fails, having no endpoints.
	if errs := p.Validate(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid provider configuration",
			"The built-in provider %q cannot be used as it is: %s. Add a provider %q block that sets them, for example authorize_url and token_url.",
			name, strings.Join(msgs, "; "), name))
		return nil
	}
	return p
}

var connectionSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "app", Required: true},
		{Name: "scopes"},
		{Name: "params"},
		{Name: "refresh_before"},
		{Name: "token_lifetime"},
		{Name: "username"},
		{Name: "keep_alive"},
		{Name: "give_up_after"},
		{Name: "grant"},
	},
}

// reservedParams are authorize parameters oauthform sets itself.
var reservedParams = []string{
	"client_id", "code_challenge", "code_challenge_method", "redirect_uri",
	"response_type", "scope", "state",
}

// decodeConnections decodes the connection blocks.
func (l *loader) decodeConnections() {
	for _, b := range l.connections {
		c := &Connection{
			Name:          b.Labels[0],
			Scopes:        []string{},
			Params:        map[string]string{},
			RefreshBefore: DefaultRefreshBefore,
			Username:      DefaultUsername,
			Grant:         providers.GrantAuthorizationCode,
			DeclRange:     b.DefRange,
			NameRange:     b.LabelRanges[0],
		}
		l.cfg.Connections[c.Name] = c
		l.connOrder = append(l.connOrder, c)
		content, diags := b.Body.Content(connectionSchema)
		l.diags = append(l.diags, diags...)

		if attr, ok := content.Attributes["app"]; ok {
			c.App = l.appRef(attr)
		}
		var profile *providers.Profile
		if c.App != nil {
			profile = c.App.Profile
		}
		var scopesAttr *hcl.Attribute
		if attr, ok := content.Attributes["scopes"]; ok {
			scopesAttr = attr
			if list, _, ok := l.attrStrings(attr); ok {
				c.Scopes = l.checkScopes(attr, list, profile)
			}
		}
		if attr, ok := content.Attributes["params"]; ok {
			if m, _, ok := l.attrStringMap(attr); ok {
				c.Params = l.checkParams(attr, m, c.Scopes, scopesAttr, profile)
			}
		}
		if attr, ok := content.Attributes["refresh_before"]; ok {
			if s, set, ok := l.attrString(attr, false); ok && set {
				d, err := time.ParseDuration(s)
				switch {
				case err != nil:
					l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid refresh_before",
						"refresh_before must be a duration such as \"10m\" or \"1h30m\" (units ns, us, ms, s, m, h); %q is not.", s))
				case d < 0:
					l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid refresh_before",
						"refresh_before must not be negative; use \"0s\" to refresh only once a token has expired."))
				default:
					c.RefreshBefore = d
				}
			}
		}
		if attr, ok := content.Attributes["grant"]; ok {
			l.decodeGrant(c, attr, profile)
		}
		if attr, ok := content.Attributes["token_lifetime"]; ok {
			if d, set, ok := l.attrLifetime(attr, "connection"); ok && set {
				c.TokenLifetime = d
			}
		}
		if attr, ok := content.Attributes["keep_alive"]; ok {
			if d, set, ok := l.attrKeepAlive(attr); ok && set {
				c.KeepAlive = d
			}
		}
		if attr, ok := content.Attributes["give_up_after"]; ok {
			if d, set, ok := l.attrGiveUpAfter(attr); ok && set {
				c.GiveUpAfter = d
			}
		}
		if attr, ok := content.Attributes["username"]; ok {
			if s, set, ok := l.attrString(attr, false); ok && set {
				if s == "" || strings.ContainsAny(s, "\n\r\x00") {
					l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid username",
						"username is the user name git's credential helper answers with the token; it must be non-empty and on one line."))
				} else {
					c.Username = s
				}
			}
		}
	}
}

// decodeGrant reads a connection's grant and checks it offline against
// what the provider offers (p nil: the app's errors are reported).
func (l *loader) decodeGrant(c *Connection, attr *hcl.Attribute, p *providers.Profile) {
	s, set, ok := l.attrString(attr, false)
	if !ok || !set {
		l.grantUnknown[c.Name] = !ok
		return
	}
	g := providers.Grant(s)
	if !slices.Contains(providers.GrantTypes, g) {
		names := make([]string, len(providers.GrantTypes))
		for i, t := range providers.GrantTypes {
			names[i] = string(t)
		}
		detail := fmt.Sprintf("The grant %q is not one oauthform knows.", s)
		sug := suggest(s, names)
		for _, n := range names {
			if sug == "" && len(s) >= 3 && strings.HasPrefix(n, strings.ToLower(s)) {
				sug = n // "device", "client"
			}
		}
		if sug != "" {
			detail += fmt.Sprintf(" Did you mean %q?", sug)
		}
		detail += fmt.Sprintf(" The grants are %s: a person approving in a browser (the default), a person approving on another device (RFC 8628), or the app on its own, with no person (RFC 6749 §4.4).", quoteJoin(names))
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid grant", "%s", detail))
		l.grantUnknown[c.Name] = true
		return
	}
	c.Grant = g
	if p == nil {
		return
	}
	if msg := p.GrantProblem(g); msg != "" {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Unsupported grant",
			"Connection %q cannot use grant = %q: %s.", c.Name, s, msg))
		return
	}
	if g == providers.GrantClientCredentials && p.ClientAuth == providers.AuthNone {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Unsupported grant",
			"Connection %q cannot use grant = \"client_credentials\": provider %q is a public client (client_auth = \"none\"), and the client credentials grant is for confidential clients only (RFC 6749 §4.4). Set client_auth and a client_secret, or use another grant.",
			c.Name, p.Name))
	}
}

// checkRedirects requires redirect_uri of every app that lacks one,
// unless all its connections use a grant without a browser callback
// (device_code, client_credentials). An app no connection uses needs one,
// as before grants existed.
func (l *loader) checkRedirects() {
	for _, b := range l.apps {
		name := b.Labels[0]
		if _, missing := l.noRedirect[name]; !missing {
			continue
		}
		app := l.cfg.Apps[name]
		var users []string
		needs, unknown := "", false
		for _, c := range l.connOrder {
			if c.App != app {
				continue
			}
			users = append(users, c.Name)
			unknown = unknown || l.grantUnknown[c.Name]
			if c.Grant == providers.GrantAuthorizationCode && !l.grantUnknown[c.Name] && needs == "" {
				needs = c.Name
			}
		}
		switch {
		case unknown && needs == "":
			// A grant failed to decode: its error is reported.
		case len(users) == 0:
			l.diags = append(l.diags, errorAt(b.Body.MissingItemRange(), "Missing required argument",
				"The argument \"redirect_uri\" is required, but no definition was found."))
		case needs != "":
			l.diags = append(l.diags, errorAt(b.Body.MissingItemRange(), "Missing required argument",
				"The argument \"redirect_uri\" is required: connection %q uses the authorization code grant, whose callback comes to that address. "+
					"Only an app whose connections all use grant = \"device_code\" or \"client_credentials\" goes without one.", needs))
		}
	}
}

// attrLifetime evaluates a token_lifetime: a positive duration. what is
// the block type, for the message.
func (l *loader) attrLifetime(attr *hcl.Attribute, what string) (d time.Duration, set, ok bool) {
	s, set, ok := l.attrString(attr, false)
	if !ok || !set {
		return 0, false, ok
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid token_lifetime",
			"token_lifetime must be a duration such as \"1h\" or \"90m\" (units ns, us, ms, s, m, h); %q is not. It is how long to assume an access token lives when the provider's answer does not say.", s))
		return 0, false, false
	case d <= 0:
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid token_lifetime",
			"token_lifetime must be positive: it is how long to assume an access token lives when the provider's answer does not say. Remove it from this %s block for the default (1h for a token that comes with a refresh token).", what))
		return 0, false, false
	}
	return d, true, true
}

// attrKeepAlive evaluates a keep_alive: a positive duration.
func (l *loader) attrKeepAlive(attr *hcl.Attribute) (d time.Duration, set, ok bool) {
	s, set, ok := l.attrString(attr, false)
	if !ok || !set {
		return 0, false, ok
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid keep_alive",
			"keep_alive must be a positive duration such as \"120h\" (units ns, us, ms, s, m, h); %q is not. It is how long a refresh token may stay unused before oauthform refreshes it, for providers that expire idle refresh tokens.", s))
		return 0, false, false
	}
	return d, true, true
}

// attrGiveUpAfter evaluates a give_up_after: a positive duration.
func (l *loader) attrGiveUpAfter(attr *hcl.Attribute) (d time.Duration, set, ok bool) {
	s, set, ok := l.attrString(attr, false)
	if !ok || !set {
		return 0, false, ok
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid give_up_after",
			"give_up_after must be a positive duration such as \"96h\" (units ns, us, ms, s, m, h); %q is not. It is how long refreshes may keep failing with transient errors (5xx, 429, timeouts) before the connection is marked failing.", s))
		return 0, false, false
	}
	return d, true, true
}

// decodeOnFailure reads on_failure: a program and its arguments, run
// without a shell.
func (l *loader) decodeOnFailure(attr *hcl.Attribute) {
	list, set, ok := l.attrStrings(attr)
	if !ok || !set {
		return
	}
	if len(list) == 0 || strings.TrimSpace(list[0]) == "" {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid on_failure",
			`on_failure is a program and its arguments, run without a shell when a connection becomes failing or needs_reconnect: for example ["notify-send", "oauthform"].`))
		return
	}
	l.cfg.Settings.OnFailure = list
}

// appRef reads `app = app.NAME` statically.
func (l *loader) appRef(attr *hcl.Attribute) *App {
	tr, diags := hcl.AbsTraversalForExpr(attr.Expr)
	if diags.HasErrors() || len(tr) != 2 || tr.RootName() != "app" {
		detail := "The app argument must be a reference such as app.sms, naming an app block."
		if v, d := attr.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			name := strings.TrimPrefix(v.AsString(), "app.")
			if !hclsyntax.ValidIdentifier(name) {
				name = "NAME"
			}
			detail = fmt.Sprintf("The app argument takes a reference, not a string: write app = app.%s, without quotes.", name)
		}
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid app reference", "%s", detail))
		return nil
	}
	step, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid app reference",
			"The app argument must be a reference such as app.sms, naming an app block."))
		return nil
	}
	app, ok := l.cfg.Apps[step.Name]
	if !ok {
		detail := fmt.Sprintf("No app named %q is declared.", step.Name)
		if s := suggest(step.Name, sortedKeys(l.cfg.Apps)); s != "" {
			detail += fmt.Sprintf(" Did you mean app.%s?", s)
		} else {
			detail += fmt.Sprintf(" Declare it with an app %q block.", step.Name)
		}
		l.diags = append(l.diags, errorAt(tr.SourceRange(), "Reference to undeclared app", "%s", detail))
		return nil
	}
	return app
}

// elemRange is the source range of the i-th element of a list literal,
// or the whole expression when it is not one.
func elemRange(expr hcl.Expression, i, n int) hcl.Range {
	if t, ok := expr.(*hclsyntax.TupleConsExpr); ok && len(t.Exprs) == n {
		return t.Exprs[i].Range()
	}
	return expr.Range()
}

// checkScopes validates scopes against the provider and returns them with
// duplicates removed.
func (l *loader) checkScopes(attr *hcl.Attribute, list []string, p *providers.Profile) []string {
	out := make([]string, 0, len(list))
	if p != nil && p.NoScopes && len(list) > 0 {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Scopes not supported",
			"Provider %q has no scopes: remove scopes from this connection.", p.Name))
		return out
	}
	for i, s := range list {
		r := elemRange(attr.Expr, i, len(list))
		if slices.Contains(out, s) {
			l.diags = append(l.diags, warningAt(r, "Duplicate scope",
				"The scope %q is listed more than once; it is requested once.", s))
			continue
		}
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			l.diags = append(l.diags, errorAt(r, "Invalid scope",
				"A scope must be non-empty and contain no spaces, quotes or backslashes (RFC 6749 §3.3); %q is not valid. List several scopes as separate strings.", s))
			continue
		}
		if p != nil && !p.HasScope(s) {
			detail := fmt.Sprintf("Provider %q has no scope %q.", p.Name, s)
			if sug := suggest(s, p.KnownScopes); sug != "" {
				detail += fmt.Sprintf(" Did you mean %q?", sug)
			} else {
				detail += fmt.Sprintf(" Its scopes are %s.", strings.Join(p.KnownScopes, ", "))
			}
			l.diags = append(l.diags, errorAt(r, "Unknown scope", "%s", detail))
			continue
		}
		out = append(out, s)
	}
	return out
}

// paramRanges maps the keys of a map literal to their key and value
// ranges.
func paramRanges(expr hcl.Expression) map[string][2]hcl.Range {
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil
	}
	out := make(map[string][2]hcl.Range, len(obj.Items))
	for _, item := range obj.Items {
		k, diags := item.KeyExpr.Value(nil)
		if diags.HasErrors() || k.Type() != cty.String || !k.IsKnown() || k.IsNull() {
			continue
		}
		out[k.AsString()] = [2]hcl.Range{item.KeyExpr.Range(), item.ValueExpr.Range()}
	}
	return out
}

// checkParams validates extra authorize parameters against the provider.
func (l *loader) checkParams(attr *hcl.Attribute, m map[string]string, scopes []string, scopesAttr *hcl.Attribute, p *providers.Profile) map[string]string {
	ranges := paramRanges(attr.Expr)
	keyRange := func(k string) hcl.Range {
		if r, ok := ranges[k]; ok {
			return r[0]
		}
		return attr.Expr.Range()
	}
	valueRange := func(k string) hcl.Range {
		if r, ok := ranges[k]; ok {
			return r[1]
		}
		return attr.Expr.Range()
	}
	out := make(map[string]string, len(m))
	// Report in source order where known, then by name.
	keys := sortedKeys(m)
	slices.SortStableFunc(keys, func(a, b string) int {
		return keyRange(a).Start.Byte - keyRange(b).Start.Byte
	})
	for _, k := range keys {
		v := m[k]
		if slices.Contains(reservedParams, k) {
			l.diags = append(l.diags, errorAt(keyRange(k), "Reserved parameter",
				"The parameter %q is set by oauthform itself and cannot be given in params.", k))
			continue
		}
		if p == nil || p.Params == nil {
			out[k] = v
			continue
		}
		param, known := p.Params[k]
		if !known {
			detail := fmt.Sprintf("Provider %q does not accept the parameter %q.", p.Name, k)
			if sug := suggest(k, sortedKeys(p.Params)); sug != "" {
				detail += fmt.Sprintf(" Did you mean %q?", sug)
			} else if len(p.Params) == 0 {
				detail += " It takes no extra authorize parameters."
			} else {
				detail += fmt.Sprintf(" It accepts %s.", strings.Join(sortedKeys(p.Params), ", "))
			}
			l.diags = append(l.diags, errorAt(keyRange(k), "Unsupported parameter", "%s", detail))
			continue
		}
		if len(param.Values) > 0 && !slices.Contains(param.Values, v) {
			l.diags = append(l.diags, errorAt(valueRange(k), "Invalid parameter value",
				"The parameter %q of provider %q accepts only %s, not %q.", k, p.Name, quoteJoin(param.Values), v))
			continue
		}
		if param.RequiresScope != "" && !slices.Contains(scopes, param.RequiresScope) {
			d := errorAt(keyRange(k), "Missing scope for parameter",
				"The parameter %q of provider %q works only with the scope %q: add it to scopes.", k, p.Name, param.RequiresScope)
			if scopesAttr != nil {
				d.Context = hcl.RangeOver(scopesAttr.Range, attr.Range).Ptr()
			}
			l.diags = append(l.diags, d)
			continue
		}
		out[k] = v
	}
	return out
}

func quoteJoin(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
