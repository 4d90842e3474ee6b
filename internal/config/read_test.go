package config

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// writeSpaces writes a file of n spaces: HCL lexes whitespace without
// tokens, so even over MaxConfigSize such a file is cheap to load when it
// is (wrongly) read.
func writeSpaces(t *testing.T, dir, name string, n int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{' '}, n), 0o600); err != nil {
		t.Fatal(err)
	}
}

// onlyDiag returns the only diagnostic of diags, failing otherwise.
func onlyDiag(t *testing.T, cfg *Config, diags hcl.Diagnostics) *hcl.Diagnostic {
	t.Helper()
	if len(diags) != 1 {
		t.Fatalf("want exactly one diagnostic, got %d:\n%s", len(diags), clipped(renderDiags(cfg, diags)))
	}
	return diags[0]
}

func clipped(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

func wantFileDiag(t *testing.T, d *hcl.Diagnostic, summary, file string, line, col int, details ...string) {
	t.Helper()
	if d.Severity != hcl.DiagError || d.Summary != summary {
		t.Errorf("got %v %q, want error %q", d.Severity, d.Summary, summary)
	}
	if d.Subject == nil || d.Subject.Filename != file || d.Subject.Start.Line != line || d.Subject.Start.Column != col {
		t.Errorf("subject %v, want %s:%d:%d", d.Subject, file, line, col)
	}
	for _, s := range details {
		if !strings.Contains(d.Detail, s) {
			t.Errorf("detail %q lacks %q", d.Detail, s)
		}
	}
}

// TestLoadRefusesLargeFile: a file one byte over MaxConfigSize is refused
// unread, with one diagnostic on its first line that names the file and
// the limit and says what to do; a file of exactly MaxConfigSize is read.
func TestLoadRefusesLargeFile(t *testing.T) {
	dir := t.TempDir()
	writeSpaces(t, dir, "big.oauth.hcl", MaxConfigSize+1)
	cfg, diags := Load(dir, testInputs())
	d := onlyDiag(t, cfg, diags)
	wantFileDiag(t, d, "Configuration file too large", filepath.Join(dir, "big.oauth.hcl"), 1, 1,
		"big.oauth.hcl is 10.0 MB (10485761 bytes)", "over 10 MB (10485760 bytes)", "did not read it",
		"rename it so that its name does not end in .oauth.hcl")
	if f := cfg.Files()[d.Subject.Filename]; f != nil {
		t.Errorf("the refused file was kept for snippets (%d bytes)", len(f.Bytes))
	}

	// A sparse file: its size alone refuses it, nothing is read.
	sparse := filepath.Join(dir, "big.oauth.hcl")
	if err := os.Truncate(sparse, 50<<20); err != nil {
		t.Fatal(err)
	}
	cfg, diags = Load(dir, testInputs())
	wantFileDiag(t, onlyDiag(t, cfg, diags), "Configuration file too large", sparse, 1, 1, "is 50 MB (52428800 bytes)")

	dir = t.TempDir()
	writeSpaces(t, dir, "edge.oauth.hcl", MaxConfigSize)
	cfg, diags = Load(dir, testInputs())
	wantFileDiag(t, onlyDiag(t, cfg, diags), "Empty configuration file", filepath.Join(dir, "edge.oauth.hcl"), 1, 1)
}

// TestLoadRefusesLargeTotal: files that each fit but together exceed
// MaxConfigTotal: the one that crosses the limit is refused, those before
// it are loaded and a later small one still fits (and is parsed: its
// syntax error is reported).
func TestLoadRefusesLargeTotal(t *testing.T) {
	dir := t.TempDir()
	writeSpaces(t, dir, "a.oauth.hcl", 9<<20)
	writeSpaces(t, dir, "a2.oauth.hcl", 9<<20)
	writeSpaces(t, dir, "a3.oauth.hcl", 9<<20)
	writeSpaces(t, dir, "b.oauth.hcl", 6<<20)
	writeFile(t, dir, "c.oauth.hcl", "x = \n")
	cfg, diags := Load(dir, testInputs())
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary+" @ "+filepath.Base(d.Subject.Filename))
	}
	want := []string{
		"Empty configuration file @ a.oauth.hcl",
		"Empty configuration file @ a2.oauth.hcl",
		"Empty configuration file @ a3.oauth.hcl",
		"Configuration too large @ b.oauth.hcl",
		"Invalid expression @ c.oauth.hcl",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diagnostics:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), clipped(renderDiags(cfg, diags)))
	}
	wantFileDiag(t, diags[3], "Configuration too large", filepath.Join(dir, "b.oauth.hcl"), 1, 1,
		"b.oauth.hcl (6 MB) would take the configuration over 32 MB, the limit for all *.oauth.hcl files together (the 3 files read before it hold 27 MB)")
}

