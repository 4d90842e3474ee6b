package command

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// habitsConfig declares one connection that is not connected yet, so that
// plan has a (coloured) change to show.
const habitsConfig = `app "sms" {
  provider      = "sms77"
  client_id     = "testclient"
  client_secret = "s3cret-value"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "sms_main" {
  app    = app.sms
  scopes = ["sms"]
}
`

// habitsDir makes a configuration directory and changes to it.
func habitsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(habitsConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return dir
}

// runTTY is runCLI with stdout and stderr claiming to be terminals, so
// that colour is on unless turned off.
func runTTY(args ...string) (int, string, string) {
	var out, errOut strings.Builder
	code := Run(context.Background(), args, &Streams{In: strings.NewReader(""), Out: &out, Err: &errOut,
		OutTerminal: true, ErrTerminal: true}, Meta{Version: "test"})
	return code, out.String(), errOut.String()
}

// runCLI runs the command line in this process with buffers for streams.
func runCLI(args ...string) (int, string, string) {
	var out, errOut strings.Builder
	code := Run(context.Background(), args, &Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, Meta{Version: "test"})
	return code, out.String(), errOut.String()
}

// TestNoColorAfterCommand: -no-color is accepted after the command name,
// as in Terraform, and turns colour off like the global form does.
func TestNoColorAfterCommand(t *testing.T) {
	habitsDir(t)
	t.Setenv("NO_COLOR", "")
	const esc = "\x1b["
	if code, out, errOut := runTTY("plan"); code != ExitOK || !strings.Contains(out, esc) {
		t.Fatalf("plan on a terminal: exit %d, want colour in %q (stderr %q)", code, out, errOut)
	}
	for _, args := range [][]string{
		{"-no-color", "plan"},
		{"plan", "-no-color"},
		{"plan", "-no-color", "-target=sms_main"},
		{"plan", "-target=sms_main", "-no-color"},
	} {
		code, out, errOut := runTTY(args...)
		if code != ExitOK || strings.Contains(out, esc) || strings.Contains(errOut, esc) || !strings.Contains(out, "sms_main") {
			t.Errorf("%q: exit %d, want no colour; stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	// Every command takes it, including those without colour and state's
	// subcommands.
	for _, args := range [][]string{
		{"validate", "-no-color"},
		{"version", "-no-color"},
		{"providers", "-no-color"},
		{"fmt", "-no-color", "-check"},
		{"show", "-no-color"},
	} {
		if code, _, errOut := runTTY(args...); code != ExitOK {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
	if code, _, errOut := runTTY("state", "list", "-no-color"); code == ExitError && strings.Contains(errOut, "no-color") {
		t.Errorf("state list -no-color refused: %q", errOut)
	}
}

func TestStripNoColor(t *testing.T) {
	got, found := stripNoColor([]string{"a", "-no-color", "-json", "--", "-no-color"})
	if !found || strings.Join(got, " ") != "a -json -- -no-color" {
		t.Errorf("stripNoColor = %q, %v", got, found)
	}
	if _, found := stripNoColor([]string{"a", "--", "-no-color"}); found {
		t.Error("-no-color after -- was taken as the flag")
	}
}

// jsonCommands are the command lines that print a JSON document: every one
// has a format_version and a section in docs/json-output.md.
var jsonCommands = []string{"validate", "plan", "show", "state show", "token", "providers", "version"}

// TestJSONFormatVersion: every JSON document names its format version,
// the failing ones too, and docs/json-output.md describes every command
// that prints one.
func TestJSONFormatVersion(t *testing.T) {
	habitsDir(t)
	cases := [][]string{
		{"version", "-json"},
		{"providers", "-json"},
		{"validate", "-json"},
		{"plan", "-json", "-out=saved.plan"},
		{"plan", "-json", "-target=nope"},
		{"show", "-json"},
		{"show", "-json", "saved.plan"},
	}
	for _, args := range cases {
		_, out, errOut := runCLI(args...)
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Errorf("%q: not one JSON document (%v): %q, stderr %q", args, err, out, errOut)
			continue
		}
		want := "1.0"
		if args[0] == "version" {
			want = "1.1" // version -json gained version, revision and go
		}
		if v, _ := doc["format_version"].(string); v != want {
			t.Errorf("%q: format_version = %v, want %q", args, doc["format_version"], want)
		}
	}
	// token -json and state show -json need tokens: TestTokenCommand and
	// show_state.txtar check theirs.

	b, err := os.ReadFile(filepath.Join(sourceDir, "..", "..", "docs", "json-output.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range jsonCommands {
		if !strings.Contains(string(b), "## `oauthform "+c+" ") {
			t.Errorf("docs/json-output.md has no section for %s -json", c)
		}
	}
}

// sourceDir is this package's directory: the test binary's working
// directory before any test changes it.
var sourceDir, _ = os.Getwd()

// TestHelpEverywhere: every command and every state subcommand answers
// -help with its own usage on stdout, and the top-level help lists them
// all, state's subcommands included.
func TestHelpEverywhere(t *testing.T) {
	habitsDir(t)
	_, usageOut, _ := runCLI("-help")
	for _, name := range commandNames() {
		if !strings.Contains(usageOut, "\n  "+name+" ") {
			t.Errorf("top-level help does not list %s:\n%s", name, usageOut)
		}
		if name == "state" {
			continue
		}
		code, out, errOut := runCLI(name, "-help")
		if code != ExitOK || !strings.HasPrefix(out, "Usage: oauthform "+name) {
			t.Errorf("%s -help: exit %d, stdout %q, stderr %q", name, code, out, errOut)
		}
	}
	for _, sc := range stateSubcommands() {
		if !strings.Contains(usageOut, "\n  state "+sc.name+" ") {
			t.Errorf("top-level help does not list state %s:\n%s", sc.name, usageOut)
		}
		for _, args := range [][]string{{"state", sc.name, "-help"}, {"state", sc.name, "x", "-help"}} {
			code, out, errOut := runCLI(args...)
			if code != ExitOK || !strings.HasPrefix(out, "Usage: oauthform state "+sc.name+" ") {
				t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	}
	code, out, _ := runCLI("state", "-help")
	for _, sc := range stateSubcommands() {
		if code != ExitOK || !strings.Contains(out, "\n  "+sc.name+" ") {
			t.Errorf("state -help does not list %s:\n%s", sc.name, out)
		}
	}
}
