package views

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// jsonShowFormatVersion versions the `show -json` document
// (docs/json-output.md).
const ShowFormatVersion = "1.0"

type State struct {
	FormatVersion    string       `json:"format_version"`
	OauthformVersion string       `json:"oauthform_version"`
	Lineage          string       `json:"lineage"`
	Serial           uint64       `json:"serial"`
	Connections      []Connection `json:"connections"`
}

type LastError struct {
	Kind    string `json:"kind"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	At      string `json:"at"`
	// Count, Since and NextAttempt: transient failures in a row, since
	// when, and when refresh tries again.
	Count       int    `json:"count,omitempty"`
	Since       string `json:"since,omitempty"`
	NextAttempt string `json:"next_attempt,omitempty"`
}

type Connection struct {
	Name          string            `json:"name"`
	Declared      bool              `json:"declared"`
	Connected     bool              `json:"connected"`
	Status        string            `json:"status"`
	Provider      string            `json:"provider"`
	ClientID      string            `json:"client_id"`
	RedirectURI   string            `json:"redirect_uri"`
	Scopes        []string          `json:"scopes"`
	GrantedScopes []string          `json:"granted_scopes"`
	Params        map[string]string `json:"params"`
	RefreshBefore string            `json:"refresh_before"`
	TokenType     string            `json:"token_type,omitempty"`
	Expiry        string            `json:"expiry,omitempty"`
	// ExpiryAssumed: the provider's answer gave no expiry and Expiry is
	// the assumed lifetime (token_lifetime, or 1h with a refresh token).
	ExpiryAssumed   bool `json:"expiry_assumed"`
	HasAccessToken  bool `json:"has_access_token"`
	HasRefreshToken bool `json:"has_refresh_token"`
	// AccessToken and RefreshToken are present only with -show-sensitive.
	AccessToken  *string        `json:"access_token,omitempty"`
	RefreshToken *string        `json:"refresh_token,omitempty"`
	LastError    *LastError     `json:"last_error,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
	Created      string         `json:"created,omitempty"`
	Refreshed    string         `json:"refreshed,omitempty"`
	// Custody is what the custody journal and emergency files say that
	// the state does not: a refresh in flight or interrupted, tokens kept
	// outside the state, a state gone back in time.
	Custody *Custody `json:"custody,omitempty"`
	// Discovery: the endpoints an issuer-only provider's metadata gave,
	// kept so that refreshes need not fetch it.
	Discovery *Discovery `json:"discovery,omitempty"`
}

type Discovery struct {
	Issuer    string `json:"issuer"`
	Authorize string `json:"authorization_endpoint"`
	Token     string `json:"token_endpoint"`
	Revoke    string `json:"revocation_endpoint,omitempty"`
	Userinfo  string `json:"userinfo_endpoint,omitempty"`
	Fetched   string `json:"fetched"`
}

type Custody struct {
	State  string `json:"state"`
	Detail string `json:"detail"`
	File   string `json:"file,omitempty"`
}

// addCustody attaches the custody report to the connections.
func (js *State) AddCustody(report map[string]*apply.CustodyStatus) {
	for i := range js.Connections {
		if c := report[js.Connections[i].Name]; c != nil {
			js.Connections[i].Custody = &Custody{State: c.State, Detail: c.Detail, File: c.File}
		}
	}
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// newJSONConnection describes one record; cfg may be nil. Tokens are
// revealed only when showSensitive is set.
func NewConnection(rec *state.Record, declared bool, showSensitive bool) Connection {
	jc := Connection{
		Name:            rec.Conn,
		Declared:        declared,
		Connected:       true,
		Status:          string(rec.Status),
		Provider:        rec.Provider,
		ClientID:        rec.ClientID,
		RedirectURI:     rec.RedirectURI,
		Scopes:          append([]string{}, rec.Scopes...),
		GrantedScopes:   safeStrings(rec.GrantedScopes),
		Params:          map[string]string{},
		RefreshBefore:   FormatDuration(rec.RefreshBefore),
		TokenType:       textsafe.Sanitize(rec.TokenType),
		Expiry:          timeOrEmpty(rec.Expiry),
		ExpiryAssumed:   rec.ExpiryAssumed && !rec.Expiry.IsZero(),
		HasAccessToken:  !rec.Access.IsZero(),
		HasRefreshToken: !rec.Refresh.IsZero(),
		Metadata:        safeMeta(rec.Meta),
		Created:         timeOrEmpty(rec.Created),
		Refreshed:       timeOrEmpty(rec.Refreshed),
	}
	for k, v := range rec.Params {
		jc.Params[k] = v
	}
	if d := rec.Discovery; d != nil {
		jc.Discovery = &Discovery{Issuer: d.Issuer, Authorize: d.AuthorizeURL, Token: d.TokenURL,
			Revoke: d.RevokeURL, Userinfo: d.CheckURL, Fetched: timeOrEmpty(d.Fetched)}
	}
	if showSensitive {
		a, r := rec.Access.Reveal(), rec.Refresh.Reveal()
		jc.AccessToken, jc.RefreshToken = &a, &r
	}
	if le := rec.LastError; le != nil {
		// A state written by an older oauthform may hold the provider's
		// words as they came: they are sanitized again on the way out.
		jc.LastError = &LastError{Kind: textsafe.Sanitize(le.Kind), Code: textsafe.Sanitize(le.Code),
			Message: textsafe.Sanitize(le.Message), At: timeOrEmpty(le.At),
			Count: le.Count, Since: timeOrEmpty(le.Since), NextAttempt: timeOrEmpty(le.Next)}
	}
	return jc
}

// safeStrings returns ss sanitized (textsafe.Sanitize), nil staying nil:
// the provider chose them.
func safeStrings(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = textsafe.Sanitize(s)
	}
	return out
}

