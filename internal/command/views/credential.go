package views

import (
	"fmt"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/credential"
	"github.com/oauthform/oauthform/internal/state"
)

// GitCredential answers git's `get` on stdout, in git's credential format.
func (v *View) GitCredential(c *credential.GitCredential) error {
	return c.Write(v.Out)
}

// Raw writes a document a program reads from stdout as it is (kubectl's
// ExecCredential, a curl config line).
func (v *View) Raw(b []byte) {
	_, _ = v.Out.Write(b)
}

// ImportReport is what `oauthform import` did.
type ImportReport struct {
	Conn, Provider string
	Record         *state.Record
	Replaced       bool
	Now            time.Time
}

// Imported tells the person what import wrote: never a token.
func (v *View) Imported(r ImportReport) {
	pal := NewPalette(v.Color)
	verb := "Imported"
	if r.Replaced {
		verb = "Imported (replacing the tokens it held)"
	}
	expires := "never"
	if !r.Record.Expiry.IsZero() {
		expires = RelTime(r.Record.Expiry, r.Now)
		if r.Record.ExpiryAssumed {
			expires += " (assumed)"
		}
	}
	refresh := "no refresh token"
	if !r.Record.Refresh.IsZero() {
		refresh = "with a refresh token"
	}
	scopes := strings.Join(r.Record.GrantedScopes, " ")
	if scopes == "" {
		scopes = "-"
	}
	fmt.Fprintf(v.Out, "%s%s %s%s: %s, %s, expires %s, scopes %s\n", pal.green+pal.bold, verb, r.Conn, pal.reset, r.Provider, refresh, expires, scopes)
	fmt.Fprintf(v.Out, "\nRun \"oauthform plan\" to see that it matches the configuration.\n")
}
