package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthform/oauthform/internal/secret"
)

// MaxImportSize bounds an imported token document: a token response is a
// few kilobytes.
const MaxImportSize = 1 << 20

// ImportToken reads a grant obtained outside oauthform (`oauthform
// import`): a token response as the provider's token endpoint answers it
// (read with the profile's quirks: absolute `expires`, a comma-separated
// `scope`, its token_type, its metadata fields), or the document `oauthform
// token -json` prints (`expiry` as RFC 3339, `scopes` as a list).
//
// Tokens.Scopes is nil when the document names no scope. Errors never
// quote the document: it holds tokens.
func (c *Client) ImportToken(r io.Reader) (*Token, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImportSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the token document: %w", err)
	}
	if len(data) > MaxImportSize {
		return nil, fmt.Errorf("the token document is larger than %d bytes; a token response is a few kilobytes", MaxImportSize)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, errors.New("the token document is not a JSON object: give the provider's token response or `oauthform token -json` output")
	}
	clear(data)
	str := func(key string) (string, error) {
		switch v := doc[key].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		default:
			return "", fmt.Errorf("the token document's %q is not a string", key)
		}
	}
	var access, refresh, typ string
	for key, dst := range map[string]*string{"access_token": &access, "refresh_token": &refresh, "token_type": &typ} {
		if *dst, err = str(key); err != nil {
			return nil, err
		}
	}
	if access == "" {
		return nil, errors.New(`the token document has no "access_token"`)
	}
	extra := make(map[string]any, len(doc))
	for k, v := range doc {
		if n, ok := v.(json.Number); ok {
			// fromOAuth2 reads numbers as float64, as encoding/json
			// decodes them; a number that does not parse stays a string.
			if f, err := n.Float64(); err == nil {
				v = f
			}
		}
		extra[k] = v
	}
	t := (&oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: typ}).WithExtra(extra)
	tok, err := c.fromOAuth2(t, nil, secret.Secret{})
	if err != nil {
		return nil, err
	}
	if s, ok := doc["expiry"]; ok {
		// `token -json`'s document.
		at, isString := s.(string)
		exp, perr := time.Parse(time.RFC3339, at)
		if !isString || perr != nil {
			return nil, errors.New(`the token document's "expiry" is not an RFC 3339 time such as 2026-12-03T13:00:00Z`)
		}
		tok.Expiry = exp
	}
	if list, ok := doc["scopes"].([]any); ok && tok.Scopes == nil {
		tok.Scopes = make([]string, 0, len(list))
		for _, v := range list {
			if s, ok := v.(string); ok {
				tok.Scopes = append(tok.Scopes, splitScopes(s, " ")...)
			}
		}
	}
	return tok, nil
}