// safeMeta returns the provider's metadata with every string in it, keys
// included, sanitized.
func safeMeta(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[textsafe.Sanitize(k)] = safeValue(v)
	}
	return out
}

func safeValue(v any) any {
	switch x := v.(type) {
	case string:
		return textsafe.Sanitize(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = safeValue(e)
		}
		return out
	case map[string]any:
		return safeMeta(x)
	}
	return v
}

// newJSONState lists the state's connections, plus declared connections that
// are not connected yet (when cfg is given), sorted by name.
func NewState(snap *state.Snapshot, cfg *config.Config, only string, showSensitive bool, version string) *State {
	js := &State{
		FormatVersion: ShowFormatVersion, OauthformVersion: version,
		Lineage: snap.Lineage, Serial: snap.Serial, Connections: []Connection{},
	}
	for name, rec := range snap.Records {
		if only != "" && name != only {
			continue
		}
		declared := false
		if cfg != nil {
			_, declared = cfg.Connections[name]
		}
		js.Connections = append(js.Connections, NewConnection(rec, declared, showSensitive))
	}
	if cfg != nil {
		for name, c := range cfg.Connections {
			if _, ok := snap.Records[name]; ok || (only != "" && name != only) {
				continue
			}
			js.Connections = append(js.Connections, Connection{
				Name: name, Declared: true, Status: "not_connected",
				Provider: c.App.Provider, ClientID: c.App.ClientID, RedirectURI: c.App.RedirectURI,
				Scopes: append([]string{}, c.Scopes...), Params: c.Params,
				RefreshBefore: FormatDuration(c.RefreshBefore),
			})
		}
	}
	sort.Slice(js.Connections, func(i, j int) bool { return js.Connections[i].Name < js.Connections[j].Name })
	return js
}

