package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// manyDiags returns errs errors then warns warnings, each on its own line
// of a file (returned too) named main.oauth.hcl, warnings first when
// warnFirst.
func manyDiags(errs, warns int, warnFirst bool) (hcl.Diagnostics, map[string]*hcl.File) {
	var src strings.Builder
	var diags hcl.Diagnostics
	add := func(sev hcl.DiagnosticSeverity, n int, what string) {
		for i := range n {
			line := fmt.Sprintf("%s_%d = true", what, i)
			start := hcl.Pos{Line: len(diags) + 1, Column: 1, Byte: src.Len()}
			end := hcl.Pos{Line: start.Line, Column: 1 + len(line), Byte: start.Byte + len(line)}
			src.WriteString(line + "\n")
			diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: fmt.Sprintf("%s %d", what, i), Detail: "Fix it.",
				Subject: &hcl.Range{Filename: "main.oauth.hcl", Start: start, End: end}})
		}
	}
	if warnFirst {
		add(hcl.DiagWarning, warns, "warning")
		add(hcl.DiagError, errs, "error")
	} else {
		add(hcl.DiagError, errs, "error")
		add(hcl.DiagWarning, warns, "warning")
	}
	return diags, map[string]*hcl.File{"main.oauth.hcl": {Bytes: []byte(src.String())}}
}

func summaries(diags hcl.Diagnostics) string {
	var s []string
	for _, d := range diags {
		s = append(s, d.Summary)
	}
	return strings.Join(s, ",")
}

// TestLimitDiags: at most the limit, in order, errors kept before
// warnings.
func TestLimitDiags(t *testing.T) {
	for _, tc := range []struct {
		errs, warns  int
		warnFirst    bool
		limit        int
		wantErrs     int
		wantWarns    int
		wantOmitted  int
		wantFirst    string
		wantLastShow string
	}{
		{errs: 3, warns: 2, limit: 5, wantErrs: 3, wantWarns: 2, wantFirst: "error 0", wantLastShow: "warning 1"},
		{errs: 250, limit: 100, wantErrs: 100, wantOmitted: 150, wantFirst: "error 0", wantLastShow: "error 99"},
		// 150 warnings before 3 errors: the errors are shown, after the
		// first 97 warnings, in their order.
		{errs: 3, warns: 150, warnFirst: true, limit: 100, wantErrs: 3, wantWarns: 97, wantOmitted: 53, wantFirst: "warning 0", wantLastShow: "error 2"},
		{errs: 120, warns: 150, warnFirst: true, limit: 100, wantErrs: 100, wantOmitted: 170, wantFirst: "error 0", wantLastShow: "error 99"},
	} {
		diags, _ := manyDiags(tc.errs, tc.warns, tc.warnFirst)
		shown, omitted := limitDiags(diags, tc.limit)
		errs, warns := CountDiags(shown)
		if errs != tc.wantErrs || warns != tc.wantWarns || omitted != tc.wantOmitted ||
			shown[0].Summary != tc.wantFirst || shown[len(shown)-1].Summary != tc.wantLastShow {
			t.Errorf("%d errors, %d warnings (warnings first %v), limit %d: shown %d errors, %d warnings, %d omitted (%s); want %d, %d, %d from %q to %q",
				tc.errs, tc.warns, tc.warnFirst, tc.limit, errs, warns, omitted, summaries(shown),
				tc.wantErrs, tc.wantWarns, tc.wantOmitted, tc.wantFirst, tc.wantLastShow)
		}
	}
}

func testView(errOut *bytes.Buffer) *View {
	return &View{Out: &bytes.Buffer{}, Err: errOut}
}

var diagHeader = regexp.MustCompile(`(?m)^(Error|Warning): `)

