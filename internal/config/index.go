package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// indexVersion is the version of the Index encoding.
const indexVersion = 1

// Index records where every block of a configuration's files is, so that
// LoadConnection can decode the few blocks one connection needs without
// lexing the rest: at 10,000 connections the lexer is most of a full
// Load's time. Each file is identified by its size and SHA-256: any
// change, addition or removal makes the index unusable, and the caller
// loads the whole configuration (and writes a new index).
type Index struct {
	Version int
	Files   []IndexFile
}

// IndexFile is one configuration file's blocks.
type IndexFile struct {
	Name   string // base name, in the configuration directory
	Size   int
	SHA256 string
	Blocks []IndexBlock
}

// IndexBlock is where one top-level block is in its file.
type IndexBlock struct {
	Type string
	// Name is the block's label ("" for the oauthform block).
	Name string
	// Start and End are byte offsets; Line and Column Start's position.
	Start, End, Line, Column int
}

// NewIndex indexes the files of cfg, which must have loaded without
// errors (nil otherwise).
func NewIndex(cfg *Config) *Index {
	if cfg.index != nil {
		return cfg.index
	}
	idx := &Index{Version: indexVersion}
	names := slices.Sorted(slices.Values(cfg.sources))
	for _, name := range names {
		f := cfg.files[name]
		if f == nil {
			return nil
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok || len(body.Attributes) > 0 {
			return nil
		}
		file := IndexFile{Name: filepath.Base(name), Size: len(f.Bytes), SHA256: sum(f.Bytes)}
		for _, b := range body.Blocks {
			r := b.Range()
			ib := IndexBlock{Type: b.Type, Start: r.Start.Byte, End: r.End.Byte, Line: r.Start.Line, Column: r.Start.Column}
			if len(b.Labels) > 0 {
				ib.Name = b.Labels[0]
			}
			file.Blocks = append(file.Blocks, ib)
		}
		idx.Files = append(idx.Files, file)
	}
	return idx
}

// The index's encoding is text, one record per line, because decoding
// JSON of 10,000 blocks would cost a large part of what the index saves:
//
//	oauthform-config-index 1
//	F SIZE SHA256 NAME
//	B TYPE START END LINE COLUMN [NAME]
//
// B lines belong to the F line before them. Names are HCL identifiers and
// file names in one directory (no newline).
const indexHeader = "oauthform-config-index"

// ReadIndex reads an index written by WriteIndex; nil when there is none
// or it cannot be used.
func ReadIndex(path string) *Index { return readIndex(path, "", false) }

// ReadIndexFor is ReadIndex keeping, of the connection blocks, only
// connection conn's: what LoadConnection needs, read at a fraction of
// the cost at 10,000 connections.
func ReadIndexFor(path, conn string) *Index { return readIndex(path, conn, true) }

func readIndex(path, conn string, only bool) *Index {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	header := fmt.Sprintf("%s %d\n", indexHeader, indexVersion)
	rest, ok := strings.CutPrefix(string(data), header)
	if !ok {
		return nil
	}
	idx := &Index{Version: indexVersion}
	skip := "B " + blockConnection + " "
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if only && strings.HasPrefix(line, skip) && !strings.HasSuffix(line, " "+conn) {
			continue
		}
		if !idx.addLine(line) {
			return nil
		}
	}
	return idx
}

// addLine adds one line of the encoding to idx; false when it is not one.
func (idx *Index) addLine(line string) bool {
	if line == "" {
		return true
	}
	f := strings.SplitN(line, " ", 7)
	switch {
	case f[0] == "F" && len(f) == 4:
		size, err := strconv.Atoi(f[1])
		if err != nil {
			return false
		}
		idx.Files = append(idx.Files, IndexFile{Size: size, SHA256: f[2], Name: f[3]})
	case f[0] == "B" && len(f) >= 6 && len(idx.Files) > 0:
		var n [4]int
		for i := range n {
			var err error
			if n[i], err = strconv.Atoi(f[2+i]); err != nil {
				return false
			}
		}
		b := IndexBlock{Type: f[1], Start: n[0], End: n[1], Line: n[2], Column: n[3]}
		if len(f) == 7 {
			b.Name = f[6]
		}
		last := &idx.Files[len(idx.Files)-1]
		last.Blocks = append(last.Blocks, b)
	default:
		return false
	}
	return true
}

