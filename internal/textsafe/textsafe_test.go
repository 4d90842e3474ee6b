package textsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "invalid_grant: the code was used", "invalid_grant: the code was used"},
		{"non-ASCII letters kept", "Ungültiger Code – 無効", "Ungültiger Code – 無効"},
		{"title change (OSC, BEL)", "bad\x1b]0;pwned\x07 request", "bad request"},
		{"OSC terminated by ST", "a\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\b", "alinkb"},
		{"clear screen (CSI)", "\x1b[2Jbad", "bad"},
		{"colours", "\x1b[1;31mred\x1b[0m", "red"},
		{"private CSI", "\x1b[?25lhidden cursor", "hidden cursor"},
		{"fake line", "denied\r\nApply complete! Resources: 1 added", "denied Apply complete! Resources: 1 added"},
		{"tabs and breaks become one space", "a\t\t\n\rb", "a b"},
		{"other C0 and DEL dropped", "a\x00b\x07c\x08d\x7fe", "abcde"},
		{"two-byte ESC sequences", "a\x1bcb\x1b7c\x1bMd", "abcd"},
		{"charset designation", "a\x1b(Bb", "ab"},
		{"ESC at the end", "abc\x1b", "abc"},
		{"ESC before a control", "a\x1b\nb", "a b"},
		{"DCS string", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
		{"APC string", "a\x1b_hidden\x07b", "ab"},
		{"unterminated OSC swallows the rest", "a\x1b]0;title", "a"},
		{"CSI cut by a control", "a\x1b[12\nb", "a b"},
		{"8-bit CSI, not UTF-8", "a\x9b2Jb", "ab"},
		{"8-bit OSC, not UTF-8", "a\x9d0;pwned\x9cb", "ab"},
		{"C1 CSI encoded in UTF-8", "a\u009b2Jb", "ab"},
		{"C1 OSC encoded in UTF-8", "a\u009d0;pwned\u009cb", "ab"},
		{"other C1 dropped", "a\u0085b\u0080c\x85d", "abcd"},
		{"invalid UTF-8 becomes U+FFFD", "a\xffb\xe9c", "a\uFFFDb\uFFFDc"},
		{"bidi overrides dropped", "user\u202Egnp.exe\u202C \u2066x\u2069 \u200Fy", "usergnp.exe x y"},
		{"line separators", "a\u2028b\u2029c", "a b c"},
		{"OSC with a multibyte body ending in 0x9c byte of a rune", "a\x1b]0;М\x07b", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in)
			if got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkSafe(t, tt.in, got)
		})
	}
}

// checkSafe asserts the properties of Sanitize's output.
func checkSafe(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("Sanitize(%q) = %q: not UTF-8", in, out)
	}
	// Valid UTF-8 without U+009B: a 0x9b byte can only be the
	// continuation byte of a printable character.
	if strings.ContainsAny(out, "\x1b\x7f") {
		t.Errorf("Sanitize(%q) = %q keeps ESC or DEL", in, out)
	}
	for _, r := range out {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || isBidi(r) || r == 0x2028 || r == 0x2029 {
			t.Errorf("Sanitize(%q) = %q keeps %U", in, out, r)
		}
	}
	if again := Sanitize(out); again != out {
		t.Errorf("Sanitize is not idempotent: %q, then %q", out, again)
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{
		"plain", "\x1b]0;pwned\x07", "\x1b[2J", "\r\nApply complete!", "\x9b31m", "\u009b31m",
		"\u202Eevil", "\x1b]8;;x\x1b\\y", "a\x1bPdcs\x9cb", "\xc2", "\xe2\x80", "Ü\t\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Sanitize(s)
		checkSafe(t, s, out)
		if isPlainASCII(s) && out != s {
			t.Errorf("printable ASCII changed: %q -> %q", s, out)
		}
		if len(out) > 3*len(s) {
			t.Errorf("output %d bytes from %d", len(out), len(s))
		}
	})
}