// TestWriteDiagsBounded: of 1,000 errors and 500 warnings, 100 errors are
// printed, then one line counting the others.
func TestWriteDiagsBounded(t *testing.T) {
	diags, files := manyDiags(1000, 500, false)
	var buf bytes.Buffer
	testView(&buf).Diagnostics(files, diags)
	out := buf.String()
	if n := len(diagHeader.FindAllString(out, -1)); n != MaxShownDiags {
		t.Errorf("%d diagnostics printed, want %d", n, MaxShownDiags)
	}
	if n := strings.Count(out, "\nWarning: "); n != 0 {
		t.Errorf("%d warnings printed, want none while errors are left out", n)
	}
	const more = "\n... and 1400 more (900 errors, 500 warnings) not shown. Fix the problems above and run again to see the rest.\n"
	if !strings.HasSuffix(out, more) {
		t.Errorf("output does not end with %q:\n…%s", more, out[max(len(out)-500, 0):])
	}
	if len(out) > 20_000 {
		t.Errorf("%d bytes of output for 100 short diagnostics", len(out))
	}

	// At the limit: everything, and no such line.
	diags, files = manyDiags(60, 40, false)
	buf.Reset()
	testView(&buf).Diagnostics(files, diags)
	if n := len(diagHeader.FindAllString(buf.String(), -1)); n != 100 || strings.Contains(buf.String(), "... and") {
		t.Errorf("100 diagnostics: printed %d, \"... and\" line %v", n, strings.Contains(buf.String(), "... and"))
	}
}

// TestJSONDiagsBounded: the JSON form has at most MaxShownDiags and counts
// the rest.
func TestJSONDiagsBounded(t *testing.T) {
	diags, _ := manyDiags(1000, 0, false)
	diags[0].Detail = strings.Repeat("ü", 1<<20)
	jd, omitted := JSONDiagnostics(diags)
	if len(jd) != MaxShownDiags || omitted != 900 {
		t.Errorf("%d diagnostics, %d omitted; want %d, 900", len(jd), omitted, MaxShownDiags)
	}
	if n := utf8.RuneCountInString(jd[0].Detail); n != maxDetailRunes+1 || !strings.HasSuffix(jd[0].Detail, "ü…") {
		t.Errorf("a 1 MiB detail is cut to %d runes (ends %q), want %d and an ellipsis", n, jd[0].Detail[len(jd[0].Detail)-10:], maxDetailRunes+1)
	}
	b, err := json.Marshal(jd)
	if err != nil || len(b) > 100_000 {
		t.Errorf("marshal: %d bytes, %v", len(b), err)
	}
	jd, omitted = JSONDiagnostics(diags[:5])
	if len(jd) != 5 || omitted != 0 {
		t.Errorf("5 diagnostics: %d, %d omitted", len(jd), omitted)
	}
}

