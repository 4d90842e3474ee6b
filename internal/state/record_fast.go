package state

import (
	"encoding/base64"

	"github.com/oauthform/oauthform/internal/plainjson"
)

// parseRecordV1 decodes data, a version 1 record as EncodeRecord writes
// it, and reports whether it could: one flat JSON object of recordV1's own
// keys (each at most once) with the plain values package plainjson reads.
// Anything else (in_flight or last_error, an escape, whitespace, a key it
// does not know) is left to encoding/json, so it never decodes a record
// otherwise than encoding/json would (FuzzParseRecordV1). encoding/json
// took 11 µs for a record: most of the time a snapshot of 1,000 records
// took, which every plan and apply waits for.
func parseRecordV1(data []byte) (*recordV1, bool) {
	p := plainjson.New(data)
	var v recordV1
	var seen uint32
	p.Lit("{")
	for first := true; p.OK; first = false {
		if p.Word("}") {
			break
		}
		if !first {
			p.Lit(",")
		}
		key := p.StrBytes()
		p.Lit(":")
		bit, ok := recordKeys[string(key)] // no copy: Go looks up with the bytes
		if !ok || seen&bit != 0 {
			return nil, false
		}
		seen |= bit
		switch string(key) {
		case "version":
			v.Version = int(p.Uint(31))
		case "conn":
			v.Conn = p.Str()
		case "provider":
			v.Provider = p.Str()
		case "client_id":
			v.ClientID = p.Str()
		case "client_secret_hash":
			v.ClientSecretHash = p.Str()
		case "redirect_uri":
			v.RedirectURI = p.Str()
		case "grant":
			v.Grant = p.Str()
		case "scopes":
			v.Scopes = p.Strs()
		case "granted_scopes":
			v.GrantedScopes = p.Strs()
		case "params":
			v.Params = p.StrMap()
		case "meta":
			v.Meta = p.RawMap()
		case "refresh_before":
			v.RefreshBefore = p.Str()
		case "access_token":
			v.AccessToken = p.Str()
		case "refresh_token":
			v.RefreshToken = p.Str()
		case "token_type":
			v.TokenType = p.Str()
		case "expiry":
			v.Expiry = p.Time()
		case "expiry_assumed":
			v.ExpiryAssumed = p.Bool()
		case "status":
			v.Status = Status(p.Str())
		case "created":
			v.Created = p.Time()
		case "refreshed":
			v.Refreshed = p.Time()
		case "generation":
			v.Generation = p.Uint(64)
		case "has_access_token":
			v.HasAccessToken = p.Bool()
		case "has_refresh_token":
			v.HasRefreshToken = p.Bool()
		case "sealed":
			s := p.Str()
			if p.OK {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, false
				}
				v.Sealed = b
			}
		}
	}
	if !p.Done() {
		return nil, false
	}
	return &v, true
}

// recordKeys are the keys parseRecordV1 reads, each with its bit for
// noticing a repeated key.
var recordKeys = func() map[string]uint32 {
	keys := []string{"version", "conn", "provider", "client_id", "client_secret_hash", "redirect_uri", "grant",
		"scopes", "granted_scopes", "params", "meta", "refresh_before", "access_token", "refresh_token", "token_type", "expiry",
		"expiry_assumed", "status", "created", "refreshed", "generation", "has_access_token", "has_refresh_token", "sealed"}
	m := make(map[string]uint32, len(keys))
	for i, k := range keys {
		m[k] = 1 << i
	}
	return m
}()
