package views

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/plan"
)

// jsonPlanFormatVersion is the version of the `plan -json` document. Minor
// versions only add fields; a major version change breaks readers. The
// document is described in docs/json-output.md.
const PlanFormatVersion = "1.0"

// jsonPlan is the `plan -json` document. The human view renders from the same
// struct, so the two cannot disagree.
type Plan struct {
	FormatVersion    string       `json:"format_version"`
	OauthformVersion string       `json:"oauthform_version"`
	Lineage          string       `json:"lineage"`
	Serial           uint64       `json:"serial"`
	ConfigDigest     string       `json:"config_digest"`
	Created          string       `json:"created"`
	Mode             string       `json:"mode"`
	Targets          []string     `json:"targets"`
	Changes          []Change     `json:"changes"`
	Blocked          []Change     `json:"blocked,omitempty"`
	Summary          Summary      `json:"summary"`
	Diagnostics      []Diagnostic `json:"diagnostics"`
	// DiagnosticsOmitted counts the diagnostics left out of Diagnostics
	// (over MaxShownDiags).
	DiagnosticsOmitted int `json:"diagnostics_omitted,omitempty"`
}

type Summary struct {
	Connect    int `json:"connect"`
	Refresh    int `json:"refresh"`
	Reconnect  int `json:"reconnect"`
	Update     int `json:"update"`
	Disconnect int `json:"disconnect"`
}

type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type Side struct {
	Provider      string            `json:"provider"`
	App           string            `json:"app,omitempty"`
	ClientID      string            `json:"client_id"`
	RedirectURI   string            `json:"redirect_uri"`
	Grant         string            `json:"grant,omitempty"` // empty: authorization_code
	Scopes        []string          `json:"scopes"`
	Params        map[string]string `json:"params"`
	RefreshBefore string            `json:"refresh_before"`
	Sealed        bool              `json:"sealed"`
}

type Change struct {
	Connection  string `json:"connection"`
	Action      string `json:"action"`
	Symbol      string `json:"symbol"`
	Interactive bool   `json:"interactive"`
	// Grant is how the tokens are obtained: authorization_code,
	// device_code or client_credentials.
	Grant           string   `json:"grant"`
	Reasons         []Reason `json:"reasons"`
	Before          *Side    `json:"before"`
	After           *Side    `json:"after"`
	Expiry          string   `json:"expiry,omitempty"`
	HasRefreshToken bool     `json:"has_refresh_token"`
	// RefreshTokenUsed and KeepAlive explain the "idle" reason.
	RefreshTokenUsed string `json:"refresh_token_used,omitempty"`
	KeepAlive        string `json:"keep_alive,omitempty"`
	// CheckStatus explains "revoked_at_provider": what check_url answered.
	CheckStatus int `json:"check_status,omitempty"`
	// MetaChanged names the metadata fields that changed at the provider
	// ("meta_changed"; apply writes their new value).
	MetaChanged []string `json:"meta_changed,omitempty"`
	CanRevoke   *bool    `json:"can_revoke,omitempty"`
	// RevokeByDiscovery: can_revoke is left out, the provider's discovery
	// document decides at apply.
	RevokeByDiscovery bool `json:"revoke_by_discovery,omitempty"`
}

func NewPlan(p *plan.Plan, diags hcl.Diagnostics, version string) *Plan {
	jp := &Plan{
		FormatVersion:    PlanFormatVersion,
		OauthformVersion: version,
		Lineage:          p.Lineage,
		Serial:           p.Serial,
		ConfigDigest:     p.ConfigDigest,
		Created:          p.Created.UTC().Format(time.RFC3339),
		Mode:             p.Mode.String(),
		Targets:          append([]string{}, p.Targets...),
		Changes:          []Change{},
	}
	jp.Diagnostics, jp.DiagnosticsOmitted = JSONDiagnostics(diags)
	for _, a := range p.Actions {
		jp.Changes = append(jp.Changes, NewChange(a))
	}
	for _, a := range p.Blocked {
		jp.Blocked = append(jp.Blocked, NewChange(a))
	}
	c := p.Counts()
	jp.Summary = Summary{
		Connect: c[plan.Connect], Refresh: c[plan.Refresh], Reconnect: c[plan.Reconnect],
		Update: c[plan.Update], Disconnect: c[plan.Disconnect],
	}
	return jp
}

