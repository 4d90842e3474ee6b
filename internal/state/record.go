package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oauthform/oauthform/internal/seal"
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
	Version          int    `json:"version"`
	Conn             string `json:"conn"`
	Provider         string `json:"provider"`
	ClientID         string `json:"client_id"`
	ClientSecretHash string `json:"client_secret_hash,omitempty"`
	RedirectURI      string `json:"redirect_uri,omitempty"`
	// Grant: see Record; older builds ignore it.
	Grant         string            `json:"grant,omitempty"`
	Scopes        []string          `json:"scopes"`
	GrantedScopes []string          `json:"granted_scopes"` // null: the provider did not say
	Params        map[string]string `json:"params,omitempty"`
	RefreshBefore string            `json:"refresh_before,omitempty"` // time.Duration.String()

	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// ExpiryAssumed: Expiry was assumed, the answer had none; older
	// builds ignore it.
	ExpiryAssumed bool `json:"expiry_assumed,omitempty"`

	Status    Status                     `json:"status,omitempty"`
	LastError *LastError                 `json:"last_error,omitempty"`
	Meta      map[string]json.RawMessage `json:"meta,omitempty"`

	Created   time.Time `json:"created,omitzero"`
	Refreshed time.Time `json:"refreshed,omitzero"`

	// Generation and InFlight are the refresh custody of the record (see
	// Record); older builds ignore them.
	Generation uint64  `json:"generation,omitempty"`
	InFlight   *Flight `json:"in_flight,omitempty"`
	// Discovery: see Record; older builds ignore it.
	Discovery *Discovery `json:"discovery,omitempty"`

	// In an encrypted state (format 2) the three secret fields above are
	// absent: Sealed holds them (sealedV1, sealed with the state's key and
	// recordAAD), and the two flags say which tokens exist, for plan.
	HasAccessToken  bool   `json:"has_access_token,omitempty"`
	HasRefreshToken bool   `json:"has_refresh_token,omitempty"`
	Sealed          []byte `json:"sealed,omitempty"` // base64
}

