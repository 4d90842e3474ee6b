// Package textsafe makes text that came from outside oauthform (a
// provider's error message, a callback's error parameter, a stored
// last_error) safe to print on a terminal, write to a log or store.
package textsafe

import (
	"strings"
	"unicode/utf8"
)

// Sanitize returns s without what a terminal, a log viewer or a person
// could be fooled by:
//
//   - ANSI/VT escape sequences: CSI (ESC [ … final byte), OSC (ESC ] …
//     terminated by BEL or ST), the DCS, SOS, PM and APC strings (ESC P,
//     X, ^, _ … ST), and every other ESC sequence; their 8-bit C1 forms
//     (0x9b CSI, 0x9d OSC…), whether encoded in UTF-8 or as the single
//     byte that is not valid UTF-8;
//   - C0 control characters and DEL; a run of line breaks and tabs (CR,
//     LF, TAB, VT, FF, and U+2028/U+2029) becomes one space, so a message
//     cannot fake a line of its own;
//   - C1 control characters (U+0080 to U+009F);
//   - Unicode bidirectional overrides, embeddings, isolates and marks
//     (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), which can
//     make text read differently from what it is.
//
// Other bytes that are not valid UTF-8 become U+FFFD. Printable text,
// including non-ASCII letters, is kept as is. Sanitize is idempotent.
func Sanitize(s string) string {
	if isPlainASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	// space is true when the last thing written is the space of a line
	// break or tab: a run of them becomes one space.
	space := false
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == 0x1b:
				i = skipEscape(s, i+1)
				continue
			case c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f':
				if !space {
					b.WriteByte(' ')
					space = true
				}
			case c < 0x20 || c == 0x7f:
				// dropped
			default:
				b.WriteByte(c)
				space = false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Not UTF-8: a lone byte. 0x80-0x9f are the 8-bit C1
			// controls a terminal may act on.
			if c <= 0x9f {
				i = skipC1(s, i+1, rune(c))
				continue
			}
			b.WriteRune(utf8.RuneError)
			space = false
			i++
			continue
		}
		switch {
		case r <= 0x9f:
			i = skipC1(s, i+size, r)
			continue
		case r == 0x2028 || r == 0x2029:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		case isBidi(r):
			// dropped
		default:
			b.WriteString(s[i : i+size])
			space = false
		}
		i += size
	}
	return b.String()
}

// isPlainASCII reports whether s is printable ASCII only (the common case,
// which Sanitize returns unchanged).
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// isBidi reports whether r is a bidirectional formatting character.
func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
		r == 0x200e || r == 0x200f || r == 0x061c
}

// skipC1 skips the C1 control c, whose encoding ends just before i, and
// the sequence it introduces; it returns where the text resumes.
func skipC1(s string, i int, c rune) int {
	switch c {
	case 0x9b: // CSI
		return skipCSI(s, i)
	case 0x90, 0x98, 0x9d, 0x9e, 0x9f: // DCS, SOS, OSC, PM, APC
		return skipString(s, i)
	}
	return i
}

// skipEscape skips an escape sequence whose ESC is just before i.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		return skipCSI(s, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(s, i+1)
	case c >= 0x20 && c <= 0x2f:
		// nF: intermediate bytes, then one final byte (ESC ( B).
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
			i++
		}
		return i
	case c >= 0x30 && c <= 0x7e:
		// A two-byte sequence (ESC c, ESC 7, ESC M…).
		return i + 1
	}
	// ESC before a control or a non-ASCII byte: only the ESC goes.
	return i
}

// skipCSI skips a control sequence's parameter and intermediate bytes
// and its final byte, starting at i. A byte that cannot be part of the
// sequence ends it without being consumed.
func skipCSI(s string, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case c >= 0x40 && c <= 0x7e:
			return i + 1
		case c >= 0x20 && c <= 0x3f:
			i++
		default:
			return i
		}
	}
	return i
}

// skipString skips the body of an OSC, DCS, SOS, PM or APC string and its
// terminator (BEL, ESC \ or ST), starting at i. An ESC that does not start
// ST ends the string and is not consumed; an unterminated string runs to
// the end of s.
func skipString(s string, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case c == 0x07:
			return i + 1
		case c == 0x1b:
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			return i
		case c < utf8.RuneSelf:
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0x9c || (r == utf8.RuneError && size == 1 && c == 0x9c) { // ST
			return i + size
		}
		i += size
	}
	return i
}
