package state

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// parseRecordV1 decodes data, a version 1 record as EncodeRecord writes
// it, and reports whether it could. It reads one flat JSON object whose
// keys are recordV1's own (each at most once) with plain values: strings
// of printable ASCII without escapes, lists and maps of such strings or
// null, unsigned numbers, true and false, and meta's values as they are
// (checked with json.Valid). Anything else (in_flight or last_error, an
// escape, whitespace, a key it does not know) is left to encoding/json, so it never decodes a record otherwise than
// encoding/json would (FuzzParseRecordV1). encoding/json took 11 µs for a
// record: most of the time a snapshot of 1,000 records took, which every
// plan and apply waits for.
func parseRecordV1(data []byte) (*recordV1, bool) {
	p := recordParser{b: data, ok: true}
	var v recordV1
	var seen uint32
	p.lit('{')
	for first := true; p.ok; first = false {
		if len(p.b) > 0 && p.b[0] == '}' {
			p.b = p.b[1:]
			break
		}
		if !first {
			p.lit(',')
		}
		key := p.strBytes()
		p.lit(':')
		bit, ok := recordKeys[string(key)] // no copy: Go looks up with the bytes
		if !ok || seen&bit != 0 {
			return nil, false
		}
		seen |= bit
		switch string(key) {
		case "version":
			v.Version = int(p.uint(31))
		case "conn":
			v.Conn = p.str()
		case "provider":
			v.Provider = p.str()
		case "client_id":
			v.ClientID = p.str()
		case "client_secret_hash":
			v.ClientSecretHash = p.str()
		case "redirect_uri":
			v.RedirectURI = p.str()
		case "grant":
			v.Grant = p.str()
		case "scopes":
			v.Scopes = p.strs()
		case "granted_scopes":
			v.GrantedScopes = p.strs()
		case "params":
			v.Params = p.strMap()
		case "meta":
			v.Meta = p.rawMap()
		case "refresh_before":
			v.RefreshBefore = p.str()
		case "access_token":
			v.AccessToken = p.str()
		case "refresh_token":
			v.RefreshToken = p.str()
		case "token_type":
			v.TokenType = p.str()
		case "expiry":
			v.Expiry = p.time()
		case "expiry_assumed":
			v.ExpiryAssumed = p.bool()
		case "status":
			v.Status = Status(p.str())
		case "created":
			v.Created = p.time()
		case "refreshed":
			v.Refreshed = p.time()
		case "generation":
			v.Generation = p.uint(64)
		case "has_access_token":
			v.HasAccessToken = p.bool()
		case "has_refresh_token":
			v.HasRefreshToken = p.bool()
		case "sealed":
			s := p.str()
			if p.ok {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, false
				}
				v.Sealed = b
			}
		}
	}
	if !p.ok || len(p.b) != 0 {
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

// recordParser reads JSON values from the front of b; ok turns false at
// the first thing it does not expect, and everything after is ignored.
type recordParser struct {
	b  []byte
	ok bool
}

func (p *recordParser) lit(c byte) {
	if p.ok && len(p.b) > 0 && p.b[0] == c {
		p.b = p.b[1:]
		return
	}
	p.ok = false
}

func (p *recordParser) word(w string) bool {
	if p.ok && bytes.HasPrefix(p.b, []byte(w)) {
		p.b = p.b[len(w):]
		return true
	}
	return false
}

// str consumes a string of printable ASCII without escapes (encoding/json
// would replace invalid UTF-8; both are left to it).
func (p *recordParser) str() string {
	b := p.strBytes()
	if !p.ok {
		return ""
	}
	return string(b)
}

// strBytes is str without the copy: the bytes are data's.
func (p *recordParser) strBytes() []byte {
	if !p.ok || len(p.b) == 0 || p.b[0] != '"' {
		p.ok = false
		return nil
	}
	for i := 1; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			s := p.b[1:i]
			p.b = p.b[i+1:]
			return s
		case c == '\\' || c < 0x20 || c >= 0x80:
			p.ok = false
			return nil
		}
	}
	p.ok = false
	return nil
}

// strs consumes null (nil) or a list of strings (never nil, as
// encoding/json decodes [] into an empty slice).
func (p *recordParser) strs() []string {
	if p.word("null") {
		return nil
	}
	p.lit('[')
	out := []string{}
	if p.word("]") {
		return out
	}
	for p.ok {
		out = append(out, p.str())
		if p.word("]") {
			return out
		}
		p.lit(',')
	}
	return nil
}

func (p *recordParser) bool() bool {
	switch {
	case p.word("true"):
		return true
	case p.word("false"):
		return false
	}
	p.ok = false
	return false
}

// uint consumes a plain unsigned number (no sign, fraction or exponent,
// no leading zero but 0 itself) of at most bits bits.
func (p *recordParser) uint(bits int) uint64 {
	n := 0
	for n < len(p.b) && p.b[n] >= '0' && p.b[n] <= '9' {
		n++
	}
	if !p.ok || n == 0 || n > 1 && p.b[0] == '0' || n < len(p.b) && (p.b[n] == '.' || p.b[n] == 'e' || p.b[n] == 'E') {
		p.ok = false
		return 0
	}
	v, err := strconv.ParseUint(string(p.b[:n]), 10, bits)
	if err != nil {
		p.ok = false
		return 0
	}
	p.b = p.b[n:]
	return v
}

// time consumes a string holding a time as time.Time's JSON form.
func (p *recordParser) time() time.Time {
	s := p.str()
	var t time.Time
	if p.ok && t.UnmarshalText([]byte(s)) != nil {
		p.ok = false
	}
	return t
}

// strMap consumes null (nil) or an object of strings (never nil).
func (p *recordParser) strMap() map[string]string {
	if p.word("null") {
		return nil
	}
	out := map[string]string{}
	p.object(func() {
		k := p.str()
		p.lit(':')
		out[k] = p.str()
	})
	if !p.ok {
		return nil
	}
	return out
}

// rawMap consumes null (nil) or an object, keeping each value as it is.
func (p *recordParser) rawMap() map[string]json.RawMessage {
	if p.word("null") {
		return nil
	}
	out := map[string]json.RawMessage{}
	p.object(func() {
		k := p.str()
		p.lit(':')
		out[k] = p.raw()
	})
	if !p.ok {
		return nil
	}
	return out
}

// object consumes an object, calling member for each member.
func (p *recordParser) object(member func()) {
	p.lit('{')
	if p.word("}") {
		return
	}
	for p.ok {
		member()
		if p.word("}") {
			return
		}
		p.lit(',')
	}
}

// raw consumes one JSON value and returns a copy of its bytes: a string
// to its closing quote, an object or a list to its closing bracket,
// anything else up to the next comma, space or closing bracket; json.Valid
// then checks it.
func (p *recordParser) raw() json.RawMessage {
	if !p.ok || len(p.b) == 0 {
		p.ok = false
		return nil
	}
	depth, inString, end := 0, false, -1
scan:
	for i := 0; i < len(p.b); i++ {
		c := p.b[i]
		switch {
		case inString:
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
				if depth == 0 {
					end = i + 1
					break scan
				}
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				end = i
				break scan
			}
			depth--
			if depth == 0 {
				end = i + 1
				break scan
			}
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			// encoding/json keeps no space around a value.
			end = i
			break scan
		}
	}
	if end <= 0 || !json.Valid(p.b[:end]) {
		p.ok = false
		return nil
	}
	v := json.RawMessage(bytes.Clone(p.b[:end]))
	p.b = p.b[end:]
	return v
}
