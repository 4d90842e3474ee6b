package views

import (
	"fmt"
	"io"
	"runtime"
)

// Help prints a command's usage on stdout.
func (v *View) Help(text string) {
	fmt.Fprint(v.Out, text)
}

// VersionFormatVersion versions the `version -json` document
// (docs/json-output.md).
const VersionFormatVersion = "1.0"

// Version prints oauthform's version, the revision it was built from and
// its platform.
func (v *View) Version(version, revision string, asJSON bool) {
	platform := runtime.GOOS + "_" + runtime.GOARCH
	if asJSON {
		_ = WriteJSON(v.Out, struct {
			FormatVersion string `json:"format_version"`
			Version       string `json:"version"`
			Revision      string `json:"revision"`
			Go            string `json:"go"`
			Platform      string `json:"platform"`
			// The names of format 1.0, kept for the scripts that read them.
			OauthformVersion string `json:"oauthform_version"`
			GoVersion        string `json:"go_version"`
		}{VersionFormatVersion, version, revision, runtime.Version(), platform, version, runtime.Version()})
		return
	}
	fmt.Fprintf(v.Out, "oauthform v%s\non %s (%s)\n", version, platform, runtime.Version())
	if revision != "" {
		fmt.Fprintf(v.Out, "revision %s\n", revision)
	}
}

// HelpErr prints a usage on stderr, for a command line that is missing
// its subcommand.
func (v *View) HelpErr(text string) {
	fmt.Fprint(v.Err, text)
}

// CommandLine is one command in the top-level help.
type CommandLine struct {
	Name, Synopsis string
}

// Usage prints the top-level help on stdout.
func (v *View) Usage(cmds []CommandLine) {
	writeUsage(v.Out, cmds)
}

// UsageError prints a command-line error and the top-level help on
// stderr.
func (v *View) UsageError(msg string, cmds []CommandLine) {
	fmt.Fprintf(v.Err, "Error: %s\n\n", msg)
	writeUsage(v.Err, cmds)
}

// ChdirFailed says that -chdir failed.
func (v *View) ChdirFailed(dir string, err error) {
	fmt.Fprintf(v.Err, "Error: -chdir: cannot change to %q: %v\n", dir, err)
}

func writeUsage(w io.Writer, cmds []CommandLine) {
	fmt.Fprintf(w, `Usage: oauthform [global options] <command> [args]

oauthform declares OAuth 2.0 connections in *.oauth.hcl files and keeps their
tokens in a local state, the way Terraform keeps infrastructure.

Commands:
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-14s %s\n", c.Name, c.Synopsis)
	}
	fmt.Fprintf(w, `
Global options (before the command):
  -chdir=DIR        Switch to DIR before running the command.
  -no-color         Disable colour in the output (every command also takes
                    it after its name).
  -log-level=LEVEL  Log to stderr: trace, debug, info, warn, error, off
                    (also OAUTHFORM_LOG).

Run "oauthform <command> -help" for a command's options.
`)
}

// StateNotice prints what the state store did on its own (turning
// encryption on at a write) to stderr. The notes hold no secret.
func (v *View) StateNotice(msg string) {
	fmt.Fprintf(v.Err, "\n%s\n\n", msg)
}
