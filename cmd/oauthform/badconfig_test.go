package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/oauthform/oauthform/internal/command"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/config"
)

// The bad configuration corpus (issue 5, item 9): every broken
// configuration must make `oauthform validate` exit 1 with an error
// diagnostic that points at FILE:LINE, in the human and the -json output,
// without a panic and without printing a secret.
//
// Static cases are testdata/badconfig/NNN-name.txtar. The comment section
// holds the expectations, one per line:
//
//	# what is broken (free text)
//	summary: substring of the error diagnostic's summary ("" = any error)
//	detail: substring of that diagnostic's detail (optional; typo suggestions)
//	pos: FILE:LINE the diagnostic must point at
//	nopos: why no position is possible (instead of pos; see below)
//	env: NAME=VALUE for the process (optional, repeatable)
//	arg: an extra argument to validate (optional, repeatable)
//
// and the files are the directory's contents (a file inside x.oauth.hcl/
// makes x.oauth.hcl a directory). Cases that need bytes a text file should
// not hold (invalid UTF-8, NUL, random bytes), multi-megabyte files or
// special files are generated in generatedBadConfigs.
//
// Exceptions to "a diagnostic with a position": when the problem is not in
// any file -- an empty directory, a directory with no *.oauth.hcl file, a
// value from the environment or from -var, a file that cannot be read at
// all -- the case says nopos and the test asserts the message and that
// the diagnostic indeed has no range.
//
// The language has no locals and variable defaults cannot reference
// anything, so no reference cycle can be written: the cycle-* cases show
// that defaults referring to each other or to themselves are rejected.
//
// Each case runs the test binary as oauthform (TestMain puts it on PATH)
// twice, with and without -json, so a panic is a crash of that process and
// -chdir's os.Chdir does not touch the test. Cases too costly for every
// run (5 MiB and 100,000-block files, a parser stack overflow) run with
// OAUTHFORM_TEST_HEAVY=1.
//
// Every case's output is bounded (issue 13, item 8): at most
// views.MaxShownDiags diagnostics, then "... and N more" counting the rest
// exactly; source snippets at most views.MaxSnippetCols wide; valid UTF-8 (no
// raw bytes of a binary file); at most maxBadConfigOutput bytes.

// secretMarker is the default of the sensitive variable of many cases; it
// must never appear in any output.
const secretMarker = "SENSITIVE-MARKER-42"

// knownBugs are cases that do not yet behave as the corpus requires. The
// test asserts that each still fails with a problem containing the given
// text, so that fixing the bug makes the test fail until the entry is
// removed here.
var knownBugs = map[string]string{
	// (none at present)
}

// badConfig is one case.
type badConfig struct {
	name    string
	desc    string
	summary string
	detail  string
	// file and line of pos; line 0 means any line of file.
	file string
	line int
	// nopos is why the diagnostic can have no position ("" = it must).
	nopos string
	env   []string
	args  []string
	// write fills the case's directory.
	write func(t *testing.T, dir string)
	// timeout bounds each run (default badConfigTimeout).
	timeout time.Duration
	// skip, when set, is why the case cannot run here.
	skip string
}

const badConfigTimeout = 2 * time.Minute

// maxBadConfigOutput bounds what one validate run may print.
const maxBadConfigOutput = 1 << 20

// heavyEnv, set to 1, enables the cases too costly for every run.
const heavyEnv = "OAUTHFORM_TEST_HEAVY"