func NewChange(a *plan.Action) Change {
	jc := Change{
		Connection:      a.Conn,
		Action:          a.Kind.String(),
		Symbol:          a.Kind.Symbol(),
		Interactive:     a.Interactive(),
		Grant:           string(a.Grant()),
		Reasons:         []Reason{},
		Before:          newSide(a.Before),
		After:           newSide(a.After),
		HasRefreshToken: a.HasRefresh,
	}
	for _, r := range a.Reasons {
		jc.Reasons = append(jc.Reasons, Reason{Code: string(r), Message: r.Text()})
	}
	if !a.Expiry.IsZero() {
		jc.Expiry = a.Expiry.UTC().Format(time.RFC3339)
	}
	if !a.RefreshTokenUsed.IsZero() {
		jc.RefreshTokenUsed, jc.KeepAlive = a.RefreshTokenUsed.UTC().Format(time.RFC3339), FormatDuration(a.KeepAlive)
	}
	jc.CheckStatus = a.CheckStatus
	for k := range a.Meta {
		jc.MetaChanged = append(jc.MetaChanged, k)
	}
	sort.Strings(jc.MetaChanged)
	if a.Kind == plan.Disconnect && !a.RevokeByDiscovery {
		cr := a.CanRevoke
		jc.CanRevoke = &cr
	}
	jc.RevokeByDiscovery = a.RevokeByDiscovery
	return jc
}

func newSide(s *plan.Side) *Side {
	if s == nil {
		return nil
	}
	js := &Side{
		Provider:      s.Provider,
		App:           s.App,
		ClientID:      s.ClientID,
		RedirectURI:   s.RedirectURI,
		Grant:         string(s.Grant),
		Scopes:        append([]string{}, s.Scopes...),
		Params:        map[string]string{},
		RefreshBefore: FormatDuration(s.RefreshBefore),
		Sealed:        s.Sealed,
	}
	for k, v := range s.Params {
		js.Params[k] = v
	}
	return js
}

func (p Palette) forKind(action string) string {
	switch action {
	case "connect":
		return p.green
	case "disconnect":
		return p.red
	case "reconnect", "update":
		return p.yellow
	case "refresh":
		return p.cyan
	}
	return ""
}

// RenderPlan writes the human view of jp.
func RenderPlan(w io.Writer, jp *Plan, pal Palette) {
	// Buffered: a plan of 1,000 refreshes is 12,000 lines, which were
	// as many system calls (14 ms of an apply).
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	renderPlan(bw, jp, pal)
}

func renderPlan(w io.Writer, jp *Plan, pal Palette) {
	now, _ := time.Parse(time.RFC3339, jp.Created)
	if len(jp.Changes) == 0 {
		if len(jp.Blocked) == 0 {
			fmt.Fprintf(w, "%sNo changes.%s Your connections match the configuration.\n", pal.green+pal.bold, pal.reset)
			return
		}
	} else {
		fmt.Fprintln(w, "oauthform will perform the following actions:")
		for _, c := range jp.Changes {
			fmt.Fprintln(w)
			renderChange(w, c, now, pal)
		}
		fmt.Fprintln(w)
		s := jp.Summary
		fmt.Fprintf(w, "%sPlan:%s %d to connect, %d to refresh, %d to reconnect, %d to update, %d to disconnect.\n",
			pal.bold, pal.reset, s.Connect, s.Refresh, s.Reconnect, s.Update, s.Disconnect)
	}
	if len(jp.Blocked) > 0 {
		fmt.Fprintf(w, "\nThese connections need a person and were left out (run \"oauthform apply\"):\n")
		for _, c := range jp.Blocked {
			fmt.Fprintf(w, "  %s %s: %s\n", c.Symbol, c.Connection, ReasonsText(c.Reasons))
		}
	}
	switch n, where := interactiveCount(jp.Changes); {
	case n == 1:
		fmt.Fprintf(w, "\n1 of these actions needs a person to approve access %s.\n", where)
	case n > 1:
		fmt.Fprintf(w, "\n%d of these actions need a person to approve access %s.\n", n, where)
	}
}

