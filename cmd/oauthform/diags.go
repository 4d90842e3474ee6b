package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mitchellh/go-wordwrap"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
)

// sourceless makes a diagnostic without a source range, for flag, state and
// network problems, so the CLI has one rendering path for everything.
func sourceless(sev hcl.DiagnosticSeverity, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: detail}
}

// errDiag is sourceless(hcl.DiagError, …).
func errDiag(summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{sourceless(hcl.DiagError, summary, detail)}
}

// writeDiags renders diagnostics for people to w (stderr), in Terraform's
// layout but with file:line:col, a source snippet from files and a caret
// line under the subject. Colour only when stderr is a terminal.
func writeDiags(g *globals, w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	width := g.streams.Width
	if width == 0 {
		width = 100
	}
	pal := newPalette(g.errColor())
	for _, d := range diags {
		writeDiag(w, files, d, width, pal)
	}
}

func writeDiag(w io.Writer, files map[string]*hcl.File, d *hcl.Diagnostic, width int, pal palette) {
	label, col := "Error", pal.red
	if d.Severity == hcl.DiagWarning {
		label, col = "Warning", pal.yellow
	}
	fmt.Fprintf(w, "\n%s%s:%s %s%s%s\n", col+pal.bold, label, pal.reset, pal.bold, d.Summary, pal.reset)
	if r := d.Subject; r != nil {
		where := fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
		f := files[r.Filename]
		if f != nil {
			if nav, ok := f.Nav.(interface{ ContextString(int) string }); ok {
				if c := nav.ContextString(r.Start.Byte); c != "" {
					where += ", in " + c
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
		fmt.Fprintf(w, "\n%s\n", wordwrap.WrapString(d.Detail, uint(max(width-1, 40))))
	}
}

// writeSnippet prints the subject's first line with its number and a caret
// line under the subject.
func writeSnippet(w io.Writer, src []byte, r hcl.Range, pal palette) {
	n := r.Start.Line
	line, ok := lineAt(src, r.Start)
	if !ok {
		return
	}
	line = strings.TrimRight(line, "\r")
	prefix := fmt.Sprintf("  %4d: ", n)
	fmt.Fprintf(w, "%s%s\n", prefix, strings.ReplaceAll(line, "\t", " "))
	start := max(r.Start.Column-1, 0)
	end := len(line)
	if r.End.Line == r.Start.Line {
		end = min(max(r.End.Column-1, start+1), len(line))
	}
	if start >= len(line) {
		start, end = len(line), len(line)+1
	}
	fmt.Fprintf(w, "%s%s%s%s\n", strings.Repeat(" ", len(prefix)+utf8.RuneCountInString(line[:start])),
		pal.red, strings.Repeat("^", max(utf8.RuneCountInString(line[start:min(end, len(line))]), 1)), pal.reset)
}

// lineAt returns the source line holding pos, found from its byte offset
// (so a file with thousands of diagnostics is not split into lines for each
// one), falling back to counting lines when there is no usable offset.
func lineAt(src []byte, pos hcl.Pos) (string, bool) {
	if b := pos.Byte; b >= 0 && b <= len(src) {
		start := bytes.LastIndexByte(src[:b], '\n') + 1
		end := bytes.IndexByte(src[b:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += b
		}
		return string(src[start:end]), true
	}
	if pos.Line < 1 {
		return "", false
	}
	lines := strings.SplitN(string(src), "\n", pos.Line+1)
	if pos.Line > len(lines) {
		return "", false
	}
	return lines[pos.Line-1], true
}

// jsonPos, jsonRange and jsonDiag are the machine form of a diagnostic,
// after Terraform's views/json/diagnostic.go.
type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonDiag struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *jsonRange `json:"range,omitempty"`
}

func toJSONDiags(diags hcl.Diagnostics) []jsonDiag {
	out := make([]jsonDiag, 0, len(diags))
	for _, d := range diags {
		jd := jsonDiag{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if r := d.Subject; r != nil {
			jd.Range = &jsonRange{
				Filename: r.Filename,
				Start:    jsonPos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:      jsonPos{r.End.Line, r.End.Column, r.End.Byte},
			}
		}
		out = append(out, jd)
	}
	return out
}

// countDiags returns the number of errors and warnings.
func countDiags(diags hcl.Diagnostics) (errs, warns int) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

// wrapErr turns an error from a lower layer into a diagnostic.
func wrapErr(summary string, err error) hcl.Diagnostics {
	return errDiag(summary, fmt.Sprint(err))
}