// WriteIndex writes idx to path (0600, replaced atomically).
func WriteIndex(path string, idx *Index) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d\n", indexHeader, indexVersion)
	for _, f := range idx.Files {
		if strings.ContainsAny(f.Name, " \n") {
			return fmt.Errorf("writing the configuration index: file name %q has a space or newline", f.Name)
		}
		fmt.Fprintf(&b, "F %d %s %s\n", f.Size, f.SHA256, f.Name)
		for _, bl := range f.Blocks {
			fmt.Fprintf(&b, "B %s %d %d %d %d", bl.Type, bl.Start, bl.End, bl.Line, bl.Column)
			if bl.Name != "" {
				b.WriteString(" " + bl.Name)
			}
			b.WriteByte('\n')
		}
	}
	return writeAtomic(path, []byte(b.String()), "the configuration index")
}

// LoadConnection loads the part of dir's configuration that connection
// name needs: the oauthform block, every variable, provider and app block,
// and that connection's block, each parsed alone from the place idx
// records. ok is false, and the caller must Load, when anything is
// uncertain: the files differ from the index (added, removed, changed,
// too large), the index does not know the connection, or the partial
// load reports any error.
func LoadConnection(dir string, in Inputs, idx *Index, name string) (cfg *Config, ok bool) {
	if idx == nil || idx.Version != indexVersion {
		return nil, false
	}
	paths, diags := configPaths(dir)
	if diags != nil || len(paths) != len(idx.Files) {
		return nil, false
	}
	found := false
	for i, p := range paths {
		f := idx.Files[i]
		if f.Name != filepath.Base(p) {
			return nil, false
		}
		for _, b := range f.Blocks {
			found = found || b.Type == blockConnection && b.Name == name
		}
	}
	if !found {
		return nil, false
	}
	srcs := readSources(paths)
	l := newLoader(dir, in)
	files, ok := l.parseIndexed(srcs, idx, func(b IndexBlock) bool { return b.Type != blockConnection || b.Name == name })
	if !ok {
		return nil, false
	}
	cfg, diags = l.decode(files, srcs)
	if diags.HasErrors() {
		return nil, false
	}
	return cfg, true
}

// parseIndexed parses, from each source, the blocks idx records that
// keep accepts. ok is false when a source does not match its index entry
// or a block does not parse alone.
func (l *loader) parseIndexed(srcs []source, idx *Index, keep func(IndexBlock) bool) (files []*hcl.File, ok bool) {
	for i, s := range srcs {
		entry := idx.Files[i]
		if s.err != nil || s.refused != nil || len(s.src) != entry.Size {
			return nil, false
		}
		if sum(s.src) != entry.SHA256 {
			return nil, false
		}
		body := &hclsyntax.Body{}
		for _, b := range entry.Blocks {
			if !keep(b) {
				continue
			}
			if b.Start < 0 || b.End > len(s.src) || b.Start >= b.End {
				return nil, false
			}
			f, diags := hclsyntax.ParseConfig(s.src[b.Start:b.End], s.name, hcl.Pos{Line: b.Line, Column: b.Column, Byte: b.Start})
			parsed, ok := f.Body.(*hclsyntax.Body)
			if diags.HasErrors() || !ok || len(parsed.Blocks) != 1 || parsed.Blocks[0].Type != b.Type {
				return nil, false
			}
			body.Blocks = append(body.Blocks, parsed.Blocks[0])
		}
		f := &hcl.File{Body: body, Bytes: s.src}
		l.parser.AddFile(s.name, f) // for source snippets
		files = append(files, f)
	}
	return files, true
}