// sealedV1 is the plaintext of recordV1.Sealed: the record's secrets. Any
// secret a later record version keeps (a code or PKCE verifier in flight)
// belongs here too.
type sealedV1 struct {
	AccessToken      string `json:"access_token,omitempty"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	ClientSecretHash string `json:"client_secret_hash,omitempty"`
}

// recordAAD is the associated data of a record's seal: it binds the sealed
// secrets to the state (lineage) and the connection (the record's key), so
// that a sealed value copied to another record or state does not open.
func recordAAD(lineage, conn string) []byte {
	return []byte("oauthform/state/record/v1\x00" + lineage + "\x00" + conn)
}

// Sealer seals and opens the records of one encrypted state (see
// NewEncryption, OpenSealer). A nil *Sealer stands for an unencrypted
// state, or an encrypted one read without its passphrase.
type Sealer struct {
	key     *seal.Key
	lineage string
}

// EncodeRecord returns the on-disk encoding of rec (always RecordVersion,
// whatever rec.Version says). The result reveals the tokens: it belongs in
// a state store or a 0600 file, nowhere else. Every backend stores records
// in this encoding, so that they can be moved between backends.
//
// A Sealed record cannot be encoded (ErrSealed): its tokens are not there.
func EncodeRecord(rec *Record) ([]byte, error) {
	return encodeRecord(rec, nil)
}

// CheckWritable validates a record before it is encoded or written.
func CheckWritable(rec *Record) error {
	switch {
	case rec == nil:
		return errors.New("encoding record: nil record")
	case rec.Conn == "":
		return errors.New("encoding record: empty connection name")
	case rec.Sealed:
		return fmt.Errorf("encoding record %q: %w: it was read without the passphrase, so its tokens are not in it", rec.Conn, ErrSealed)
	}
	return nil
}

// Encode is EncodeRecord sealing the secrets with sl when sl is not nil
// (an encrypted state): what a backend stores.
func (sl *Sealer) Encode(rec *Record) ([]byte, error) {
	return encodeRecord(rec, sl)
}

// EncodeStored is Encode for a write to a state that is encrypted or not
// (encrypted): a record of an encrypted state cannot be written without
// its Sealer (ErrSealed).
func EncodeStored(rec *Record, sl *Sealer, encrypted bool) ([]byte, error) {
	if sl == nil && encrypted {
		return nil, ErrSealed
	}
	return encodeRecord(rec, sl)
}

// encodeRecord is EncodeRecord sealing the secrets with sl when it is not
// nil (an encrypted state).
func encodeRecord(rec *Record, sl *Sealer) ([]byte, error) {
	if err := CheckWritable(rec); err != nil {
		return nil, err
	}
	v := recordV1{
		Version:          RecordVersion,
		Conn:             rec.Conn,
		Provider:         rec.Provider,
		ClientID:         rec.ClientID,
		ClientSecretHash: rec.ClientSecretHash,
		RedirectURI:      rec.RedirectURI,
		Grant:            rec.Grant,
		Scopes:           rec.Scopes,
		GrantedScopes:    rec.GrantedScopes,
		Params:           rec.Params,
		TokenType:        rec.TokenType,
		Expiry:           rec.Expiry,
		ExpiryAssumed:    rec.ExpiryAssumed,
		Status:           rec.Status,
		LastError:        rec.LastError,
		Created:          rec.Created,
		Refreshed:        rec.Refreshed,
		Generation:       rec.Generation,
		InFlight:         rec.InFlight,
		Discovery:        rec.Discovery,
	}
	if rec.RefreshBefore != 0 {
		v.RefreshBefore = rec.RefreshBefore.String()
	}
	if sl == nil {
		v.AccessToken, v.RefreshToken = rec.Access.Reveal(), rec.Refresh.Reveal()
	} else {
		v.ClientSecretHash = ""
		v.HasAccessToken, v.HasRefreshToken = !rec.Access.IsZero(), !rec.Refresh.IsZero()
		plain, err := json.Marshal(&sealedV1{
			AccessToken: rec.Access.Reveal(), RefreshToken: rec.Refresh.Reveal(), ClientSecretHash: rec.ClientSecretHash,
		})
		if err != nil {
			return nil, fmt.Errorf("encoding record %q: %w", rec.Conn, err)
		}
		v.Sealed = sl.key.Seal(plain, recordAAD(sl.lineage, rec.Conn))
		clear(plain)
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
// ErrCorrupt. Errors never quote the data (it holds tokens). A record of an
// encrypted state decodes as a Sealed record: opening it needs the state's
// key, which only a store has.
func DecodeRecord(conn string, data []byte) (*Record, error) {
	v, err := decodeRaw(conn, data)
	if err != nil {
		return nil, err
	}
	return v.toRecord(conn, v.Sealed != nil, nil)
}

// DecodeStored decodes a record read from a state: encrypted tells whether
// the state is, and sl (nil without the passphrase) opens its seal.
func DecodeStored(conn string, data []byte, encrypted bool, sl *Sealer) (*Record, error) {
	v, err := decodeRaw(conn, data)
	if err != nil {
		return nil, err
	}
	return v.toRecord(conn, encrypted, sl)
}

// decodeRaw decodes the stored bytes into the newest record struct.
func decodeRaw(conn string, data []byte) (*recordV1, error) {
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
func decodeRecord(conn string, version int, data []byte) (*recordV1, error) {
	switch {
	case version == 1:
		if v, ok := parseRecordV1(data); ok {
			return v, nil
		}
		var v recordV1
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("record %q (version 1): %w: %s", conn, ErrCorrupt, jsonErrorKind(err))
		}
		return &v, nil
	case version > RecordVersion:
		return nil, fmt.Errorf("record %q has version %d, this oauthform reads up to %d: %w", conn, version, RecordVersion, ErrNewerFormat)
	default:
		return nil, fmt.Errorf("record %q: %w: missing or invalid record version %d", conn, ErrCorrupt, version)
	}
}

// toRecord converts v. In an encrypted state (encrypted) the secrets come
// from v.Sealed, opened with sl, or stay sealed when sl is nil.
func (v *recordV1) toRecord(conn string, encrypted bool, sl *Sealer) (*Record, error) {
	hasPlain := v.AccessToken != "" || v.RefreshToken != "" || v.ClientSecretHash != ""
	switch {
	case encrypted && v.Sealed == nil:
		return nil, fmt.Errorf("record %q: %w: the state is encrypted but this record is not sealed", conn, ErrCorrupt)
	case encrypted && hasPlain:
		return nil, fmt.Errorf("record %q: %w: the state is encrypted but this record holds unsealed secrets", conn, ErrCorrupt)
	case !encrypted && v.Sealed != nil:
		return nil, fmt.Errorf("record %q: %w: the record is sealed but the state is not encrypted", conn, ErrCorrupt)
	}
	r := &Record{
		Version:          v.Version,
		Conn:             conn, // the key is authoritative
		Provider:         v.Provider,
		ClientID:         v.ClientID,
		ClientSecretHash: v.ClientSecretHash,
		RedirectURI:      v.RedirectURI,
		Grant:            v.Grant,
		Scopes:           v.Scopes,
		GrantedScopes:    v.GrantedScopes,
		Params:           v.Params,
		Access:           secret.New(v.AccessToken),
		Refresh:          secret.New(v.RefreshToken),
		TokenType:        v.TokenType,
		Expiry:           v.Expiry,
		ExpiryAssumed:    v.ExpiryAssumed,
		Status:           v.Status,
		LastError:        v.LastError,
		Created:          v.Created,
		Refreshed:        v.Refreshed,
		Generation:       v.Generation,
		InFlight:         v.InFlight,
		Discovery:        v.Discovery,
	}
	if encrypted {
		if err := v.unseal(r, conn, sl); err != nil {
			return nil, err
		}
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

// unseal fills r's secrets from v.Sealed, or marks r Sealed when there is
// no key.
func (v *recordV1) unseal(r *Record, conn string, sl *Sealer) error {
	if sl == nil {
		r.Sealed = true
		r.Access, r.Refresh, r.ClientSecretHash = secret.Secret{}, secret.Secret{}, ""
		if v.HasAccessToken {
			r.Access = secret.New(SealedToken)
		}
		if v.HasRefreshToken {
			r.Refresh = secret.New(SealedToken)
		}
		return nil
	}
	plain, err := sl.key.Open(v.Sealed, recordAAD(sl.lineage, conn))
	if err != nil {
		return fmt.Errorf("record %q: %w: its sealed secrets do not open with this state's key although the passphrase is right: "+
			"the record was altered, or copied from another connection or state", conn, ErrCorrupt)
	}
	var s sealedV1
	err = json.Unmarshal(plain, &s)
	clear(plain)
	if err != nil {
		return fmt.Errorf("record %q: %w: its sealed secrets are not valid (%s)", conn, ErrCorrupt, jsonErrorKind(err))
	}
	r.Access, r.Refresh, r.ClientSecretHash = secret.New(s.AccessToken), secret.New(s.RefreshToken), s.ClientSecretHash
	return nil
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