// interactiveCount counts the changes that need a person, and says where
// they approve: in a browser, on a device (the device grant), or both.
func interactiveCount(cs []Change) (int, string) {
	n, browser, device := 0, false, false
	for _, c := range cs {
		if c.Interactive {
			n++
			device = device || c.Grant == "device_code"
			browser = browser || c.Grant != "device_code"
		}
	}
	switch {
	case browser && device:
		return n, "in a browser or on a device"
	case device:
		return n, "on a device (device grant)"
	}
	return n, "in a browser"
}

// grantName is a side's grant by name (empty: the default).
func grantName(g string) string {
	if g == "" {
		return "authorization_code"
	}
	return g
}

// grantNote is the header note of a change that needs a person.
func grantNote(grant string) string {
	if grant == "device_code" {
		return " (needs a person: device grant)"
	}
	return " (needs a person: browser grant)"
}

func ReasonsText(rs []Reason) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Message
	}
	return strings.Join(parts, "; ")
}

// verb says what happens to a connection in a change block's header.
func verb(action string) string {
	switch action {
	case "connect":
		return "will be connected"
	case "reconnect":
		return "must be reconnected"
	case "update":
		return "will be updated in place"
	case "refresh":
		return "will be refreshed"
	case "disconnect":
		return "will be disconnected"
	}
	return ""
}

// renderChange writes one block:
//
//	# sms_main will be connected (needs a person)
//	+ connection "sms_main" {
//	    + provider = "sms77"
//	    …
//	  }
func renderChange(w io.Writer, c Change, now time.Time, pal Palette) {
	col := pal.forKind(c.Action)
	header := fmt.Sprintf("  %s# %s%s %s", pal.bold, c.Connection, pal.reset, verb(c.Action))
	switch {
	case c.Interactive:
		header += grantNote(c.Grant)
	case c.Grant == "client_credentials" && c.Action != "disconnect" && c.Action != "update":
		header += " (no person: client credentials)"
	case c.CanRevoke != nil && *c.CanRevoke && c.Before != nil:
		header += fmt.Sprintf(" (revoked at %s, then forgotten)", c.Before.Provider)
	case c.RevokeByDiscovery && c.Before != nil:
		header += fmt.Sprintf(" (revoked at %s if its discovery document offers revocation, then forgotten)", c.Before.Provider)
	}
	fmt.Fprintln(w, header)
	for _, r := range c.Reasons {
		fmt.Fprintf(w, "  #   %s\n", reasonLine(r, c, now))
	}
	fmt.Fprintf(w, "%s%3s%s connection %q {\n", col, c.Symbol, pal.reset, c.Connection)

	var lines []attrLine
	switch {
	case c.Before == nil && c.After != nil: // connect
		lines = sideLines(c.After, "+")
	case c.After == nil && c.Before != nil: // disconnect
		lines = sideLines(c.Before, "-")
	default:
		lines = diffLines(c.Before, c.After, c.Action)
	}
	if c.Action == "refresh" || c.Action == "reconnect" || c.Action == "disconnect" {
		sym := "~"
		if c.Action == "disconnect" {
			sym = "-"
		}
		lines = append(lines, attrLine{sym: sym, name: "access_token", value: "(sensitive)"})
		if c.HasRefreshToken {
			lines = append(lines, attrLine{sym: sym, name: "refresh_token", value: "(sensitive)"})
		}
	}
	if c.Expiry != "" {
		if t, err := time.Parse(time.RFC3339, c.Expiry); err == nil {
			lines = append(lines, attrLine{sym: " ", name: "expiry", value: fmt.Sprintf("%q (%s)", c.Expiry, RelTime(t, now))})
		}
	}
	writeAttrLines(w, lines, pal)
	fmt.Fprintln(w, "    }")
	if c.CanRevoke != nil && !*c.CanRevoke && c.Before != nil {
		fmt.Fprintf(w, "  # note: %s cannot revoke remotely; oauthform will forget the tokens, revoke access in %s's own settings.\n",
			c.Before.Provider, c.Before.Provider)
	}
}

