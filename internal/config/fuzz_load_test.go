package config_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/oauthform/oauthform/internal/config"
)

// fuzzSecret is the default of a sensitive variable in the seeds of
// FuzzLoadConfig. Whenever it is still, in the fuzzed file, the literal
// default of a variable declared sensitive = true, no diagnostic may show
// it.
const fuzzSecret = "SENSITIVE-XYZ"

// FuzzLoadConfig drives the public entry point: the fuzzed bytes are the
// only main.oauth.hcl of a directory, loaded through config.Load with an
// empty environment. (FuzzLoad, in fuzz_test.go, calls the internal load
// directly.)
//
// Properties:
//   - Load never panics and always returns a Config;
//   - every error diagnostic has a summary, and every Subject names a file;
//     a Subject in the fuzzed file lies inside it;
//   - when the file has an HCL syntax error, Load reports an error, and
//     every error diagnostic points into the file;
//   - a file with no syntax error is decoded the same way twice (the same
//     diagnostics, in the same order);
//   - the literal default of a sensitive variable never appears in a
//     diagnostic's summary or detail.
//
// Seeds: testdata/fuzz/FuzzLoadConfig (sensitive values used in every
// place that can fail), plus every configuration under testdata/ and
// examples/, read here.
func FuzzLoadConfig(f *testing.F) {
	seen := map[string]bool{}
	for _, pattern := range []string{
		"testdata/*/*.hcl", // configurations, -var-files, format cases
		"testdata/*/*.json",
		"../../examples/*/main.oauth.hcl",
	} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if src, err := os.ReadFile(p); err == nil && !seen[p] {
				seen[p] = true
				f.Add(src)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "main.oauth.hcl")
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, diags := config.Load(dir, config.Inputs{Environ: []string{}})
		if cfg == nil {
			t.Fatal("Load returned a nil Config")
		}

		for _, d := range diags {
			if d.Severity == hcl.DiagError && strings.TrimSpace(d.Summary) == "" {
				t.Errorf("error diagnostic without a summary: %s", describeDiag(d))
			}
			if d.Subject == nil {
				continue
			}
			if d.Subject.Filename == "" {
				t.Errorf("diagnostic with a Subject but no Filename: %s", describeDiag(d))
			}
			if d.Subject.Filename == path {
				r := d.Subject
				if r.Start.Byte < 0 || r.Start.Byte > r.End.Byte || r.End.Byte > len(src) || r.Start.Line < 1 || r.Start.Column < 1 {
					t.Errorf("diagnostic Subject %s is not inside the %d-byte file: %s", rangeString(r), len(src), describeDiag(d))
				}
			}
		}

		_, syntax := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
		if syntax.HasErrors() {
			if !diags.HasErrors() {
				t.Errorf("the file has a syntax error (%s) but Load reports none", syntax.Errs()[0])
			}
			for _, d := range diags {
				if d.Severity == hcl.DiagError && (d.Subject == nil || d.Subject.Filename != path) {
					t.Errorf("syntax error diagnostic does not point into %s: %s", path, describeDiag(d))
				}
			}
		} else {
			_, again := config.Load(dir, config.Inputs{Environ: []string{}})
			if a, b := diagList(diags), diagList(again); a != b {
				t.Errorf("two loads of the same file disagree:\n--- first\n%s--- second\n%s", a, b)
			}
		}

		if sensitiveDefaultHolds(src, fuzzSecret) {
			for _, d := range diags {
				if strings.Contains(d.Summary, fuzzSecret) || strings.Contains(d.Detail, fuzzSecret) {
					t.Errorf("a diagnostic shows the sensitive value %q: %s", fuzzSecret, describeDiag(d))
				}
			}
		}
	})
}

// sensitiveDefaultHolds reports whether the only occurrence of marker in src
// lies in the default of a variable block whose sensitive attribute is the
// literal true, and that default is a plain value (no function calls, no
// references) whose strings contain marker: the loader then knows the
// value is secret, and nothing else in the file could legitimately echo it.
func sensitiveDefaultHolds(src []byte, marker string) bool {
	if bytes.Count(src, []byte(marker)) != 1 {
		return false
	}
	at := bytes.Index(src, []byte(marker))
	file, diags := hclsyntax.ParseConfig(src, "check.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return false
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		return false
	}
	for _, b := range body.Blocks {
		if b.Type != "variable" || len(b.Labels) != 1 {
			continue
		}
		sens, def := b.Body.Attributes["sensitive"], b.Body.Attributes["default"]
		if sens == nil || def == nil {
			continue
		}
		if v, d := sens.Expr.Value(nil); d.HasErrors() || !v.Type().Equals(cty.Bool) || !v.IsKnown() || v.IsNull() || !v.True() {
			continue
		}
		r := def.Expr.Range()
		if at < r.Start.Byte || at+len(marker) > r.End.Byte {
			continue
		}
		v, d := def.Expr.Value(nil)
		if d.HasErrors() {
			return false
		}
		return valueContains(v, marker)
	}
	return false
}

// valueContains reports whether any known string inside v contains s.
func valueContains(v cty.Value, s string) bool {
	found := false
	_ = cty.Walk(v, func(_ cty.Path, val cty.Value) (bool, error) {
		if val.IsKnown() && !val.IsNull() && val.Type() == cty.String && strings.Contains(val.AsString(), s) {
			found = true
		}
		return !found, nil
	})
	return found
}

func rangeString(r *hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d-%d:%d (bytes %d-%d)", r.Filename, r.Start.Line, r.Start.Column, r.End.Line, r.End.Column, r.Start.Byte, r.End.Byte)
}

func describeDiag(d *hcl.Diagnostic) string {
	where := "no subject"
	if d.Subject != nil {
		where = rangeString(d.Subject)
	}
	return fmt.Sprintf("[%v] %q: %q (%s)", d.Severity, d.Summary, d.Detail, where)
}

// diagList renders diags with everything that identifies them, one a line.
func diagList(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(describeDiag(d))
		b.WriteByte('\n')
	}
	return b.String()
}
