package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// recordV1 is the on-disk encoding of a Record, version 1. It is the only
// place where tokens are revealed: the state must hold their values.
//
// "version" is the first key so that a reader (or a person) sees it first;
// decodeRecord reads it before anything else and dispatches on it. Once
// recordV2 exists, a version 1 record is decoded as recordV1 and passed
// through upgradeV1toV2 before conversion, as Terraform upgrades resource
// schemas.
type recordV1 struct {
	Version          int               `json:"version"`
	Conn             string            `json:"conn"`
	Provider         string            `json:"provider"`
	ClientID         string            `json:"client_id"`
	ClientSecretHash string            `json:"client_secret_hash,omitempty"`
	RedirectURI      string            `json:"redirect_uri,omitempty"`
	Scopes           []string          `json:"scopes"`
	GrantedScopes    []string          `json:"granted_scopes"` // null: the provider did not say
	Params           map[string]string `json:"params,omitempty"`
	RefreshBefore    string            `json:"refresh_before,omitempty"` // time.Duration.String()

	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`

	Status    Status                     `json:"status,omitempty"`
	LastError *LastError                 `json:"last_error,omitempty"`
	Meta      map[string]json.RawMessage `json:"meta,omitempty"`

	Created   time.Time `json:"created,omitzero"`
	Refreshed time.Time `json:"refreshed,omitzero"`
}

// EncodeRecord returns the on-disk encoding of rec (always RecordVersion,
// whatever rec.Version says). The result reveals the tokens: it belongs in
// a state store or a 0600 file, nowhere else. Every backend stores records
// in this encoding, so that they can be moved between backends.
func EncodeRecord(rec *Record) ([]byte, error) {
	if rec == nil {
		return nil, errors.New("encoding record: nil record")
	}
	if rec.Conn == "" {
		return nil, errors.New("encoding record: empty connection name")
	}
	v := recordV1{
		Version:          RecordVersion,
		Conn:             rec.Conn,
		Provider:         rec.Provider,
		ClientID:         rec.ClientID,
		ClientSecretHash: rec.ClientSecretHash,
		RedirectURI:      rec.RedirectURI,
		Scopes:           rec.Scopes,
		GrantedScopes:    rec.GrantedScopes,
		Params:           rec.Params,
		AccessToken:      rec.Access.Reveal(),
		RefreshToken:     rec.Refresh.Reveal(),
		TokenType:        rec.TokenType,
		Expiry:           rec.Expiry,
		Status:           rec.Status,
		LastError:        rec.LastError,
		Created:          rec.Created,
		Refreshed:        rec.Refreshed,
	}
	if rec.RefreshBefore != 0 {
		v.RefreshBefore = rec.RefreshBefore.String()
	}
	if len(rec.Meta) > 0 {
		v.Meta = make(map[string]json.RawMessage, len(rec.Meta))
		for k, val := range rec.Meta {
			b, err := json.Marshal(val)
			if err != nil {
				// The value is the provider's data, not a token; the key is
				// safe to name.
				return nil, fmt.Errorf("encoding record %q: meta %q: %w", rec.Conn, k, err)
			}
			v.Meta[k] = b
		}
	}
	b, err := json.Marshal(&v)
	if err != nil {
		return nil, fmt.Errorf("encoding record %q: %w", rec.Conn, err)
	}
	return b, nil
}

// DecodeRecord decodes a record stored under the key conn, upgrading older
// encodings. Record.Version is the version that was read. A record written
// by a newer oauthform gives ErrNewerFormat; undecodable bytes give
// ErrCorrupt. Errors never quote the data (it holds tokens).
func DecodeRecord(conn string, data []byte) (*Record, error) {
	if v, ok := leadingVersion(data); ok {
		return decodeRecord(conn, v, data)
	}
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("record %q: %w: not JSON (%s)", conn, ErrCorrupt, jsonErrorKind(err))
	}
	return decodeRecord(conn, head.Version, data)
}

// leadingVersion reads the version of a record that starts the way
// EncodeRecord writes it, {"version":N,... , without parsing the rest
// twice. Anything else goes through the JSON decoder.
func leadingVersion(data []byte) (int, bool) {
	const prefix = `{"version":`
	rest, ok := bytes.CutPrefix(data, []byte(prefix))
	if !ok {
		return 0, false
	}
	v, n := 0, 0
	for ; n < len(rest) && n < 6 && rest[n] >= '0' && rest[n] <= '9'; n++ {
		v = v*10 + int(rest[n]-'0')
	}
	if n == 0 || n == len(rest) || (rest[n] != ',' && rest[n] != '}') {
		return 0, false
	}
	return v, true
}

// decodeRecord dispatches on the record version. Add a case per version;
// older versions are decoded into their own struct and upgraded step by
// step (upgradeV1toV2, upgradeV2toV3, ...) before conversion.
func decodeRecord(conn string, version int, data []byte) (*Record, error) {
	switch {
	case version == 1:
		var v recordV1
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("record %q (version 1): %w: %s", conn, ErrCorrupt, jsonErrorKind(err))
		}
		return v.toRecord(conn)
	case version > RecordVersion:
		return nil, fmt.Errorf("record %q has version %d, this oauthform reads up to %d: %w", conn, version, RecordVersion, ErrNewerFormat)
	default:
		return nil, fmt.Errorf("record %q: %w: missing or invalid record version %d", conn, ErrCorrupt, version)
	}
}

func (v *recordV1) toRecord(conn string) (*Record, error) {
	r := &Record{
		Version:          v.Version,
		Conn:             conn, // the key is authoritative
		Provider:         v.Provider,
		ClientID:         v.ClientID,
		ClientSecretHash: v.ClientSecretHash,
		RedirectURI:      v.RedirectURI,
		Scopes:           v.Scopes,
		GrantedScopes:    v.GrantedScopes,
		Params:           v.Params,
		Access:           secret.New(v.AccessToken),
		Refresh:          secret.New(v.RefreshToken),
		TokenType:        v.TokenType,
		Expiry:           v.Expiry,
		Status:           v.Status,
		LastError:        v.LastError,
		Created:          v.Created,
		Refreshed:        v.Refreshed,
	}
	if v.RefreshBefore != "" {
		d, err := time.ParseDuration(v.RefreshBefore)
		if err != nil {
			return nil, fmt.Errorf("record %q: %w: refresh_before %q is not a duration", conn, ErrCorrupt, v.RefreshBefore)
		}
		r.RefreshBefore = d
	}
	if len(v.Meta) > 0 {
		r.Meta = make(map[string]any, len(v.Meta))
		for k, raw := range v.Meta {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var val any
			if err := dec.Decode(&val); err != nil {
				return nil, fmt.Errorf("record %q: %w: meta %q: %s", conn, ErrCorrupt, k, jsonErrorKind(err))
			}
			r.Meta[k] = val
		}
	}
	return r, nil
}

// jsonErrorKind describes a JSON error without quoting the input, which may
// hold a token.
func jsonErrorKind(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: expected %s, found a JSON %s", te.Field, te.Type, te.Value)
	default:
		return "invalid JSON"
	}
}