// TestReadLimited reads up to the limit and no further.
func TestReadLimited(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit    int
		wantSrc  string
		wantSize int64
	}{{10, "0123456789", 10}, {100, "0123456789", 10}, {9, "", 10}, {0, "", 10}} {
		src, size, err := readLimited(p, tc.limit)
		if err != nil || string(src) != tc.wantSrc || size != tc.wantSize {
			t.Errorf("readLimited(limit %d) = %q, %d, %v; want %q, %d", tc.limit, src, size, err, tc.wantSrc, tc.wantSize)
		}
	}
	if _, _, err := readLimited(t.TempDir(), 100); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: err %v, want not a regular file", err)
	}

	// A file that grew after its size was taken: the read stops one byte
	// past the limit and refuses it.
	r := &countingReader{r: strings.NewReader(strings.Repeat("x", 1000))}
	src, size, err := readAtMost(r, 5, 10)
	if err != nil || src != nil || size != 11 || r.n > 11 {
		t.Errorf("grown file: %q, size %d, %v, %d bytes read; want nothing, size 11, 11 bytes read", src, size, err, r.n)
	}
	r = &countingReader{r: strings.NewReader("0123456789")}
	if src, size, err := readAtMost(r, 5, 10); string(src) != "0123456789" || size != 10 || err != nil {
		t.Errorf("file grown within the limit: %q, %d, %v", src, size, err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestLoadBinaryFile: a file that is not UTF-8 text gets one diagnostic at
// its first bad byte, however much garbage follows, instead of one every
// few bytes from the lexer.
func TestLoadBinaryFile(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	for _, tc := range []struct {
		name, src      string
		summary        string
		line, col, off int
		detail         string
	}{
		{"latin1-comment", "# caf\xe9\nx = 1\n", "Invalid character encoding", 1, 6, 5, "main.oauth.hcl holds a byte that is not UTF-8 (0xE9) at line 1, column 6 (byte offset 5)"},
		{"latin1-string", "app \"a\" {\n  client_id = \"\u00e9t\xe9\"\n}\n", "Invalid character encoding", 2, 18, 28, "save it as UTF-8"},
		{"nul", "x = 1\n\ny = 2\x00\x00\n", "Invalid character", 3, 6, 12, "main.oauth.hcl holds a NUL byte at line 3, column 6 (byte offset 12)"},
		{"utf16", "\xff\xfev\x00a\x00r\x00", "Invalid character encoding", 1, 1, 0, "UTF-16"},
		{"random", string(random), "", 1, 0, -1, "binary data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "main.oauth.hcl", tc.src)
			cfg, diags := Load(dir, testInputs())
			d := onlyDiag(t, cfg, diags)
			if tc.summary != "" && d.Summary != tc.summary || !strings.HasPrefix(d.Summary, "Invalid character") {
				t.Errorf("summary %q, want %q", d.Summary, tc.summary)
			}
			s := d.Subject
			if s == nil || s.Filename != filepath.Join(dir, "main.oauth.hcl") || s.End.Byte != s.Start.Byte+1 || s.End.Byte > len(tc.src) {
				t.Fatalf("subject %+v: want one byte in the file", s)
			}
			if tc.off >= 0 && (s.Start.Line != tc.line || s.Start.Column != tc.col || s.Start.Byte != tc.off) {
				t.Errorf("at %d:%d (byte %d), want %d:%d (byte %d)", s.Start.Line, s.Start.Column, s.Start.Byte, tc.line, tc.col, tc.off)
			}
			if !strings.Contains(d.Detail, tc.detail) || !strings.Contains(d.Detail, "main.oauth.hcl holds") || !strings.Contains(d.Detail, "must be UTF-8 text") {
				t.Errorf("detail %q lacks %q", d.Detail, tc.detail)
			}
			if f := cfg.Files()[s.Filename]; f != nil {
				t.Errorf("the file's bytes are kept for a snippet: the line may be garbage, or a sensitive value")
			}
		})
	}
}

// sparseFile creates a file of size bytes without writing them.
func sparseFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err == nil {
		err = f.Truncate(size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestFileFuncBounded: file() reads at most MaxConfigSize, from a regular
// file or from a device that never ends.
func TestFileFuncBounded(t *testing.T) {
	dir := t.TempDir()
	sparseFile(t, filepath.Join(dir, "big"), MaxConfigSize+1)
	paths := []string{"big"}
	if _, err := os.Stat("/dev/zero"); err == nil {
		paths = append(paths, "/dev/zero")
	}
	for _, p := range paths {
		writeFile(t, dir, "main.oauth.hcl", `app "a" {
  provider      = "sms77"
  client_id     = "x"
  client_secret = file("`+p+`")
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
`)
		cfg, diags := Load(dir, testInputs())
		d := onlyDiag(t, cfg, diags)
		if d.Subject == nil || d.Subject.Start.Line != 4 || !strings.Contains(d.Detail, "10 MB") {
			t.Errorf("file(%q): %s: %s at %v, want an error on line 4 naming the 10 MB limit", p, d.Summary, d.Detail, d.Subject)
		}
	}
}

// TestVarFileBounded: a -var-file is read like file(), and one that is
// not UTF-8 text gets one diagnostic and no snippet.
func TestVarFileBounded(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "main.oauth.hcl", "variable \"v\" {\n  default = \"x\"\n}\n")
	writeFile(t, dir, "latin1.vars.hcl", "v = \"p\xe4ss\"\n")
	sparseFile(t, filepath.Join(dir, "big.vars.hcl"), MaxConfigSize+1)

	in := testInputs()
	in.VarFiles = []string{filepath.Join(dir, "latin1.vars.hcl")}
	cfg, diags := Load(dir, in)
	d := onlyDiag(t, cfg, diags)
	wantFileDiag(t, d, "Invalid character encoding", in.VarFiles[0], 1, 7,
		"Variables files must be UTF-8 text, but latin1.vars.hcl holds a byte that is not UTF-8 (0xE4)", "-var-file")
	if cfg.Files()[in.VarFiles[0]] != nil {
		t.Errorf("the -var-file is kept for a snippet")
	}

	in.VarFiles = []string{filepath.Join(dir, "big.vars.hcl")}
	cfg, diags = Load(dir, in)
	d = onlyDiag(t, cfg, diags)
	if d.Summary != "Failed to read variables file" || !strings.Contains(d.Detail, "over the 10 MB limit") {
		t.Errorf("%s: %s; want the 10 MB limit", d.Summary, d.Detail)
	}
}