func TestBadConfig(t *testing.T) {
	cases := append(loadBadConfigs(t), generatedBadConfigs(t)...)
	if len(cases) < 45 {
		t.Errorf("the corpus has %d cases, want at least 45", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("two cases named %s", c.name)
		}
		seen[c.name] = true
	}
	for name := range knownBugs {
		if !seen[name] {
			t.Errorf("knownBugs names %s, which is no case", name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.skip != "" {
				t.Skip(c.skip)
			}
			dir := t.TempDir()
			c.write(t, dir)
			problems := checkBadConfig(t, c, dir)
			want, known := knownBugs[c.name]
			switch {
			case !known:
				for _, p := range problems {
					t.Error(p)
				}
				if len(problems) > 0 {
					t.Logf("the case: %s", c.desc)
				}
			case len(problems) == 0:
				t.Errorf("known bug fixed: %s now passes; remove it from knownBugs", c.name)
			case !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }):
				t.Errorf("known bug %s fails differently than recorded (%q):\n%s", c.name, want, strings.Join(problems, "\n"))
			default:
				t.Logf("known bug, still failing as recorded (%q)", want)
			}
		})
	}
}

// checkBadConfig runs `validate` and `validate -json` on dir and returns
// everything that is not as the case requires.
func checkBadConfig(t *testing.T, c badConfig, dir string) []string {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// The two runs are independent: run them at once.
	type run struct {
		stdout, stderr string
		res            runResult
	}
	var human, machine run
	done := make(chan struct{})
	go func() {
		defer close(done)
		machine.stdout, machine.stderr, machine.res = runBadConfig(c, dir, true)
	}()
	human.stdout, human.stderr, human.res = runBadConfig(c, dir, false)
	<-done

	// Human output.
	stderr := human.stderr
	out := human.stdout + stderr
	checkRun(bad, "validate", human.res, out)
	if !strings.Contains(stderr, "Error:") {
		bad("validate: stderr has no \"Error:\":\n%s", clip(out))
	}
	if c.nopos == "" {
		re := diagHeaderRE(c)
		if !slices.ContainsFunc(humanDiags(stderr), re.MatchString) {
			bad("validate: no error containing %q on %s:\n%s", c.summary, c.where(), clip(out))
		}
	} else if !strings.Contains(stderr, "Error: "+c.summary) {
		bad("validate: no error containing %q:\n%s", c.summary, clip(out))
	}
	if c.detail != "" && !strings.Contains(strings.Join(strings.Fields(stderr), " "), c.detail) {
		bad("validate: the detail %q is missing:\n%s", c.detail, clip(out))
	}
	if human.res.finished {
		checkHumanBounds(bad, human.stdout, stderr)
	}

	// JSON output.
	checkRun(bad, "validate -json", machine.res, machine.stdout+machine.stderr)
	if machine.res.finished {
		checkJSON(bad, c, machine.stdout)
	}
	return problems
}

// runResult is how a run ended.
type runResult struct {
	finished bool // false: killed at the timeout
	code     int  // exit status; -1 when killed by a signal
	err      error
}

func runBadConfig(c badConfig, dir string, asJSON bool) (stdout, stderr string, res runResult) {
	timeout := c.timeout
	if timeout == 0 {
		timeout = badConfigTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"-chdir", dir, "validate"}, c.args...)
	if asJSON {
		args = append(args, "-json")
	}
	// The test binary is oauthform on PATH (TestMain); a separate process
	// confines panics, crashes and os.Chdir to that process.
	cmd := exec.CommandContext(ctx, "oauthform", args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(badConfigEnviron(), c.env...)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	err := cmd.Run()
	res = runResult{finished: ctx.Err() == nil, err: err}
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.code = 0
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		// Not started at all (no oauthform on PATH): report it as a
		// failed run rather than calling t.Fatal off the test goroutine.
		res.code = -1
		fmt.Fprintf(&errBuf, "cannot run oauthform %s: %v", strings.Join(args, " "), err)
	}
	return outBuf.String(), errBuf.String(), res
}

// badConfigEnviron is the process environment without anything that
// could change what oauthform reads or prints.
func badConfigEnviron() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "OAUTHFORM_") || strings.HasPrefix(kv, "NO_COLOR=") || strings.HasPrefix(kv, "GORACE=")
	})
	return append(env, "NO_COLOR=1", "GORACE=atexit_sleep_ms=0")
}

