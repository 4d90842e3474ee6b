package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFormat compares Format's output with golden NAME.out.hcl files for
// each NAME.in.hcl, and checks that formatting is idempotent.
func TestFormat(t *testing.T) {
	for _, in := range globFiles(t, "testdata/format/*.in.hcl") {
		name := strings.TrimSuffix(filepath.Base(in), ".in.hcl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(in, ".in.hcl") + ".out.hcl")
			if err != nil {
				t.Fatal(err)
			}
			got, diags := Format(src, in)
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %v", diags)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Format (-want +got):\n%s", diff)
			}
			again, _ := Format(got, in)
			if !bytes.Equal(again, got) {
				t.Errorf("Format is not idempotent:\n%s", again)
			}
		})
	}
}

// TestFormatValidFiles: every valid example is already canonical.
func TestFormatValidFiles(t *testing.T) {
	for _, path := range globFiles(t, "testdata/valid/*"+FileSuffix) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, diags := Format(src, path)
		if len(diags) > 0 {
			t.Fatalf("%s: %v", path, diags)
		}
		if diff := cmp.Diff(string(src), string(got)); diff != "" {
			t.Errorf("%s is not canonical (-file +formatted):\n%s", path, diff)
		}
	}
}

func TestFormatSyntaxError(t *testing.T) {
	got, diags := Format([]byte("app \"sms\" {\n  provider = \n}\n"), "broken.oauth.hcl")
	if got != nil || !diags.HasErrors() {
		t.Fatalf("got %q, %v; want nil and an error", got, diags)
	}
	if d := diags[0]; d.Subject == nil || d.Subject.Filename != "broken.oauth.hcl" || d.Subject.Start.Line != 2 {
		t.Errorf("diagnostic subject: %v", d.Subject)
	}
}

// TestFormatRefuses: Format, like Load, gives one diagnostic for a binary
// or oversized input instead of parsing it.
func TestFormatRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, src, summary string
	}{
		{"binary", "x = 1\n" + strings.Repeat("\x00\xff\x01", 100_000), "Invalid character"},
		{"latin1", "# caf\xe9\n", "Invalid character encoding"},
		{"too large", strings.Repeat(" ", MaxConfigSize+1), "Configuration file too large"},
	} {
		out, diags := Format([]byte(tc.src), "<stdin>")
		if out != nil || len(diags) != 1 || diags[0].Summary != tc.summary || diags[0].Subject == nil || diags[0].Subject.Filename != "<stdin>" {
			t.Errorf("%s: %d bytes out, diagnostics %v; want one %q on <stdin>", tc.name, len(out), diags, tc.summary)
		}
	}
}

// TestReadFile: the reader of `oauthform fmt` refuses what Load refuses.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.oauth.hcl")
	sparseFile(t, big, MaxConfigSize+1)
	if src, diags, err := ReadFile(big); src != nil || err != nil || len(diags) != 1 || diags[0].Summary != "Configuration file too large" {
		t.Errorf("ReadFile(%d bytes) = %d bytes, %v, %v; want one diagnostic", MaxConfigSize+1, len(src), diags, err)
	}
	if _, _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile(a directory): %v, want not a regular file", err)
	}
	writeFile(t, dir, "ok.oauth.hcl", "x = 1\n")
	if src, diags, err := ReadFile(filepath.Join(dir, "ok.oauth.hcl")); string(src) != "x = 1\n" || diags != nil || err != nil {
		t.Errorf("ReadFile(ok) = %q, %v, %v", src, diags, err)
	}
}
