package views

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mitchellh/go-wordwrap"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
)

// Bounds on what diagnostics print, so that a hostile or binary
// configuration cannot flood a terminal or a CI log.
const (
	// MaxShownDiags is the most diagnostics one command prints; the rest
	// are counted ("... and N more" in the human view,
	// diagnostics_omitted in JSON).
	MaxShownDiags = 100
	// MaxSnippetCols is the widest source snippet: a longer line is cut
	// around the subject, with an ellipsis on each cut side.
	MaxSnippetCols = 120
	// maxSummaryRunes, maxDetailRunes and maxContextRunes cut texts that
	// quote the configuration (a name a megabyte long).
	maxSummaryRunes = 300
	maxDetailRunes  = 4000
	maxContextRunes = 120
)

// Diagnostics renders diagnostics for people to stderr, in Terraform's
// layout but with file:line:col, a source snippet from files and a caret
// line under the subject. Colour only when stderr is a terminal. At most
// MaxShownDiags are printed, then a line counting the others.
func (v *View) Diagnostics(files map[string]*hcl.File, diags hcl.Diagnostics) {
	w := v.Err
	width := v.Width
	if width == 0 {
		width = 100
	}
	pal := NewPalette(v.ErrColor)
	shown, omitted := limitDiags(diags, MaxShownDiags)
	for _, d := range shown {
		writeDiag(w, files, d, width, pal)
	}
	if omitted > 0 {
		errs, warns := CountDiags(diags)
		shownErrs, shownWarns := CountDiags(shown)
		fmt.Fprintf(w, "\n... and %d more (%s) not shown. Fix the problems above and run again to see the rest.\n",
			omitted, CountWords(errs-shownErrs, warns-shownWarns))
	}
}

// countWords is "3 errors, 1 warning", leaving out a zero count.
func CountWords(errs, warns int) string {
	var parts []string
	for _, c := range []struct {
		n    int
		word string
	}{{errs, "error"}, {warns, "warning"}} {
		switch {
		case c.n == 1:
			parts = append(parts, "1 "+c.word)
		case c.n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", c.n, c.word))
		}
	}
	return strings.Join(parts, ", ")
}

// limitDiags returns at most limit of diags, in their order, and how many
// it left out. Errors are kept before warnings: a hundred warnings must not
// hide the error that fails the command.
func limitDiags(diags hcl.Diagnostics, limit int) (shown hcl.Diagnostics, omitted int) {
	if len(diags) <= limit {
		return diags, 0
	}
	errs, _ := CountDiags(diags)
	warnRoom := max(limit-errs, 0)
	shown = make(hcl.Diagnostics, 0, limit)
	for _, d := range diags {
		if len(shown) == limit {
			break
		}
		if d.Severity != hcl.DiagError {
			if warnRoom == 0 {
				continue
			}
			warnRoom--
		}
		shown = append(shown, d)
	}
	return shown, len(diags) - len(shown)
}

// clipText cuts s after n runes, marking the cut with an ellipsis.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}

func writeDiag(w io.Writer, files map[string]*hcl.File, d *hcl.Diagnostic, width int, pal Palette) {
	label, col := "Error", pal.red
	if d.Severity == hcl.DiagWarning {
		label, col = "Warning", pal.yellow
	}
	fmt.Fprintf(w, "\n%s%s:%s %s%s%s\n", col+pal.bold, label, pal.reset, pal.bold, clipText(d.Summary, maxSummaryRunes), pal.reset)
	if r := d.Subject; r != nil {
		where := fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
		f := files[r.Filename]
		if f != nil {
			if nav, ok := f.Nav.(interface{ ContextString(int) string }); ok {
				if c := nav.ContextString(r.Start.Byte); c != "" {
					where += ", in " + sanitizeLine(clipText(c, maxContextRunes))
				}
			}
		}
		fmt.Fprintf(w, "\n  on %s:\n", where)
		switch {
		case config.SubjectIsSensitive(d):
			fmt.Fprintln(w, "  (the line holds a sensitive value and is not shown)")
		case f != nil:
			writeSnippet(w, f.Bytes, *r, pal)
		}
	}
	if d.Detail != "" {
		fmt.Fprintf(w, "\n%s\n", wordwrap.WrapString(clipText(d.Detail, maxDetailRunes), uint(max(width-1, 40))))
	}
}

// writeSnippet prints the subject's first line with its number and a caret
// line under the subject. A line wider than MaxSnippetCols is cut around
// the subject; control characters and bytes that are not UTF-8 are shown
// as U+FFFD.
func writeSnippet(w io.Writer, src []byte, r hcl.Range, pal Palette) {
	line, lineStart, ok := lineAt(src, r.Start)
	if !ok {
		return
	}
	line = bytes.TrimRight(line, "\r")
	// The subject's byte offsets in line.
	var start, end int
	if lineStart >= 0 {
		start, end = r.Start.Byte-lineStart, len(line)
		if r.End.Line == r.Start.Line {
			end = r.End.Byte - lineStart
		}
	} else {
		start, end = runeOffset(line, r.Start.Column-1), len(line)
		if r.End.Line == r.Start.Line {
			end = runeOffset(line, r.End.Column-1)
		}
	}
	start = min(max(start, 0), len(line))
	end = min(max(end, start), len(line))
	text, caretCol, caretLen := snippetWindow(line, start, end, MaxSnippetCols)
	prefix := fmt.Sprintf("  %4d: ", r.Start.Line)
	fmt.Fprintf(w, "%s%s\n", prefix, text)
	fmt.Fprintf(w, "%s%s%s%s\n", strings.Repeat(" ", len(prefix)+caretCol), pal.red, strings.Repeat("^", caretLen), pal.reset)
}