// checkRun checks how a run ended and that nothing leaked or crashed.
func checkRun(bad func(string, ...any), what string, res runResult, out string) {
	switch {
	case !res.finished:
		bad("%s did not finish in time (killed: %v)", what, res.err)
	case res.code != command.ExitError:
		kind := "exit status " + strconv.Itoa(res.code)
		if res.code == 2 || res.code < 0 {
			kind = "crash: " + kind // a Go panic or fatal error exits 2
		}
		bad("%s: %s, want %d:\n%s", what, kind, command.ExitError, clip(out))
	}
	for _, s := range []string{"panic", "goroutine ", "fatal error", "runtime error"} {
		if strings.Contains(out, s) {
			bad("%s: crash: output contains %q:\n%s", what, s, clip(out))
		}
	}
	if strings.Contains(out, secretMarker) {
		bad("%s: secret marker %s printed:\n%s", what, secretMarker, clip(out))
	}
}

// checkJSON checks the -json document.
func checkJSON(bad func(string, ...any), c badConfig, stdout string) {
	var doc struct {
		FormatVersion string             `json:"format_version"`
		Valid         *bool              `json:"valid"`
		ErrorCount    int                `json:"error_count"`
		WarningCount  int                `json:"warning_count"`
		Diagnostics   []views.Diagnostic `json:"diagnostics"`
		// DiagnosticsOmitted counts those left out of Diagnostics.
		DiagnosticsOmitted int `json:"diagnostics_omitted"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		bad("validate -json: stdout is not one JSON document (%v):\n%s", err, clip(stdout))
		return
	}
	if doc.FormatVersion == "" || doc.Valid == nil || *doc.Valid {
		bad("validate -json: format_version %q, valid %v: want a version and valid false", doc.FormatVersion, doc.Valid)
	}
	if len(stdout) > maxBadConfigOutput {
		bad("validate -json: %d bytes of output, want at most %d", len(stdout), maxBadConfigOutput)
	}
	if len(doc.Diagnostics) > views.MaxShownDiags || doc.DiagnosticsOmitted < 0 || (doc.DiagnosticsOmitted > 0 && len(doc.Diagnostics) != views.MaxShownDiags) {
		bad("validate -json: %d diagnostics and diagnostics_omitted %d: want at most %d, and exactly %d when some are left out",
			len(doc.Diagnostics), doc.DiagnosticsOmitted, views.MaxShownDiags, views.MaxShownDiags)
	}
	errs, warns, found := 0, 0, false
	for _, d := range doc.Diagnostics {
		if d.Severity != "error" {
			warns++
			continue
		}
		errs++
		if c.nopos == "" && (d.Range == nil || d.Range.Filename == "" || d.Range.Start.Line < 1) {
			bad("validate -json: error %q has no position (range %+v)", d.Summary, d.Range)
		}
		if !strings.Contains(d.Summary, c.summary) || !strings.Contains(d.Detail, c.detail) {
			continue
		}
		switch {
		case c.nopos != "":
			found = true
			if d.Range != nil {
				bad("validate -json: %q now has a position %s:%d: update the case (nopos: %s)",
					d.Summary, d.Range.Filename, d.Range.Start.Line, c.nopos)
			}
		case d.Range != nil && d.Range.Filename == c.file && (c.line == 0 || d.Range.Start.Line == c.line):
			found = true
		}
	}
	switch {
	case errs == 0 || doc.ErrorCount < errs || (doc.DiagnosticsOmitted == 0 && doc.ErrorCount != errs):
		bad("validate -json: error_count %d, %d error diagnostics (%d omitted): want the same, at least 1", doc.ErrorCount, errs, doc.DiagnosticsOmitted)
	case doc.ErrorCount+doc.WarningCount != errs+warns+doc.DiagnosticsOmitted:
		bad("validate -json: error_count %d + warning_count %d != %d diagnostics + %d omitted",
			doc.ErrorCount, doc.WarningCount, errs+warns, doc.DiagnosticsOmitted)
	}
	if !found {
		bad("validate -json: no error with summary %q, detail %q on %s:\n%s", c.summary, c.detail, c.where(), clip(stdout))
	}
}

var (
	diagHeadRE  = regexp.MustCompile(`(?m)^(Error|Warning): `)
	diagCountRE = regexp.MustCompile(`(?m)^(\d+) error\(s\), (\d+) warning\(s\)\.$`)
	moreRE      = regexp.MustCompile(`(?m)^\.\.\. and (\d+) more \(`)
	snippetRE   = regexp.MustCompile(`(?m)^  +\d+: (.*)$`)
)

// checkHumanBounds checks that the human output is bounded: at most
// views.MaxShownDiags diagnostics and then a line with the exact number left out,
// snippets at most views.MaxSnippetCols wide, valid UTF-8, and its size.
func checkHumanBounds(bad func(string, ...any), stdout, stderr string) {
	if n := len(stdout) + len(stderr); n > maxBadConfigOutput {
		bad("validate: %d bytes of output, want at most %d", n, maxBadConfigOutput)
	}
	if !utf8.ValidString(stderr) {
		bad("validate: stderr is not valid UTF-8 (raw bytes of the file, or a rune split by a cut):\n%s", clip(stderr))
	}
	shown := len(diagHeadRE.FindAllString(stderr, -1))
	total := -1
	if m := diagCountRE.FindStringSubmatch(stderr); m != nil {
		errs, _ := strconv.Atoi(m[1])
		warns, _ := strconv.Atoi(m[2])
		total = errs + warns
	}
	more := -1
	if m := moreRE.FindStringSubmatch(stderr); m != nil {
		more, _ = strconv.Atoi(m[1])
	}
	switch {
	case total < 0:
		bad("validate: no \"N error(s), M warning(s).\" line:\n%s", clip(stderr))
	case total > views.MaxShownDiags && (shown != views.MaxShownDiags || more != total-views.MaxShownDiags):
		bad("validate: %d diagnostics, %d printed, \"... and N more\" says %d: want %d printed and %d more", total, shown, more, views.MaxShownDiags, total-views.MaxShownDiags)
	case total <= views.MaxShownDiags && (shown != total || more >= 0):
		bad("validate: %d diagnostics, %d printed, \"... and N more\" says %d: want all printed and no such line", total, shown, more)
	}
	for _, m := range snippetRE.FindAllStringSubmatch(stderr, -1) {
		if n := utf8.RuneCountInString(m[1]); n > views.MaxSnippetCols {
			bad("validate: a snippet line is %d columns wide, want at most %d: %s", n, views.MaxSnippetCols, clip(m[1]))
			break
		}
	}
}

// humanDiags splits the human output into diagnostics, each starting with
// its "Error: " or "Warning: " line.
func humanDiags(stderr string) []string {
	var out []string
	for _, part := range strings.Split("\n"+stderr, "\nError: ")[1:] {
		out = append(out, "Error: "+part)
	}
	return out
}

// diagHeaderRE matches an error diagnostic with c's summary on c's
// position, as writeDiag prints it: "Error: SUMMARY" then
// "  on FILE:LINE:COL[, in CONTEXT]:".
func diagHeaderRE(c badConfig) *regexp.Regexp {
	line := `\d+`
	if c.line > 0 {
		line = strconv.Itoa(c.line)
	}
	return regexp.MustCompile(`^Error: [^\n]*` + regexp.QuoteMeta(c.summary) + `[^\n]*\n\n  on ` +
		regexp.QuoteMeta(c.file) + `:` + line + `:\d+(, in [^\n]*)?:\n`)
}

func (c badConfig) where() string {
	switch {
	case c.nopos != "":
		return "no position (" + c.nopos + ")"
	case c.line == 0:
		return c.file + ":<any line>"
	}
	return c.file + ":" + strconv.Itoa(c.line)
}

// clip shortens output for failure messages (a huge file's snippet).
func clip(s string) string {
	const limit = 4000
	if len(s) > limit {
		return s[:limit] + fmt.Sprintf("\n… (%d more bytes)", len(s)-limit)
	}
	return s
}

// loadBadConfigs reads testdata/badconfig/*.txtar.
func loadBadConfigs(t *testing.T) []badConfig {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "badconfig", "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no cases in testdata/badconfig (%v)", err)
	}
	var cases []badConfig
	for _, path := range paths {
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".txtar")
		// "NNN-name": the number only orders the files.
		if _, rest, ok := strings.Cut(name, "-"); ok {
			name = rest
		}
		c := badConfig{name: name}
		for _, line := range strings.Split(string(ar.Comment), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if strings.HasPrefix(line, "#") {
				c.desc = strings.TrimSpace(c.desc + " " + strings.TrimPrefix(line, "#"))
				continue
			}
			key, val, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("%s: bad header line %q", path, line)
			}
			val = strings.TrimSpace(val)
			switch key {
			case "summary":
				c.summary = val
			case "detail":
				c.detail = val
			case "pos":
				file, num, ok := strings.Cut(val, ":")
				n, err := strconv.Atoi(num)
				if !ok || err != nil || n < 1 {
					t.Fatalf("%s: pos %q is not FILE:LINE", path, val)
				}
				c.file, c.line = file, n
			case "nopos":
				c.nopos = val
			case "env":
				c.env = append(c.env, val)
			case "arg":
				c.args = append(c.args, val)
			default:
				t.Fatalf("%s: unknown header %q", path, key)
			}
		}
		if (c.file == "") == (c.nopos == "") {
			t.Fatalf("%s: give exactly one of pos and nopos", path)
		}
		c.write = func(t *testing.T, dir string) {
			if err := txtar.Write(ar, dir); err != nil {
				t.Fatal(err)
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// writeFiles returns a write func that creates the given files.
func writeFiles(files map[string][]byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// badConfigBase is a valid start for generated cases (13 lines, holding
// the secret marker); lines after it start at 14.
const badConfigBase = `variable "secret" {
  type      = string
  sensitive = true
  default   = "SENSITIVE-MARKER-42"
}

app "sms" {
  provider      = "sms77"
  client_id     = "sms-client"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

`

// randomBytes returns n bytes from a fixed seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// generatedBadConfigs are the cases whose files are made at run time.
func generatedBadConfigs(t *testing.T) []badConfig {
	t.Helper()
	mainFile := func(src string) func(*testing.T, string) {
		return writeFiles(map[string][]byte{"main.oauth.hcl": []byte(src)})
	}
	lines := func(s string) int { return strings.Count(s, "\n") + 1 }
	var cases []badConfig

	// Bytes a text file in the repository should not hold.
	cases = append(cases,
		badConfig{name: "gen-invalid-utf8", desc: "Latin-1 bytes in a string",
			summary: "Invalid character encoding", file: "main.oauth.hcl", line: 16,
			write: mainFile(badConfigBase + "connection \"main\" {\n  app = app.sms\n  scopes = [\"sms\", \"caf\xe9\xff\"]\n}\n")},
		badConfig{name: "gen-nul-bytes", desc: "NUL bytes after an argument",
			summary: "Invalid character", file: "main.oauth.hcl", line: 15,
			write: mainFile(badConfigBase + "connection \"main\" {\n  app = app.sms\x00\x00\n}\n")},
		badConfig{name: "gen-utf16", desc: "a configuration saved as UTF-16 with a byte order mark",
			summary: "", file: "main.oauth.hcl",
			write: func(t *testing.T, dir string) {
				src := []byte{0xff, 0xfe}
				for _, r := range badConfigBase {
					src = append(src, byte(r), 0)
				}
				writeFiles(map[string][]byte{"main.oauth.hcl": src})(t, dir)
			}},
		badConfig{name: "gen-gzip", desc: "a gzip-compressed configuration",
			summary: "", file: "main.oauth.hcl",
			write: func(t *testing.T, dir string) {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				_, _ = zw.Write([]byte(badConfigBase))
				if err := zw.Close(); err != nil {
					t.Fatal(err)
				}
				writeFiles(map[string][]byte{"main.oauth.hcl": buf.Bytes()})(t, dir)
			}},
	)
	// Random bytes, deterministic seeds: any error on any line will do.
	for i, n := range []int{16, 1 << 10, 16 << 10} {
		seed := uint64(i + 1)
		cases = append(cases, badConfig{
			name: fmt.Sprintf("gen-binary-garbage-%d", i+1), desc: fmt.Sprintf("%d random bytes (seed %d)", n, seed),
			summary: "", file: "main.oauth.hcl",
			write: writeFiles(map[string][]byte{"main.oauth.hcl": randomBytes(seed, n)}),
		})
	}
	cases = append(cases, badConfig{
		name: "gen-garbage-after-valid", desc: "a valid configuration followed by 4 KiB of random bytes",
		summary: "", file: "main.oauth.hcl",
		write: writeFiles(map[string][]byte{"main.oauth.hcl": append([]byte(badConfigBase), randomBytes(7, 4<<10)...)}),
	})

	// Huge files. Under -race the child lexes about a megabyte a second,
	// so every run gets the 1 MiB versions and the full-size ones (5 MiB,
	// 100,000 blocks) run with OAUTHFORM_TEST_HEAVY=1.
	heavy := os.Getenv(heavyEnv) != ""
	heavySkip := func(c badConfig, why string) badConfig {
		if !heavy {
			c.skip = "set " + heavyEnv + "=1 to run this case (" + why + ")"
		}
		return c
	}
	hugeComments := func(name string, size int) badConfig {
		var b strings.Builder
		b.WriteString(badConfigBase)
		comment := "# " + strings.Repeat("padding ", 9) + "\n"
		for b.Len() < size {
			b.WriteString(comment)
		}
		head := b.String()
		b.WriteString("connection \"main\" {\n  app = app.sms\n")
		return badConfig{
			name: name, desc: fmt.Sprintf("%d KiB of comments, then a block that is never closed", size>>10),
			summary: "Unclosed configuration block", file: "main.oauth.hcl", line: lines(head),
			write: mainFile(b.String()),
		}
	}
	longLine := func(name string, size int) badConfig {
		src := badConfigBase + "app \"big\" {\n  provider      = \"sms77\"\n  client_id     = \"" + strings.Repeat("x", size) +
			"\"\n  client_secret = var.secret\n  redirect_uri  = \"ftp://127.0.0.1/callback\"\n}\n"
		return badConfig{
			name: name, desc: fmt.Sprintf("a %d KiB client_id on one line, then a bad redirect_uri", size>>10),
			summary: "Invalid redirect_uri", file: "main.oauth.hcl", line: 18,
			write: mainFile(src),
		}
	}
	manyConnections := func(name string, n int) badConfig {
		var b strings.Builder
		b.WriteString(badConfigBase)
		for i := range n {
			fmt.Fprintf(&b, "connection \"c%d\" {\n  app    = app.sms\n  scopes = [\"sms\", \"analytics\"]\n}\n\n", i)
		}
		head := b.String()
		b.WriteString("connection \"last\" {\n  app = app.smss\n}\n")
		return badConfig{
			name: name, desc: fmt.Sprintf("%d valid connections, then one naming an undeclared app", n),
			summary: "Reference to undeclared app", detail: "Did you mean app.sms?", file: "main.oauth.hcl", line: lines(head) + 1,
			write: mainFile(b.String()),
		}
	}
	cases = append(cases,
		hugeComments("gen-huge-1mb-unclosed", 1<<20),
		heavySkip(hugeComments("gen-huge-5mb-unclosed", 5<<20), "5 MiB, tens of seconds under -race"),
		longLine("gen-huge-256kb-line", 256<<10),
		heavySkip(longLine("gen-huge-1mb-line", 1<<20), "tens of seconds under -race"),
		manyConnections("gen-many-connections", 1000),
		heavySkip(manyConnections("gen-100k-connections", 100_000), "5.7 MB, about 10 s without -race"),
	)
	// Binary files are refused at their first NUL or non-UTF-8 byte with
	// one diagnostic (the lexer gave one every 28 random bytes: 1.7
	// million for 50 MB); files over config.MaxConfigSize are refused
	// unread.
	cases = append(cases,
		badConfig{
			name: "gen-binary-garbage-1mb", desc: "1 MiB of random bytes (seed 4)",
			summary: "Invalid character", file: "main.oauth.hcl", line: 1, timeout: 30 * time.Second,
			write: writeFiles(map[string][]byte{"main.oauth.hcl": randomBytes(4, 1<<20)}),
		},
		badConfig{
			name: "gen-binary-garbage-9.9mb", desc: "9.9 MiB of random bytes (seed 5), just under the size limit",
			summary: "Invalid character", file: "main.oauth.hcl", line: 1, timeout: 30 * time.Second,
			write: writeFiles(map[string][]byte{"main.oauth.hcl": randomBytes(5, config.MaxConfigSize/100*99)}),
		},
		badConfig{
			name: "gen-too-large-50mb", desc: "a 50 MB file (sparse: its size alone refuses it)",
			summary: "Configuration file too large", detail: "main.oauth.hcl is 50 MB (52428800 bytes); oauthform refuses configuration files over 10 MB",
			file: "main.oauth.hcl", line: 1, timeout: 30 * time.Second,
			write: func(t *testing.T, dir string) {
				f, err := os.Create(filepath.Join(dir, "main.oauth.hcl"))
				if err == nil {
					err = errors.Join(f.Truncate(50<<20), f.Close())
				}
				if err != nil {
					t.Fatal(err)
				}
			},
		},
		badConfig{
			name: "gen-too-large-by-one-byte", desc: "a valid configuration padded with spaces to one byte over 10 MB",
			summary: "Configuration file too large", detail: "(10485761 bytes); oauthform refuses configuration files over 10 MB (10485760 bytes)",
			file: "main.oauth.hcl", line: 1, timeout: 30 * time.Second,
			write: mainFile(badConfigBase + strings.Repeat(" ", config.MaxConfigSize+1-len(badConfigBase))),
		},
		badConfig{
			name: "gen-too-large-together", desc: "four files of 9 MB (a valid configuration padded with spaces): the fourth is refused",
			summary: "Configuration too large", detail: "d.oauth.hcl (9 MB) would take the configuration over 32 MB",
			file: "d.oauth.hcl", line: 1, timeout: 30 * time.Second,
			write: writeFiles(map[string][]byte{
				"a.oauth.hcl": []byte(badConfigBase + strings.Repeat(" ", 9<<20-len(badConfigBase))),
				"b.oauth.hcl": []byte("connection \"main\" {\n  app = app.sms\n}\n" + strings.Repeat(" ", 9<<20-36)),
				"c.oauth.hcl": []byte("connection \"more\" {\n  app = app.sms\n}\n" + strings.Repeat(" ", 9<<20-36)),
				"d.oauth.hcl": []byte(strings.Repeat(" ", 9<<20-1) + "\n"),
			}),
		},
	)
	// Many diagnostics in a small file: 100 are printed, then "... and N
	// more"; warnings do not crowd out the errors.
	{
		var b strings.Builder
		b.WriteString(badConfigBase)
		for i := range 500 {
			fmt.Fprintf(&b, "connection \"c%d\" {\n  app = app.nothere\n}\n", i)
		}
		cases = append(cases, badConfig{
			name: "gen-500-errors", desc: "500 connections naming an undeclared app: 100 errors printed, then \"... and 400 more\"",
			summary: "Reference to undeclared app", file: "main.oauth.hcl", line: 15,
			write: mainFile(b.String()),
		})
		b.Reset()
		b.WriteString(badConfigBase)
		for i := range 150 {
			fmt.Fprintf(&b, "connection \"c%d\" {\n  app    = app.sms\n  scopes = [\"sms\", \"sms\"]\n}\n", i)
		}
		head := b.String()
		b.WriteString("connection \"last\" {\n  app = app.smss\n}\n")
		cases = append(cases, badConfig{
			name: "gen-150-warnings-then-error", desc: "150 duplicate-scope warnings, then an undeclared app: the error is among the 100 printed",
			summary: "Reference to undeclared app", file: "main.oauth.hcl", line: lines(head) + 1,
			write: mainFile(b.String()),
		})
	}
	// A long line with the error in it: the snippet is cut around the
	// error, between runes; the detail quoting the 60,000-character scope
	// is cut too.
	cases = append(cases, badConfig{
		name: "gen-long-line-snippet", desc: "an unknown 60,000-character scope (é, two bytes each) on one line",
		summary: "Unknown scope", file: "main.oauth.hcl", line: 16,
		write: mainFile(badConfigBase + "connection \"main\" {\n  app    = app.sms\n  scopes = [\"sms\", \"" + strings.Repeat("é", 60_000) + "\", \"sms\"]\n}\n"),
	})
	{
		const depth = 100_000
		src := badConfigBase + "connection \"main\" {\n  app    = app.sms\n  scopes = " +
			strings.Repeat("(", depth) + "1" + strings.Repeat(")", depth) + "\n}\n"
		// Refused before parsing: the parser's recursion would overflow
		// the stack.
		cases = append(cases, badConfig{
			name: "gen-deep-nesting", desc: "100,000 nested parentheses (a 200 KB file)",
			summary: "Nesting too deep", file: "main.oauth.hcl", line: 16,
			write: mainFile(src),
		})
	}

	// Files that are not regular readable files.
	cases = append(cases,
		badConfig{name: "gen-symlink-loop", desc: "main.oauth.hcl is a symbolic link to itself. The file cannot be read, so there is no line to point at.",
			summary: "Failed to read file", detail: "main.oauth.hcl", nopos: "the file cannot be read",
			write: func(t *testing.T, dir string) {
				if err := os.Symlink("main.oauth.hcl", filepath.Join(dir, "main.oauth.hcl")); err != nil {
					t.Fatal(err)
				}
			}},
		badConfig{name: "gen-dangling-symlink", desc: "main.oauth.hcl is a symbolic link to nothing. The file cannot be read, so there is no line to point at.",
			summary: "Failed to read file", detail: "main.oauth.hcl", nopos: "the file cannot be read",
			write: func(t *testing.T, dir string) {
				if err := os.Symlink("gone.hcl", filepath.Join(dir, "main.oauth.hcl")); err != nil {
					t.Fatal(err)
				}
			}},
		badConfig{name: "gen-fifo", desc: "main.oauth.hcl is a named pipe nobody writes to",
			summary: "Failed to read file", detail: "not a regular file", nopos: "the file cannot be read", timeout: 10 * time.Second,
			write: func(t *testing.T, dir string) {
				if err := mkfifo(filepath.Join(dir, "main.oauth.hcl")); err != nil {
					t.Fatal(err)
				}
			}},
	)
	unreadable := badConfig{name: "gen-unreadable", desc: "main.oauth.hcl has mode 000. The file cannot be read, so there is no line to point at.",
		summary: "Failed to read file", detail: "permission denied", nopos: "the file cannot be read",
		write: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "main.oauth.hcl")
			writeFiles(map[string][]byte{"main.oauth.hcl": []byte(badConfigBase)})(t, dir)
			if err := os.Chmod(p, 0); err != nil {
				t.Fatal(err)
			}
		}}
	if os.Geteuid() == 0 {
		// root reads a mode-000 file anyway: the case would be valid.
		unreadable.skip = "running as root, which can read a mode-000 file"
	}
	cases = append(cases, unreadable)
	return cases
}
