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
