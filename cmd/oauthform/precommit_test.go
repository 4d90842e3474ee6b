package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hook is one entry of .pre-commit-hooks.yaml, as pre-commit runs it:
// entry, then args, then the staged file names when pass_filenames.
type hook struct {
	id, entry     string
	args          []string
	passFilenames bool
}

// readHooks reads the repository's .pre-commit-hooks.yaml (its simple
// shape: a list of maps with scalar values and flow lists).
func readHooks(t *testing.T) map[string]hook {
	t.Helper()
	data, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hooks := map[string]hook{}
	var cur *hook
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" {
			continue
		}
		if id, ok := strings.CutPrefix(trimmed, "- id:"); ok {
			if cur != nil {
				hooks[cur.id] = *cur
			}
			cur = &hook{id: strings.TrimSpace(id)}
			continue
		}
		key, value, _ := strings.Cut(trimmed, ":")
		value = strings.TrimSpace(value)
		switch key {
		case "entry":
			cur.entry = value
		case "args":
			for _, a := range strings.Split(strings.Trim(value, "[]"), ",") {
				if a = strings.TrimSpace(a); a != "" {
					cur.args = append(cur.args, a)
				}
			}
		case "pass_filenames":
			cur.passFilenames = value == "true"
		}
	}
	if cur != nil {
		hooks[cur.id] = *cur
	}
	return hooks
}

// The pre-commit hooks fail on an unformatted or invalid file and pass on
// a clean one, run exactly as pre-commit runs them.
func TestPreCommitHooks(t *testing.T) {
	hooks := readHooks(t)
	const clean = `app "x" {
  provider      = "sms77"
  client_id     = "i"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
`
	for _, tc := range []struct {
		hook, file string
		wantPass   bool
	}{
		{"oauthform-fmt", clean, true},
		{"oauthform-fmt", strings.ReplaceAll(clean, "  provider      =", "provider="), false},
		{"oauthform-validate", clean, true},
		{"oauthform-validate", strings.ReplaceAll(clean, `"sms77"`, `"sms78"`), false},
	} {
		h, ok := hooks[tc.hook]
		if !ok || h.entry == "" {
			t.Fatalf("no hook %s in .pre-commit-hooks.yaml", tc.hook)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		argv := append(strings.Fields(h.entry), h.args...)
		if h.passFilenames {
			argv = append(argv, "main.oauth.hcl")
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.wantPass {
			t.Errorf("%s on %q: err %v, want pass %v\n%s", tc.hook, tc.file, err, tc.wantPass, out)
		}
	}
}
