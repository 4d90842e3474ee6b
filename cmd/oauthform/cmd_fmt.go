package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/rogpeppe/go-internal/diff"

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

type fmtArgs struct {
	check, diff, recursive, list bool
	paths                        []string
}

func runFmt(_ context.Context, g *globals, args []string) int {
	a := &fmtArgs{}
	flags := newFlagSet("fmt")
	flags.BoolVar(&a.check, "check", false, "")
	flags.BoolVar(&a.diff, "diff", false, "")
	flags.BoolVar(&a.recursive, "recursive", false, "")
	flags.BoolVar(&a.list, "list", true, "")
	help, diags := parseFlags(flags, args, fmtHelp)
	if help {
		fmt.Fprint(g.streams.Out, fmtHelp)
		return exitOK
	}
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	a.paths = flags.Args()
	if len(a.paths) == 0 {
		a.paths = []string{"."}
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
		src, rdiags, err := config.ReadFile(path)
		if err != nil {
			diags = append(diags, wrapErr("Cannot read "+path, err)...)
			continue
		}
		if rdiags != nil {
			diags = append(diags, rdiags...)
			continue
		}
		out, fdiags := config.Format(src, path)
		diags = append(diags, fdiags...)
		if fdiags.HasErrors() {
			parsed[path] = &hcl.File{Bytes: src}
			continue
		}
		if bytes.Equal(src, out) {
			continue
		}
		unformatted++
		if a.list {
			fmt.Fprintln(g.streams.Out, path)
		}
		if a.diff {
			g.streams.Out.Write(diff.Diff("old/"+path, src, "new/"+path, out))
		}
		if !a.check {
			if err := writeFileKeepMode(path, out); err != nil {
				diags = append(diags, wrapErr("Cannot write "+path, err)...)
			}
		}
	}
	writeDiags(g, g.streams.Err, parsed, diags)
	if diags.HasErrors() {
		return exitError
	}
	if a.check && unformatted > 0 {
		fmt.Fprintf(g.streams.Err, "%d file(s) are not formatted; run \"oauthform fmt\" to fix them.\n", unformatted)
		return exitError
	}
	return exitOK
}

func fmtStdin(g *globals, a *fmtArgs) int {
	// One byte past the limit at most: Format refuses that.
	src, err := io.ReadAll(io.LimitReader(g.streams.In, config.MaxConfigSize+1))
	if err != nil {
		writeDiags(g, g.streams.Err, nil, wrapErr("Cannot read standard input", err))
		return exitError
	}
	out, diags := config.Format(src, "<stdin>")
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, map[string]*hcl.File{"<stdin>": {Bytes: src}}, diags)
		return exitError
	}
	switch {
	case a.diff:
		g.streams.Out.Write(diff.Diff("old/<stdin>", src, "new/<stdin>", out))
	case !a.check:
		g.streams.Out.Write(out)
	}
	if a.check && !bytes.Equal(src, out) {
		return exitError
	}
	return exitOK
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
