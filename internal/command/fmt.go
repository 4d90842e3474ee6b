package command

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
)

const fmtHelp = `Usage: oauthform fmt [options] [PATH...]

Rewrite *.oauth.hcl files in canonical form. PATH may be a file or a
directory (default: the current directory); "-" reads standard input and
writes the result to standard output. The names of changed files are listed.

Options:
  -check      Change nothing; exit 1 if any file is not formatted.
  -diff       Print the differences.
  -list=false Do not list changed files.
  -recursive  Also format files in subdirectories.
`

// fmtArgs are the arguments of `oauthform fmt`.
type fmtArgs struct {
	check, diff, recursive, list bool
	paths                        []string
}

func parseFmtArgs(args []string) (*fmtArgs, bool, hcl.Diagnostics) {
	a := &fmtArgs{}
	fs := newFlagSet("fmt")
	fs.BoolVar(&a.check, "check", false, "")
	fs.BoolVar(&a.diff, "diff", false, "")
	fs.BoolVar(&a.recursive, "recursive", false, "")
	fs.BoolVar(&a.list, "list", true, "")
	help, diags := parseFlags(fs, args, fmtHelp)
	a.paths = fs.Args()
	if len(a.paths) == 0 {
		a.paths = []string{"."}
	}
	return a, help, diags
}

func runFmt(_ context.Context, g *globals, args []string) int {
	a, help, diags := parseFmtArgs(args)
	if code, done := g.parsed(fmtHelp, help, diags); done {
		return code
	}
	if len(a.paths) == 1 && a.paths[0] == "-" {
		return fmtStdin(g, a)
	}
	var targets []string
	for _, p := range a.paths {
		found, err := fmtFiles(p, a.recursive)
		if err != nil {
			diags = append(diags, wrapErr("Cannot format "+p, err)...)
			continue
		}
		targets = append(targets, found...)
	}
	unformatted := 0
	parsed := map[string]*hcl.File{}
	for _, path := range targets {
		changed, fdiags := fmtFile(g, a, path, parsed)
		diags = append(diags, fdiags...)
		if changed {
			unformatted++
		}
	}
	g.view.Diagnostics(parsed, diags)
	if diags.HasErrors() {
		return ExitError
	}
	if a.check && unformatted > 0 {
		g.view.FmtUnformatted(unformatted)
		return ExitError
	}
	return ExitOK
}

// fmtFile formats one file, unless -check, and reports whether it was not
// formatted. A file that does not parse is kept in parsed for snippets.
func fmtFile(g *globals, a *fmtArgs, path string, parsed map[string]*hcl.File) (bool, hcl.Diagnostics) {
	src, rdiags, err := config.ReadFile(path)
	if err != nil {
		return false, wrapErr("Cannot read "+path, err)
	}
	if rdiags != nil {
		return false, rdiags
	}
	out, diags := config.Format(src, path)
	if diags.HasErrors() {
		parsed[path] = &hcl.File{Bytes: src}
		return false, diags
	}
	if bytes.Equal(src, out) {
		return false, diags
	}
	g.view.FmtChanged(path, a.list, a.diff, src, out)
	if !a.check {
		if err := writeFileKeepMode(path, out); err != nil {
			diags = append(diags, wrapErr("Cannot write "+path, err)...)
		}
	}
	return true, diags
}

func fmtStdin(g *globals, a *fmtArgs) int {
	// One byte past the limit at most: Format refuses that.
	src, err := io.ReadAll(io.LimitReader(g.streams.In, config.MaxConfigSize+1))
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Cannot read standard input", err))
		return ExitError
	}
	out, diags := config.Format(src, "<stdin>")
	if g.failed(map[string]*hcl.File{"<stdin>": {Bytes: src}}, diags) {
		return ExitError
	}
	g.view.FmtStdin(src, out, a.diff, a.check)
	if a.check && !bytes.Equal(src, out) {
		return ExitError
	}
	return ExitOK
}

// fmtFiles lists the configuration files at path: the file itself, or the
// *.oauth.hcl files of a directory (and its subdirectories with recursive,
// skipping hidden folders such as .oauthform and .git).
func fmtFiles(path string, recursive bool) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), config.FileSuffix) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// writeFileKeepMode replaces path's content atomically, keeping its mode.
func writeFileKeepMode(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fmt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
