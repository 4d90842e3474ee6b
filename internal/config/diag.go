package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/secret"
)

// errorAt returns an error diagnostic on subject.
func errorAt(subject hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  subject.Ptr(),
	}
}

// warningAt returns a warning diagnostic on subject.
func warningAt(subject hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	d := errorAt(subject, summary, detail, args...)
	d.Severity = hcl.DiagWarning
	return d
}

// sourceless returns an error diagnostic about something outside the
// files: a flag or the environment.
// sensitiveSubject, as a diagnostic's Extra, says that the source under
// its Subject holds a sensitive value: renderers must not quote it.
type sensitiveSubject struct{}

// markSensitive flags diags as quoting a sensitive value's source.
func markSensitive(diags ...*hcl.Diagnostic) {
	for _, d := range diags {
		if d.Subject != nil {
			d.Extra = sensitiveSubject{}
		}
	}
}

// SubjectIsSensitive reports whether the source under d's Subject holds a
// sensitive value (the default or the -var-file value of a sensitive
// variable): a renderer shows the position but not the source line.
func SubjectIsSensitive(d *hcl.Diagnostic) bool {
	_, ok := d.Extra.(sensitiveSubject)
	return ok
}

func sourceless(summary, detail string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
	}
}

// pos formats where r starts as FILE:LINE:COL for "already declared at"
// messages.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// suggest returns the option closest to given when it is close enough to
// be a typo, or "". The threshold is hclsyntax's (distance below 3),
// tightened for short words, where two edits turn "rcs" into "sms".
func suggest(given string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if d := levenshtein.Distance(given, o, nil); d < bestDist && d*3 <= len(given) {
			best, bestDist = o, d
		}
	}
	return best
}

// sortDiags orders diags for reading top to bottom: those without a
// source first, then by file (configuration files in load order, then any
// other, such as -var-file files, by name) and position. The sort is
// stable, so diagnostics on one spot keep the order they were found in.
func sortDiags(diags hcl.Diagnostics, srcs []source) {
	order := make(map[string]int, len(srcs))
	for i, s := range srcs {
		order[s.name] = i
	}
	fileRank := func(name string) int {
		if i, ok := order[name]; ok {
			return i
		}
		return len(srcs)
	}
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil && b.Subject == nil:
			return 0
		case a.Subject == nil:
			return -1
		case b.Subject == nil:
			return 1
		}
		if c := fileRank(a.Subject.Filename) - fileRank(b.Subject.Filename); c != 0 {
			return c
		}
		if c := strings.Compare(a.Subject.Filename, b.Subject.Filename); c != 0 {
			return c
		}
		return a.Subject.Start.Byte - b.Subject.Start.Byte
	})
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sortedAttrs returns attrs in source order, so that diagnostics come out
// in a stable order.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *hcl.Attribute) int {
		if c := strings.Compare(a.Range.Filename, b.Range.Filename); c != 0 {
			return c
		}
		return a.Range.Start.Byte - b.Range.Start.Byte
	})
	return out
}

// minSecretLen is the shortest secret scrubbed from diagnostic text;
// shorter values would mangle ordinary words.
const minSecretLen = 4

// sanitize makes diags safe to print: hcl's text writer prints the value
// of every variable an Expression refers to, so Expression and EvalContext
// are dropped, and any known secret that still reached a summary or detail
// (through a function's error message, say) is replaced by the redaction
// marker.
func sanitize(diags hcl.Diagnostics, secrets []string) {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s string) bool { return len(s) < minSecretLen })
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, d := range diags {
		d.Expression = nil
		d.EvalContext = nil
		for _, s := range secrets {
			d.Summary = strings.ReplaceAll(d.Summary, s, secret.Redacted)
			d.Detail = strings.ReplaceAll(d.Detail, s, secret.Redacted)
		}
	}
}
