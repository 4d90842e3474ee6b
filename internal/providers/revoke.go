package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/oauthform/oauthform/internal/secret"
)

// x/oauth2 has no revocation (RFC 7009), no resource call and no discovery
// (RFC 8414): these requests are built here, through the same quirk
// transport as token requests.

// Revoke ends the grant at the provider. RFC 7009 providers get the refresh
// token when there is one (revoking it kills its access tokens), else the
// access token; RevokeBearer providers (Buffer v1) get a POST authorised by
// the access token. It returns ErrNoRevoke when the provider cannot revoke
// remotely. Revocation is idempotent, so a 429/503 with Retry-After is
// retried.
func (c *Client) Revoke(ctx context.Context, access, refresh secret.Secret) error {
	p := c.Profile
	if p.RevokeURL == "" {
		return fmt.Errorf("revoke with %s: %w", p.Name, ErrNoRevoke)
	}
	secrets := c.sent(access, refresh)
	build := func(ctx context.Context) (*http.Request, error) {
		form := url.Values{}
		if p.RevokeMethod == RevokeBearer {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.RevokeURL, strings.NewReader(""))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+access.Reveal())
			return req, nil
		}
		if !refresh.IsZero() {
			form.Set("token", refresh.Reveal())
			form.Set("token_type_hint", "refresh_token")
		} else {
			form.Set("token", access.Reveal())
			form.Set("token_type_hint", "access_token")
		}
		return c.clientRequest(ctx, p.RevokeURL, form)
	}
	_, err := c.send(ctx, "revoke", p.RevokeURL, true, p.RevokeMethod == RevokeBearer, secrets, build)
	return err
}

// clientRequest builds a form POST authenticated as the token endpoint
// expects (Basic, body, or client_id only).
func (c *Client) clientRequest(ctx context.Context, endpoint string, form url.Values) (*http.Request, error) {
	switch c.Profile.ClientAuth {
	case AuthBody, AuthJSON:
		form.Set("client_id", c.ClientID)
		if !c.ClientSecret.IsZero() {
			form.Set("client_secret", c.ClientSecret.Reveal())
		}
	case AuthNone:
		form.Set("client_id", c.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.Profile.ClientAuth == AuthBasic {
		// RFC 6749 §2.3.1: form-encode before Basic, as x/oauth2 does.
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret.Reveal()))
	}
	return req, nil
}

// Identity is what a check call answered.
type Identity struct {
	// Fields is the answer's JSON object (nil when it was not one).
	Fields map[string]any
	// Value is the whole JSON answer, whatever its shape (Burner's list
	// of burners); nil when it was not JSON.
	Value any
}

// Summary names the account in a few words, from the usual fields.
func (id *Identity) Summary() string {
	if id == nil || id.Fields == nil {
		return ""
	}
	for _, k := range []string{"email", "name", "username", "alias", "user_id", "id", "sub"} {
		if v, ok := id.Fields[k]; ok && v != nil {
			return fmt.Sprintf("%s=%v", k, v)
		}
	}
	return ""
}

// Check makes the provider's cheap "who am I" call with the access token.
// A 401 or 403 is an *Error of KindInvalidToken.
func (c *Client) Check(ctx context.Context, access secret.Secret) (*Identity, error) {
	p := c.Profile
	if p.CheckURL == "" {
		return nil, fmt.Errorf("check with %s: the provider has no check_url", p.Name)
	}
	body, err := c.send(ctx, "check", p.CheckURL, true, true, c.sent(access), func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.CheckURL, nil)
		if err != nil {
			return nil, err
		}
		// RFC 6750 §2.1: the header, never the query string.
		req.Header.Set("Authorization", "Bearer "+access.Reveal())
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return nil, err
	}
	id := &Identity{}
	_ = json.Unmarshal(body, &id.Value) // an answer that is not JSON is still a success
	id.Fields, _ = id.Value.(map[string]any)
	return id, nil
}

// send runs one hand-built request and returns the body of a 2xx answer;
// anything else becomes an *Error. bearer says the request is authorised by
// an access token, so a 401/403 means that token is dead (RFC 6750).
func (c *Client) send(ctx context.Context, op, endpoint string, retryable, bearer bool, secrets []secret.Secret,
	build func(context.Context) (*http.Request, error)) ([]byte, error) {
	var out []byte
	hc := c.httpClient()
	err := c.call(ctx, op, endpoint, retryable, func(ctx context.Context) error {
		req, err := build(ctx)
		if err != nil {
			return fmt.Errorf("%s with %s: building the request: %w", op, c.Profile.Name, err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return c.transportError(op, err, secrets)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			return c.transportError(op, fmt.Errorf("%w: %w", errBodyRead, err), secrets)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			e := c.Profile.decodeError(op, resp.StatusCode, resp.Header.Get("Content-Type"), body,
				retryAfter(resp.Header, c.now()), secrets)
			if bearer && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
				e.Kind = KindInvalidToken
			}
			return e
		}
		out = bytes.Clone(body)
		return nil
	})
	return out, err
}