func TestClipText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"ééé", 3, "ééé"},
		{"éééé", 3, "ééé…"},
		{"😀😀😀😀", 2, "😀😀…"},
		{"", 0, ""},
	} {
		if got := clipText(tc.in, tc.n); got != tc.want {
			t.Errorf("clipText(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// snippet renders the snippet of src's subject [start, end) (byte offsets,
// on one line) and returns its two lines without the line-number prefix.
func snippet(t *testing.T, src string, start, end int) (text, carets string) {
	t.Helper()
	pos := func(b int) hcl.Pos {
		line := 1 + strings.Count(src[:b], "\n")
		col := 1 + utf8.RuneCountInString(src[strings.LastIndexByte(src[:b], '\n')+1:b])
		return hcl.Pos{Line: line, Column: col, Byte: b}
	}
	var buf bytes.Buffer
	writeSnippet(&buf, []byte(src), hcl.Range{Filename: "f", Start: pos(start), End: pos(end)}, Palette{})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("snippet is not two lines: %q", buf.String())
	}
	prefix := regexp.MustCompile(`^  +\d+: `).FindString(lines[0])
	if prefix == "" || !strings.HasPrefix(lines[1], strings.Repeat(" ", len(prefix))) {
		t.Fatalf("no line-number prefix: %q", buf.String())
	}
	return lines[0][len(prefix):], lines[1][len(prefix):]
}

// underCarets returns the runes of text above the carets.
func underCarets(text, carets string) string {
	from := strings.IndexByte(carets, '^')
	n := strings.Count(carets, "^")
	r := []rune(text)
	if from < 0 || from+n > len(r) {
		return fmt.Sprintf("<carets %d+%d outside %d runes>", from, n, len(r))
	}
	return string(r[from : from+n])
}

// TestSnippetWidth: a long line is cut to MaxSnippetCols around the
// subject, between runes, with an ellipsis on each cut side and the carets
// still under the subject.
func TestSnippetWidth(t *testing.T) {
	long := func(fill string, n int) string { return strings.Repeat(fill, n) }
	for _, tc := range []struct {
		name        string
		src         string
		subject     string // the subject's text, found in src
		wantText    string // "" = do not compare
		wantUnder   string
		left, right bool // ellipses
	}{
		{name: "short", src: "x = \"sms\"\n", subject: `"sms"`, wantText: `x = "sms"`, wantUnder: `"sms"`},
		{name: "ascii-middle", src: "a = \"" + long("x", 5000) + "\" BAD \"" + long("y", 5000) + "\"\n", subject: "BAD", wantUnder: "BAD", left: true, right: true},
		{name: "ascii-start", src: "BAD = \"" + long("y", 5000) + "\"\n", subject: "BAD", wantUnder: "BAD", right: true},
		{name: "ascii-end", src: "a = \"" + long("x", 5000) + "\" BAD\n", subject: "BAD", wantUnder: "BAD", left: true},
		{name: "two-byte", src: "a = \"" + long("é", 3001) + "\" BAD \"" + long("é", 3001) + "\"\n", subject: "BAD", wantUnder: "BAD", left: true, right: true},
		{name: "three-byte", src: "a = \"" + long("€", 3001) + "\" €BAD€ \"" + long("€", 3001) + "\"\n", subject: "€BAD€", wantUnder: "€BAD€", left: true, right: true},
		{name: "four-byte", src: "a = \"" + long("😀", 3001) + "\" BAD \"" + long("😀", 3001) + "\"\n", subject: "BAD", wantUnder: "BAD", left: true, right: true},
		{name: "long-subject", src: "a = \"" + long("x", 50) + long("S", 5000) + "\"\n", subject: long("S", 5000), wantUnder: long("S", 79), left: true, right: true},
		{name: "one-megabyte-line", src: long("é", 1<<19) + "BAD" + long("é", 1<<19), subject: "BAD", wantUnder: "BAD", left: true, right: true},
		{name: "control-and-invalid", src: "a = \"\x1b[31m\xff\t\" BAD\n", subject: "BAD", wantText: "a = \"\uFFFD[31m\uFFFD \" BAD", wantUnder: "BAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := strings.Index(tc.src, tc.subject)
			text, carets := snippet(t, tc.src, start, start+len(tc.subject))
			if n := utf8.RuneCountInString(text); n > MaxSnippetCols {
				t.Errorf("snippet is %d columns, want at most %d", n, MaxSnippetCols)
			}
			if !utf8.ValidString(text) {
				t.Errorf("snippet is not valid UTF-8 (a rune was split): %q", text)
			}
			if tc.wantText != "" && text != tc.wantText {
				t.Errorf("snippet %q, want %q", text, tc.wantText)
			}
			if got := underCarets(text, carets); got != tc.wantUnder {
				t.Errorf("under the carets: %q, want %q\n%s\n%s", got, tc.wantUnder, text, carets)
			}
			if l := strings.HasPrefix(text, "…"); l != tc.left {
				t.Errorf("left ellipsis %v, want %v: %q", l, tc.left, text)
			}
			if r := strings.HasSuffix(text, "…"); r != tc.right {
				t.Errorf("right ellipsis %v, want %v: %q", r, tc.right, text)
			}
			if tc.left && tc.right && utf8.RuneCountInString(text) != MaxSnippetCols {
				t.Errorf("a line cut on both sides should fill the width: %d columns", utf8.RuneCountInString(text))
			}
		})
	}
}

// TestSnippetPastEnd: a subject at the end of a line (a missing token) or
// in an empty file gets one caret after the last character.
func TestSnippetPastEnd(t *testing.T) {
	text, carets := snippet(t, "x = \n", 4, 4)
	if text != "x = " || carets != "    ^" {
		t.Errorf("got %q / %q", text, carets)
	}
	src := strings.Repeat("y", 500) + "\n"
	text, carets = snippet(t, src, 500, 500)
	if !strings.HasPrefix(text, "…") || strings.HasSuffix(text, "…") || utf8.RuneCountInString(text) > MaxSnippetCols ||
		utf8.RuneCountInString(carets) != utf8.RuneCountInString(text)+1 {
		t.Errorf("past the end of a long line: %q / %q", text, carets)
	}
}