// snippetWindow returns the part of line to print, at most width columns
// (one per rune) including the ellipses that mark a cut, chosen around
// the subject line[start:end] with a third of it before the subject; and
// where the carets under the subject go. Cuts fall between runes. The
// work is proportional to width, not to the line, which may be megabytes.
func snippetWindow(line []byte, start, end, width int) (text string, caretCol, caretLen int) {
	lo, hi, before := window(line, start, width)
	cutLeft, cutRight := lo > 0, hi < len(line)
	if cutLeft || cutRight {
		// Make room for the ellipses.
		lo, hi, before = window(line, start, width-2)
		cutLeft, cutRight = lo > 0, hi < len(line)
	}
	var b strings.Builder
	if cutLeft {
		b.WriteString("…")
		before++
	}
	b.WriteString(sanitizeLine(string(line[lo:hi])))
	if cutRight {
		b.WriteString("…")
	}
	caretLen = utf8.RuneCount(line[start:min(end, hi)])
	return b.String(), before, max(caretLen, 1)
}

// window finds line[lo:hi], at most width runes around start (a third
// before it when the line is longer), and the number of runes before
// start.
func window(line []byte, start, width int) (lo, hi, before int) {
	lo, hi = start, start
	for lo > 0 && before < width/3 {
		_, n := utf8.DecodeLastRune(line[:lo])
		lo -= n
		before++
	}
	after := 0
	for hi < len(line) && before+after < width {
		_, n := utf8.DecodeRune(line[hi:])
		hi += n
		after++
	}
	for lo > 0 && before+after < width {
		_, n := utf8.DecodeLastRune(line[:lo])
		lo -= n
		before++
	}
	return lo, hi, before
}

// sanitizeLine makes source text safe to print on one terminal line, one
// column per rune as the caret line assumes: a tab becomes a space, and
// control characters (which could move the cursor or change colours) and
// bytes that are not UTF-8 become U+FFFD.
func sanitizeLine(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r == utf8.RuneError || unicode.IsControl(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// runeOffset is the byte offset of line's n-th rune (len(line) past the
// end).
func runeOffset(line []byte, n int) int {
	for i := 0; i < len(line); n-- {
		if n <= 0 {
			return i
		}
		_, size := utf8.DecodeRune(line[i:])
		i += size
	}
	return len(line)
}

// lineAt returns the source line holding pos (without its newline) and
// the byte offset where it starts. The line is found from pos's byte
// offset, so a file with many diagnostics is not split into lines for each
// one; when there is no usable offset it falls back to counting lines and
// the offset returned is -1.
func lineAt(src []byte, pos hcl.Pos) ([]byte, int, bool) {
	if b := pos.Byte; b >= 0 && b <= len(src) && (pos.Line <= 1 || b > 0) {
		start := bytes.LastIndexByte(src[:b], '\n') + 1
		end := bytes.IndexByte(src[b:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += b
		}
		return src[start:end], start, true
	}
	if pos.Line < 1 {
		return nil, -1, false
	}
	lines := bytes.SplitN(src, []byte("\n"), pos.Line+1)
	if pos.Line > len(lines) {
		return nil, -1, false
	}
	return lines[pos.Line-1], -1, true
}

// jsonPos, jsonRange and jsonDiag are the machine form of a diagnostic,
// after Terraform's views/json/diagnostic.go.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

type Range struct {
	Filename string `json:"filename"`
	Start    Pos    `json:"start"`
	End      Pos    `json:"end"`
}

type Diagnostic struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
	Range    *Range `json:"range,omitempty"`
}

// toJSONDiags returns the machine form of at most MaxShownDiags of diags
// (errors first, as in the human view) and how many it left out, for a
// document's diagnostics_omitted. Summaries and details are cut as in
// the human view.
func JSONDiagnostics(diags hcl.Diagnostics) ([]Diagnostic, int) {
	shown, omitted := limitDiags(diags, MaxShownDiags)
	out := make([]Diagnostic, 0, len(shown))
	for _, d := range shown {
		jd := Diagnostic{Severity: "error", Summary: clipText(d.Summary, maxSummaryRunes), Detail: clipText(d.Detail, maxDetailRunes)}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if r := d.Subject; r != nil {
			jd.Range = &Range{
				Filename: r.Filename,
				Start:    Pos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:      Pos{r.End.Line, r.End.Column, r.End.Byte},
			}
		}
		out = append(out, jd)
	}
	return out, omitted
}

// countDiags returns the number of errors and warnings.
func CountDiags(diags hcl.Diagnostics) (errs, warns int) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}