// renderStateTable is `show` without a connection: one row each.
func RenderStateTable(w io.Writer, js *State, now time.Time) {
	if len(js.Connections) == 0 {
		fmt.Fprintln(w, "No connections. Declare some in *.oauth.hcl, then run \"oauthform apply\".")
		return
	}
	// The failure columns appear when a connection is retrying after
	// transient failures (a terminal one shows as "needs reconnect"), so
	// the common table stays narrow.
	failures := slices.ContainsFunc(js.Connections, func(c Connection) bool { return c.LastError != nil && c.LastError.Count > 0 })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "CONNECTION\tPROVIDER\tSTATUS\tEXPIRES\tSCOPES"
	if failures {
		header += "\tLAST ERROR\tNEXT ATTEMPT"
	}
	fmt.Fprintln(tw, header)
	for _, c := range js.Connections {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", c.Name, c.Provider, statusText(c), expiryText(c, now), scopesText(c))
		if failures {
			row += "\t" + lastErrorText(c) + "\t" + nextAttemptText(c, now)
		}
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
}

// lastErrorText is a connection's last error for the table: its kind and
// when, or "-".
func lastErrorText(c Connection) string {
	le := c.LastError
	if le == nil {
		return "-"
	}
	s := le.Kind
	if le.Count > 1 {
		s += fmt.Sprintf(" (%d in a row)", le.Count)
	}
	return s
}

// nextAttemptText says when refresh tries a failing connection again.
func nextAttemptText(c Connection, now time.Time) string {
	if c.LastError == nil || c.LastError.NextAttempt == "" {
		return "-"
	}
	t, err := time.Parse(time.RFC3339, c.LastError.NextAttempt)
	if err != nil {
		return c.LastError.NextAttempt
	}
	if !t.After(now) {
		return "due"
	}
	return RelTime(t, now)
}

func statusText(c Connection) string {
	s := strings.ReplaceAll(c.Status, "_", " ")
	if c.Custody != nil {
		s += ", " + strings.ReplaceAll(c.Custody.State, "_", " ")
	}
	if c.Connected && !c.Declared {
		s += " (not declared)"
	}
	return s
}

func expiryText(c Connection, now time.Time) string {
	switch {
	case !c.Connected:
		return "-"
	case c.Expiry == "":
		return "never"
	}
	t, err := time.Parse(time.RFC3339, c.Expiry)
	if err != nil {
		return c.Expiry
	}
	s := RelTime(t, now)
	if !t.After(now) {
		s = "expired " + s
	}
	if c.ExpiryAssumed {
		// The provider did not say: token_lifetime, or the default.
		s += " (assumed)"
	}
	return s
}

func scopesText(c Connection) string {
	if len(c.Scopes) == 0 {
		return "-"
	}
	s := strings.Join(c.Scopes, " ")
	if c.GrantedScopes != nil && !sameSet(c.GrantedScopes, c.Scopes) {
		s += " (granted: " + strings.Join(c.GrantedScopes, " ") + ")"
	}
	return s
}

// renderConnection is `show NAME` / `state show NAME`.
func RenderConnection(w io.Writer, c Connection, now time.Time) {
	fmt.Fprintf(w, "# connection %q\n", c.Name)
	row := func(k, v string) { fmt.Fprintf(w, "  %-16s %s\n", k+":", v) }
	row("provider", c.Provider)
	row("status", statusText(c))
	row("client_id", c.ClientID)
	row("redirect_uri", c.RedirectURI)
	row("scopes", scopesText(c))
	if len(c.Params) > 0 {
		row("params", mapValue(c.Params))
	}
	row("refresh_before", c.RefreshBefore)
	if !c.Connected {
		return
	}
	tok := func(has bool, v *string) string {
		switch {
		case !has:
			return "(none)"
		case v != nil:
			return *v
		}
		return "(sensitive)"
	}
	row("access_token", tok(c.HasAccessToken, c.AccessToken))
	row("refresh_token", tok(c.HasRefreshToken, c.RefreshToken))
	if c.TokenType != "" {
		row("token_type", c.TokenType)
	}
	if c.Expiry != "" {
		row("expires", c.Expiry+" ("+expiryText(c, now)+")")
	} else {
		row("expires", "never")
	}
	if c.Created != "" {
		row("created", c.Created)
	}
	if c.Refreshed != "" {
		row("refreshed", c.Refreshed)
	}
	if d := c.Discovery; d != nil {
		row("discovered", fmt.Sprintf("from %s at %s", d.Issuer, d.Fetched))
	}
	if cu := c.Custody; cu != nil {
		row("custody", cu.Detail)
	}
	if le := c.LastError; le != nil {
		msg := le.Kind
		if le.Message != "" {
			msg += ": " + le.Message
		}
		row("last_error", msg+" ("+le.At+")")
		if le.Count > 0 {
			row("failures", fmt.Sprintf("%d in a row since %s", le.Count, le.Since))
		}
		if le.NextAttempt != "" {
			row("next_attempt", le.NextAttempt)
		}
	}
	keys := make([]string, 0, len(c.Metadata))
	for k := range c.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, _ := json.Marshal(c.Metadata[k])
		row(k, string(b))
	}
}

// StateShow prints one connection as the state records it: as JSON, or
// for people.
func (v *View) StateShow(c Connection, now time.Time, asJSON bool) {
	if asJSON {
		_ = WriteJSON(v.Out, struct {
			FormatVersion string `json:"format_version"`
			Connection
		}{ShowFormatVersion, c})
		return
	}
	RenderConnection(v.Out, c, now)
}

// Show prints the state's connections (one, with single): as one JSON
// document, or for people.
func (v *View) Show(js *State, single bool, now time.Time, asJSON bool) error {
	if asJSON {
		return WriteJSON(v.Out, js)
	}
	if single {
		RenderConnection(v.Out, js.Connections[0], now)
		return nil
	}
	RenderStateTable(v.Out, js, now)
	return nil
}
