package views

import (
	"fmt"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/textsafe"
)

// TokenFormatVersion versions the `token -json` document
// (docs/json-output.md).
const TokenFormatVersion = "1.0"

// TokenFormat is how token prints a token.
type TokenFormat int

// The formats of token.
const (
	TokenPlain  TokenFormat = iota // the token alone
	TokenHeader                    // an Authorization header line
	TokenJSON                      // a JSON document
)

// Token prints conn's access token from rec in format f.
func (v *View) Token(conn string, rec *state.Record, refreshed bool, f TokenFormat) {
	// A state written by an older oauthform may hold any token_type the
	// provider sent: it goes into a header line, so it is sanitized.
	tokenType := textsafe.Sanitize(rec.TokenType)
	if tokenType == "" || strings.EqualFold(tokenType, "bearer") {
		tokenType = "Bearer"
	}
	switch {
	case f == TokenHeader:
		fmt.Fprintf(v.Out, "Authorization: %s %s\n", tokenType, rec.Access.Reveal())
	case f == TokenJSON:
		out := struct {
			FormatVersion string     `json:"format_version"`
			Conn          string     `json:"connection"`
			AccessToken   string     `json:"access_token"`
			TokenType     string     `json:"token_type"`
			Expiry        *time.Time `json:"expiry"`
			Scopes        []string   `json:"scopes"`
			Refreshed     bool       `json:"refreshed"`
		}{FormatVersion: TokenFormatVersion, Conn: conn, AccessToken: rec.Access.Reveal(), TokenType: tokenType, Scopes: rec.GrantedScopes, Refreshed: refreshed}
		if out.Scopes == nil {
			out.Scopes = rec.Scopes
		}
		if out.Scopes == nil {
			out.Scopes = []string{}
		}
		if !rec.Expiry.IsZero() {
			e := rec.Expiry.UTC()
			out.Expiry = &e
		}
		_ = WriteJSON(v.Out, out)
	default:
		fmt.Fprintln(v.Out, rec.Access.Reveal())
	}
}