func reasonLine(r Reason, c Change, now time.Time) string {
	msg := r.Message
	if (r.Code == string(plan.ReasonExpiring) || r.Code == string(plan.ReasonExpired) || r.Code == string(plan.ReasonExpiredNoRefresh)) && c.Expiry != "" {
		if t, err := time.Parse(time.RFC3339, c.Expiry); err == nil {
			msg += fmt.Sprintf(" (expires %s, %s)", c.Expiry, RelTime(t, now))
		}
	}
	if r.Code == string(plan.ReasonIdle) && c.RefreshTokenUsed != "" {
		if t, err := time.Parse(time.RFC3339, c.RefreshTokenUsed); err == nil {
			msg += fmt.Sprintf(" (refresh token idle for %s, keep_alive %s)", FormatDuration(now.Sub(t).Truncate(time.Second)), c.KeepAlive)
		}
	}
	if r.Code == string(plan.ReasonMetaChanged) && len(c.MetaChanged) > 0 {
		msg += ": " + strings.Join(c.MetaChanged, ", ")
	}
	if r.Code == string(plan.ReasonRevokedAtProvider) {
		if c.CheckStatus != 0 {
			msg += fmt.Sprintf(": check_url answered %d", c.CheckStatus)
		} else {
			msg += ": check_url refused the access token"
		}
	}
	return msg
}

// attrLine is one attribute row of a change block; sub holds list items for
// a scope diff.
type attrLine struct {
	sym, name, value string
	sub              []attrLine
}

func writeAttrLines(w io.Writer, lines []attrLine, pal Palette) {
	width := 0
	for _, l := range lines {
		width = max(width, len(l.name))
	}
	for _, l := range lines {
		// By hand rather than with Fprintf: a plan of 1,000 refreshes has
		// 7,000 of these lines.
		line := make([]byte, 0, 16+width+len(l.value)+len(pal.green)+len(pal.reset))
		line = append(line, "      "...)
		line = append(line, colorSym(l.sym, pal)...)
		line = append(line, ' ')
		line = append(line, l.name...)
		line = append(line, strings.Repeat(" ", width-len(l.name))...)
		line = append(line, " = "...)
		line = append(line, l.value...)
		line = append(line, '\n')
		_, _ = w.Write(line)
		for _, s := range l.sub {
			fmt.Fprintf(w, "          %s %s,\n", colorSym(s.sym, pal), s.value)
		}
		if len(l.sub) > 0 {
			fmt.Fprintf(w, "        %*s]\n", 0, "")
		}
	}
}

func colorSym(sym string, pal Palette) string {
	switch sym {
	case "+":
		return pal.green + sym + pal.reset
	case "-":
		return pal.red + sym + pal.reset
	case "~":
		return pal.yellow + sym + pal.reset
	}
	return sym
}

func sideLines(s *Side, sym string) []attrLine {
	lines := []attrLine{{sym: sym, name: "provider", value: quote(s.Provider)}}
	if s.App != "" {
		lines = append(lines, attrLine{sym: sym, name: "app", value: "app." + s.App})
	}
	lines = append(lines, attrLine{sym: sym, name: "client_id", value: quote(s.ClientID)})
	if s.RedirectURI != "" {
		lines = append(lines, attrLine{sym: sym, name: "redirect_uri", value: quote(s.RedirectURI)})
	}
	if s.Grant != "" {
		lines = append(lines, attrLine{sym: sym, name: "grant", value: quote(s.Grant)})
	}
	lines = append(lines, attrLine{sym: sym, name: "scopes", value: listValue(s.Scopes)})
	if len(s.Params) > 0 {
		lines = append(lines, attrLine{sym: sym, name: "params", value: mapValue(s.Params)})
	}
	lines = append(lines, attrLine{sym: sym, name: "refresh_before", value: quote(s.RefreshBefore)})
	return lines
}

