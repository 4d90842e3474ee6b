package views

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// StatusFormatVersion versions the `status -json` document
// (docs/json-output.md).
const StatusFormatVersion = "1.0"

// Status is the `status -json` document.
type Status struct {
	FormatVersion string             `json:"format_version"`
	Healthy       bool               `json:"healthy"`
	Connections   []StatusConnection `json:"connections"`
}

// StatusConnection is one connection's health, as `status -json` prints it.
type StatusConnection struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Health   string `json:"health"`
	// Attention: anything but healthy.
	Attention bool   `json:"attention"`
	Expiry    string `json:"expiry,omitempty"`
	// RefreshTokenUsed and KeepAlive explain idle.
	RefreshTokenUsed string     `json:"refresh_token_used,omitempty"`
	KeepAlive        string     `json:"keep_alive,omitempty"`
	LastError        *LastError `json:"last_error,omitempty"`
}

// NewStatus builds the status document from plan.Health.
func NewStatus(hs []*plan.ConnHealth) *Status {
	s := &Status{FormatVersion: StatusFormatVersion, Healthy: true, Connections: []StatusConnection{}}
	for _, h := range hs {
		c := StatusConnection{Name: h.Conn, Provider: h.Provider, Health: string(h.State), Attention: h.Attention(),
			Expiry: rfc3339(h.Expiry), RefreshTokenUsed: rfc3339(h.RefreshTokenUsed)}
		if h.KeepAlive > 0 {
			c.KeepAlive = FormatDuration(h.KeepAlive)
		}
		if le := h.LastError; le != nil {
			c.LastError = &LastError{Kind: le.Kind, Code: textsafe.Sanitize(le.Code), Message: textsafe.Sanitize(le.Message), At: rfc3339(le.At),
				Count: le.Count, Since: rfc3339(le.Since), NextAttempt: rfc3339(le.Next)}
		}
		s.Healthy = s.Healthy && !c.Attention
		s.Connections = append(s.Connections, c)
	}
	return s
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Status prints one line per connection: its name, provider, health and
// why.
func (v *View) Status(s *Status, now time.Time, asJSON bool) error {
	if asJSON {
		return WriteJSON(v.Out, s)
	}
	if len(s.Connections) == 0 {
		_, err := fmt.Fprintln(v.Out, "No connections are declared or in the state.")
		return err
	}
	tw := tabwriter.NewWriter(v.Out, 0, 4, 2, ' ', 0)
	for _, c := range s.Connections {
		detail := statusDetail(c, now)
		if le := c.LastError; le != nil && le.Count > 0 && c.Health != string(plan.Failing) {
			detail += fmt.Sprintf("; retrying: %d failed attempts since %s, next attempt %s", le.Count, le.Since, le.NextAttempt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Provider, c.Health, detail)
	}
	return tw.Flush()
}

// statusDetail says why a connection is in its state, in a few words.
func statusDetail(c StatusConnection, now time.Time) string {
	at := func(s string) (time.Time, bool) {
		t, err := time.Parse(time.RFC3339, s)
		return t, err == nil
	}
	le := c.LastError
	switch c.Health {
	case string(plan.Healthy), string(plan.Expiring):
		if t, ok := at(c.Expiry); ok {
			if d := t.Sub(now); d > 0 {
				return "token expires in " + FormatDuration(d.Round(time.Second))
			}
			return "token expired " + FormatDuration(now.Sub(t).Round(time.Second)) + " ago; refresh renews it"
		}
		return "token does not expire"
	case string(plan.Idle):
		if t, ok := at(c.RefreshTokenUsed); ok {
			return fmt.Sprintf("refresh token unused for %s (keep_alive %s)", FormatDuration(now.Sub(t).Round(time.Second)), c.KeepAlive)
		}
	case string(plan.Failing):
		if le != nil {
			s := fmt.Sprintf("since %s (%d attempts, last: %s)", le.Since, le.Count, le.Kind)
			if t, ok := at(le.NextAttempt); ok {
				s += ", next attempt " + le.NextAttempt
				if d := t.Sub(now); d > 0 {
					s += " (in " + FormatDuration(d.Round(time.Second)) + ")"
				}
			}
			return s
		}
	case string(plan.NeedsReconnect):
		if le != nil {
			return "run \"oauthform apply\" (" + le.Kind + " at " + le.At + ")"
		}
		return "run \"oauthform apply\""
	case string(plan.NotConnected):
		return "run \"oauthform apply\" to connect it"
	case string(plan.NotDeclared):
		return "in the state, not in the configuration"
	}
	return ""
}
