package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to the loader, seeded with every file
// under testdata. Load must never panic, must always return a Config, and
// every diagnostic it returns must be safe to render.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/*/*.oauth.hcl", "testdata/*/*.hcl"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if src, err := os.ReadFile(p); err == nil {
				f.Add(src)
			}
		}
	}
	dir := f.TempDir()
	in := Inputs{Environ: testEnviron}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := load(dir, []source{{name: "fuzz.oauth.hcl", src: src}}, in)
		if cfg == nil {
			t.Fatal("nil Config")
		}
		for _, d := range diags {
			if d.Expression != nil || d.EvalContext != nil {
				t.Fatalf("diagnostic %q keeps its Expression", d.Summary)
			}
		}
		_ = renderDiags(cfg, diags)
		if !diags.HasErrors() {
			for name, c := range cfg.Connections {
				if c.App == nil || c.App.Profile == nil || c.Params == nil || c.Scopes == nil {
					t.Fatalf("connection %s incomplete without an error", name)
				}
			}
		}
	})
}
