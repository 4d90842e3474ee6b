// Package plainjson reads JSON exactly as encoding/json writes the few
// documents oauthform reads most (a state record, a custody file's
// header): plain strings of printable ASCII without escapes, unsigned
// numbers, booleans, lists and maps of strings, and values kept as they
// are (checked with json.Valid). A Scanner gives up at anything else,
// and its caller then hands the input to encoding/json, so a document is
// never decoded otherwise than encoding/json would (each caller fuzzes
// that). encoding/json took 8-11 µs for one such document, most of the
// time a plan or an apply spent reading the state and the custody
// journal.
package plainjson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Scanner reads JSON values from the front of B. OK turns false at the
// first thing it does not expect; what it returns after that means
// nothing, and the caller hands the whole input to encoding/json.
type Scanner struct {
	B  []byte
	OK bool
}

// New is a Scanner of b.
func New(b []byte) *Scanner { return &Scanner{B: b, OK: true} }

// Done reports whether everything was read as expected.
func (p *Scanner) Done() bool { return p.OK && len(p.B) == 0 }

// Lit consumes s, which must come next.
func (p *Scanner) Lit(s string) {
	if p.OK && bytes.HasPrefix(p.B, []byte(s)) {
		p.B = p.B[len(s):]
		return
	}
	p.OK = false
}

// Word consumes w when it comes next, and reports whether it did.
func (p *Scanner) Word(w string) bool {
	if p.OK && bytes.HasPrefix(p.B, []byte(w)) {
		p.B = p.B[len(w):]
		return true
	}
	return false
}

// Str consumes a string of printable ASCII without escapes (encoding/json
// would replace invalid UTF-8; both are left to it).
func (p *Scanner) Str() string {
	b := p.StrBytes()
	if !p.OK {
		return ""
	}
	return string(b)
}

// StrBytes is Str without the copy: the bytes are B's.
func (p *Scanner) StrBytes() []byte {
	if !p.OK || len(p.B) == 0 || p.B[0] != '"' {
		p.OK = false
		return nil
	}
	for i := 1; i < len(p.B); i++ {
		switch c := p.B[i]; {
		case c == '"':
			s := p.B[1:i]
			p.B = p.B[i+1:]
			return s
		case c == '\\' || c < 0x20 || c >= 0x80:
			p.OK = false
			return nil
		}
	}
	p.OK = false
	return nil
}

// Strs consumes null (nil) or a list of strings (never nil, as
// encoding/json decodes [] into an empty slice).
func (p *Scanner) Strs() []string {
	if p.Word("null") {
		return nil
	}
	p.Lit("[")
	out := []string{}
	if p.Word("]") {
		return out
	}
	for p.OK {
		out = append(out, p.Str())
		if p.Word("]") {
			return out
		}
		p.Lit(",")
	}
	return nil
}

// Bool consumes true or false.
func (p *Scanner) Bool() bool {
	switch {
	case p.Word("true"):
		return true
	case p.Word("false"):
		return false
	}
	p.OK = false
	return false
}

// Uint consumes a plain unsigned number (no sign, fraction or exponent,
// no leading zero but 0 itself) of at most bits bits.
func (p *Scanner) Uint(bits int) uint64 {
	n := 0
	for n < len(p.B) && p.B[n] >= '0' && p.B[n] <= '9' {
		n++
	}
	if !p.OK || n == 0 || n > 1 && p.B[0] == '0' || n < len(p.B) && (p.B[n] == '.' || p.B[n] == 'e' || p.B[n] == 'E') {
		p.OK = false
		return 0
	}
	v, err := strconv.ParseUint(string(p.B[:n]), 10, bits)
	if err != nil {
		p.OK = false
		return 0
	}
	p.B = p.B[n:]
	return v
}

// Time consumes a string holding a time as time.Time's JSON form.
func (p *Scanner) Time() time.Time {
	s := p.Str()
	var t time.Time
	if p.OK && t.UnmarshalText([]byte(s)) != nil {
		p.OK = false
	}
	return t
}

// StrMap consumes null (nil) or an object of strings (never nil).
func (p *Scanner) StrMap() map[string]string {
	if p.Word("null") {
		return nil
	}
	out := map[string]string{}
	p.Object(func() {
		k := p.Str()
		p.Lit(":")
		out[k] = p.Str()
	})
	if !p.OK {
		return nil
	}
	return out
}

// RawMap consumes null (nil) or an object, keeping each value as it is.
func (p *Scanner) RawMap() map[string]json.RawMessage {
	if p.Word("null") {
		return nil
	}
	out := map[string]json.RawMessage{}
	p.Object(func() {
		k := p.Str()
		p.Lit(":")
		out[k] = p.Raw()
	})
	if !p.OK {
		return nil
	}
	return out
}

// Object consumes an object, calling member for each member.
func (p *Scanner) Object(member func()) {
	p.Lit("{")
	if p.Word("}") {
		return
	}
	for p.OK {
		member()
		if p.Word("}") {
			return
		}
		p.Lit(",")
	}
}

// Raw consumes one JSON value and returns a copy of its bytes: a string
// to its closing quote, an object or a list to its closing bracket,
// anything else up to the next comma, space or closing bracket; json.Valid
// then checks it.
func (p *Scanner) Raw() json.RawMessage {
	if !p.OK || len(p.B) == 0 {
		p.OK = false
		return nil
	}
	depth, inString, end := 0, false, -1
scan:
	for i := 0; i < len(p.B); i++ {
		c := p.B[i]
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
	if end <= 0 || !json.Valid(p.B[:end]) {
		p.OK = false
		return nil
	}
	v := json.RawMessage(bytes.Clone(p.B[:end]))
	p.B = p.B[end:]
	return v
}

// Int consumes a plain unsigned number that fits an int.
func (p *Scanner) Int() int {
	return int(p.Uint(strconv.IntSize - 1))
}
