package state

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// fastRecords are records as EncodeRecord writes them that parseRecordV1
// reads itself.
func fastRecords(t testing.TB) map[string][]byte {
	at := time.Date(2026, 12, 3, 18, 40, 2, 717613327, time.UTC)
	full := &Record{Conn: "phoneburner_00000", Provider: "phoneburner", ClientID: "bench-phoneburner",
		ClientSecretHash: "hmac-sha256:61f70b2b", RedirectURI: "http://127.0.0.1:18765/callback",
		Scopes: []string{"a", "b"}, GrantedScopes: []string{}, RefreshBefore: 10 * time.Minute,
		Access: secret.New("0mEGd6aCwlYHQVBE5gZRzlBhOjhACOJCudcRiAJR"), Refresh: secret.New("vDzze9atAl5oHex9xlBZjarhec1MkGrt91CCjTp2"),
		TokenType: "Bearer", Expiry: at.Add(time.Hour), ExpiryAssumed: true, Status: StatusActive,
		Created: at, Refreshed: at.Add(time.Minute), Generation: 141}
	bare := &Record{Conn: "c", Provider: "p"}
	burner := &Record{Conn: "b", Provider: "burner", Params: map[string]string{"owner_type": "vendor"},
		Meta: map[string]any{"connected_burners": []any{map[string]any{"id": 7, "name": "a \"b\" ,}"}}, "n": 1.5, "s": "x", "t": true, "z": nil}}
	out := map[string][]byte{}
	for name, r := range map[string]*Record{"full": full, "bare": bare, "burner": burner} {
		b, err := EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// parseRecordV1 decodes the records EncodeRecord writes as encoding/json
// does, and leaves to it every record it does not write that way.
func TestParseRecordV1(t *testing.T) {
	for name, b := range fastRecords(t) {
		got, ok := parseRecordV1(b)
		if !ok {
			t.Errorf("%s: not parsed: %s", name, b)
			continue
		}
		var want recordV1
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s: parsed %+v, encoding/json %+v", name, *got, want)
		}
	}
	full := string(fastRecords(t)["full"])
	for name, b := range map[string]string{
		"in flight":    strings.Replace(full, `,"generation":141`, `,"generation":141,"in_flight":{"pid":1}`, 1),
		"last error":   strings.Replace(full, `"status":"active"`, `"status":"failing","last_error":{"kind":"x"}`, 1),
		"params space": strings.Replace(full, `"refresh_before"`, `"params":{"a": "b"},"refresh_before"`, 1),
		"meta space":   strings.Replace(full, `"refresh_before"`, `"meta":{"a":1 },"refresh_before"`, 1),
		"meta invalid": strings.Replace(full, `"refresh_before"`, `"meta":{"a":tru},"refresh_before"`, 1),
		"params value": strings.Replace(full, `"refresh_before"`, `"params":{"a":1},"refresh_before"`, 1),
		"unknown key":  strings.Replace(full, `"conn"`, `"x":"y","conn"`, 1),
		"other case":   strings.Replace(full, `"conn"`, `"Conn"`, 1),
		"repeated key": strings.Replace(full, `"conn"`, `"provider":"x","conn"`, 1),
		"escape":       strings.Replace(full, `"token_type":"Bearer"`, `"token_type":"Bea\u0072er"`, 1),
		"space":        strings.Replace(full, `"conn":`, `"conn": `, 1),
		"negative":     strings.Replace(full, `"generation":141`, `"generation":-1`, 1),
		"null time":    strings.Replace(full, `"created":"2026-12-03T18:40:02.717613327Z"`, `"created":null`, 1),
		"bad base64":   strings.Replace(full, `"generation":141`, `"generation":141,"sealed":"!!"`, 1),
		"trailing":     full + " ",
		"cut":          full[:len(full)-1],
	} {
		if b == full {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if _, ok := parseRecordV1([]byte(b)); ok {
			t.Errorf("%s: parsed %s, want it left to encoding/json", name, b)
		}
	}
}

// Whatever parseRecordV1 accepts, encoding/json decodes the same.
func FuzzParseRecordV1(f *testing.F) {
	for _, b := range fastRecords(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"scopes":null,"granted_scopes":[],"sealed":"AQID","has_access_token":true}`))
	f.Add([]byte(`{"version":1,"params":{},"meta":{"a":[1,{"b":"\\\"}"}],"c":null,"d":-1e5}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := parseRecordV1(data)
		if !ok {
			return
		}
		var want recordV1
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("parsed %q, which encoding/json refuses: %v", data, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("%q: parsed %+v, encoding/json %+v", data, *got, want)
		}
	})
}
