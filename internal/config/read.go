package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// MaxConfigSize bounds a configuration file: no *.oauth.hcl file may be
// larger. The bound keeps a stray binary, log or generated file from
// taking minutes and gigabytes in the HCL lexer, which needs about 100
// bytes of memory per token.
const MaxConfigSize = 10 << 20

// MaxConfigTotal bounds all *.oauth.hcl files together. The largest real
// configurations are split over many files: 100,000 connections, as
// `oauthform fmt` aligns them, take about 11 MB.
const MaxConfigTotal = 32 << 20

// readSources reads the files of paths in order into sources, refusing
// what is not a regular file and what does not fit in MaxConfigSize.
// Sizes are checked before reading (stat), and the read itself stops one
// byte past the budget, in case a file grows meanwhile. No file may hold
// more than MaxConfigSize, nor all together more than MaxConfigTotal.
func readSources(paths []string) []source {
	srcs := make([]source, len(paths))
	total, read := 0, 0 // bytes and number of the files read so far
	for i, p := range paths {
		srcs[i].name = p
		budget := MaxConfigTotal - total
		src, size, err := readLimited(p, min(budget, MaxConfigSize))
		switch {
		case err != nil:
			srcs[i].err = err
		case size > MaxConfigSize:
			srcs[i].refused = tooLarge(p, size)
		case size > int64(budget):
			srcs[i].refused = totalTooLarge(p, size, total, read)
		default:
			srcs[i].src = src
			total += len(src)
			read++
		}
	}
	return srcs
}

// readLimited reads the regular file at path when it holds at most limit
// bytes. Otherwise it returns no content and the file's size (at least
// limit+1 when it grew while being read).
func readLimited(path string, limit int) (src []byte, size int64, err error) {
	// Stat before opening: opening a named pipe or a device called
	// *.oauth.hcl could block, and reading it would never end.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if err := checkRegular(fi); err != nil {
		return nil, 0, err
	}
	if fi.Size() > int64(limit) {
		return nil, fi.Size(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	// The file may have been replaced between Stat and Open.
	if fi, err = f.Stat(); err != nil {
		return nil, 0, fmt.Errorf("cannot stat the open file: %w", err)
	}
	if err := checkRegular(fi); err != nil {
		return nil, 0, err
	}
	if fi.Size() > int64(limit) {
		return nil, fi.Size(), nil
	}
	return readAtMost(f, fi.Size(), limit)
}

// readAtMost reads r, whose size was found to be size, when it holds at
// most limit bytes; like readLimited otherwise. It reads one byte past
// limit at most, however much r holds (it may have grown since).
func readAtMost(r io.Reader, size int64, limit int) ([]byte, int64, error) {
	buf := bytes.NewBuffer(make([]byte, 0, min(size, int64(limit))+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1)); err != nil {
		return nil, 0, err
	}
	if buf.Len() > limit {
		return nil, max(size, int64(buf.Len())), nil
	}
	return buf.Bytes(), int64(buf.Len()), nil
}

// readAny reads the file at path whatever kind it is -- a -var-file or
// file() may name a pipe, such as bash's <(command) -- but not past
// MaxConfigSize: file("/dev/zero") must not take all memory.
func readAny(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	if size > MaxConfigSize {
		return nil, fmt.Errorf("it is %s (%d bytes), over the %s limit", megabytes(size), size, megabytes(MaxConfigSize))
	}
	src, n, err := readAtMost(f, size, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if n > MaxConfigSize {
		return nil, fmt.Errorf("it holds more than %s, the limit", megabytes(MaxConfigSize))
	}
	return src, nil
}

func checkRegular(fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("it is not a regular file (%s)", fi.Mode().Type())
	}
	return nil
}

// fileStart is the range of a file's first character, where diagnostics
// about the whole file point.
func fileStart(name string) hcl.Range {
	start := hcl.Pos{Line: 1, Column: 1}
	return hcl.Range{Filename: name, Start: start, End: start}
}

// megabytes formats a size for people: "10 MB", "52.4 MB".
func megabytes(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// notConfigHint ends the diagnostics about files that look like anything
// but a configuration.
const notConfigHint = "If it is not a configuration file, move it out of the directory or rename it so that its name does not end in " + FileSuffix + "."

func tooLarge(name string, size int64) *hcl.Diagnostic {
	return errorAt(fileStart(name), "Configuration file too large",
		"%s is %s (%d bytes); oauthform refuses configuration files over %s (%d bytes), far more than any configuration needs, and did not read it. %s",
		filepath.Base(name), megabytes(size), size, megabytes(MaxConfigSize), MaxConfigSize, notConfigHint)
}

func totalTooLarge(name string, size int64, before, files int) *hcl.Diagnostic {
	prev := fmt.Sprintf("the %d files read before it hold %s", files, megabytes(int64(before)))
	if files == 1 {
		prev = "the file read before it holds " + megabytes(int64(before))
	}
	return errorAt(fileStart(name), "Configuration too large",
		"%s (%s) would take the configuration over %s, the limit for all *%s files together (%s), so oauthform did not read it. Move the files that are not configuration out of the directory.",
		filepath.Base(name), megabytes(size), megabytes(MaxConfigTotal), FileSuffix, prev)
}

// notText returns an error diagnostic on the first NUL byte or invalid
// UTF-8 sequence of src, or nil when src is UTF-8 text. HCL requires
// UTF-8, and a binary file would otherwise make the lexer produce a
// diagnostic every few bytes (random bytes: one every 28). kind names
// the files ("Configuration files") and hint ends the detail.
func notText(name string, src []byte, kind, hint string) *hcl.Diagnostic {
	nul := bytes.IndexByte(src, 0)
	if nul < 0 && utf8.Valid(src) {
		return nil
	}
	// The first invalid sequence before the NUL (if any).
	bad := -1
	limit := len(src)
	if nul >= 0 {
		limit = nul
	}
	for i := 0; i < limit; {
		r, n := utf8.DecodeRune(src[i:limit])
		if r == utf8.RuneError && n <= 1 {
			bad = i
			break
		}
		i += n
	}
	at, what := nul, "a NUL byte"
	summary := "Invalid character"
	if bad >= 0 {
		at, what = bad, fmt.Sprintf("a byte that is not UTF-8 (0x%02X)", src[bad])
		summary = "Invalid character encoding"
	}
	line := 1 + bytes.Count(src[:at], []byte{'\n'})
	lineStart := bytes.LastIndexByte(src[:at], '\n') + 1
	col := 1 + utf8.RuneCount(src[lineStart:at])
	start := hcl.Pos{Line: line, Column: col, Byte: at}
	end := hcl.Pos{Line: line, Column: col + 1, Byte: at + 1}
	detail := fmt.Sprintf("%s must be UTF-8 text, but %s holds %s at line %d, column %d (byte offset %d); oauthform read no further.",
		kind, filepath.Base(name), what, line, col, at)
	if bad >= 0 && nul < 0 {
		detail += " If it is a configuration, save it as UTF-8 in your editor."
	} else {
		detail += " It looks like binary data (or UTF-16 text, which must be saved as UTF-8)."
	}
	return errorAt(hcl.Range{Filename: name, Start: start, End: end}, summary, "%s %s", detail, hint)
}