// diffLines shows what differs between before and after; unchanged
// identifying attributes are shown plainly for context.
func diffLines(b, a *Side, action string) []attrLine {
	var lines []attrLine
	scalar := func(name, bv, av string, always bool) {
		switch {
		case bv != av:
			lines = append(lines, attrLine{sym: "~", name: name, value: quote(bv) + " -> " + quote(av)})
		case always:
			lines = append(lines, attrLine{sym: " ", name: name, value: quote(av)})
		}
	}
	scalar("provider", b.Provider, a.Provider, true)
	if a.App != "" {
		lines = append(lines, attrLine{sym: " ", name: "app", value: "app." + a.App})
	}
	scalar("client_id", b.ClientID, a.ClientID, false)
	scalar("redirect_uri", b.RedirectURI, a.RedirectURI, false)
	scalar("grant", grantName(b.Grant), grantName(a.Grant), a.Grant != "")
	if !sameSet(b.Scopes, a.Scopes) {
		lines = append(lines, attrLine{sym: "~", name: "scopes", value: "[", sub: scopeDiff(b.Scopes, a.Scopes)})
	} else if action != "update" {
		lines = append(lines, attrLine{sym: " ", name: "scopes", value: listValue(a.Scopes)})
	}
	if !sameMap(b.Params, a.Params) {
		lines = append(lines, attrLine{sym: "~", name: "params", value: mapValue(b.Params) + " -> " + mapValue(a.Params)})
	}
	scalar("refresh_before", b.RefreshBefore, a.RefreshBefore, false)
	if b.Sealed != a.Sealed {
		yesNo := map[bool]string{false: "no", true: "yes"}
		lines = append(lines, attrLine{sym: "~", name: "sealed", value: yesNo[b.Sealed] + " -> " + yesNo[a.Sealed]})
	}
	return lines
}

// scopeDiff lists the union of both scope lists, sorted, marking additions
// and removals.
func scopeDiff(before, after []string) []attrLine {
	all := append(append([]string{}, before...), after...)
	sort.Strings(all)
	all = slices.Compact(all)
	var out []attrLine
	for _, s := range all {
		inB, inA := slices.Contains(before, s), slices.Contains(after, s)
		sym := " "
		switch {
		case inA && !inB:
			sym = "+"
		case inB && !inA:
			sym = "-"
		}
		out = append(out, attrLine{sym: sym, value: quote(s)})
	}
	return out
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// quote is fmt's %q of s (strconv.Quote), without fmt's work.
func quote(s string) string { return strconv.Quote(s) }

func listValue(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func mapValue(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s = %q", k, m[k])
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// SavedPlan shows a saved plan with plan's own views.
func (v *View) SavedPlan(jp *Plan, asJSON bool) error {
	if asJSON {
		return WriteJSON(v.Out, jp)
	}
	RenderPlan(v.Out, jp, NewPalette(v.Color))
	return nil
}

// Plan shows a plan: one JSON document (jp holds the diagnostics), or the
// diagnostics on stderr and the plan for people, with how to apply it
// when it was saved to out.
func (v *View) Plan(jp *Plan, files map[string]*hcl.File, diags hcl.Diagnostics, asJSON bool, out string) error {
	if asJSON {
		return WriteJSON(v.Out, jp)
	}
	v.Diagnostics(files, diags)
	RenderPlan(v.Out, jp, NewPalette(v.Color))
	if out != "" {
		fmt.Fprintf(v.Out, "\nSaved the plan to: %s\n\nTo perform exactly these actions, run:\n    oauthform apply %q\n", out, out)
	}
	return nil
}

// PlanFailed shows the diagnostics of a plan that failed, in the output
// format the user chose.
func (v *View) PlanFailed(files map[string]*hcl.File, diags hcl.Diagnostics, asJSON bool) {
	if asJSON {
		jd, omitted := JSONDiagnostics(diags)
		_ = WriteJSON(v.Out, struct {
			FormatVersion      string       `json:"format_version"`
			Diagnostics        []Diagnostic `json:"diagnostics"`
			DiagnosticsOmitted int          `json:"diagnostics_omitted,omitempty"`
		}{PlanFormatVersion, jd, omitted})
		return
	}
	v.Diagnostics(files, diags)
}
