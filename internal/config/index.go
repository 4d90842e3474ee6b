package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	Version int         `json:"version"`
	Files   []IndexFile `json:"files"`
}

// IndexFile is one configuration file's blocks.
type IndexFile struct {
	Name   string       `json:"name"` // base name, in the configuration directory
	Size   int          `json:"size"`
	SHA256 string       `json:"sha256"`
	Blocks []IndexBlock `json:"blocks"`
}

// IndexBlock is where one top-level block is in its file.
type IndexBlock struct {
	Type string `json:"type"`
	// Name is the block's label ("" for the oauthform block).
	Name string `json:"name,omitempty"`
	// Start and End are byte offsets; Line and Column Start's position.
	Start  int `json:"start"`
	End    int `json:"end"`
	Line   int `json:"line"`
	Column int `json:"column"`
}

// NewIndex indexes the files of cfg, which must have loaded without
// errors (nil otherwise).
func NewIndex(cfg *Config) *Index {
	idx := &Index{Version: indexVersion}
	names := make([]string, 0, len(cfg.files))
	for name := range cfg.files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f := cfg.files[name]
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok || len(body.Attributes) > 0 {
			return nil
		}
		sum := sha256.Sum256(f.Bytes)
		file := IndexFile{Name: filepath.Base(name), Size: len(f.Bytes), SHA256: hex.EncodeToString(sum[:])}
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

// ReadIndex reads an index written by WriteIndex; nil when there is none
// or it cannot be used.
func ReadIndex(path string) *Index {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var idx Index
	if json.Unmarshal(data, &idx) != nil || idx.Version != indexVersion {
		return nil
	}
	return &idx
}

// WriteIndex writes idx to path (0600, replaced atomically).
func WriteIndex(path string, idx *Index) error {
	data, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("writing the configuration index: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing the configuration index: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing the configuration index: %w", err)
	}
	return nil
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, false
	}
	var present []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), FileSuffix) {
			present = append(present, e.Name())
		}
	}
	slices.Sort(present)
	if len(present) != len(idx.Files) {
		return nil, false
	}
	paths := make([]string, len(present))
	for i, n := range present {
		if idx.Files[i].Name != n {
			return nil, false
		}
		paths[i] = filepath.Join(dir, n)
	}
	srcs := readSources(paths)
	l := newLoader(dir, in)
	files, found := l.parseIndexed(srcs, idx, name)
	if !found {
		return nil, false
	}
	cfg, diags := l.decode(files, srcs)
	if diags.HasErrors() {
		return nil, false
	}
	return cfg, true
}

// parseIndexed parses, from each source, the blocks idx records that a
// load of connection name needs. found is false when a source does not
// match its index entry, a block does not parse alone, or no block
// declares the connection.
func (l *loader) parseIndexed(srcs []source, idx *Index, name string) (files []*hcl.File, found bool) {
	for i, s := range srcs {
		entry := idx.Files[i]
		if s.err != nil || s.refused != nil || len(s.src) != entry.Size {
			return nil, false
		}
		if sum := sha256.Sum256(s.src); hex.EncodeToString(sum[:]) != entry.SHA256 {
			return nil, false
		}
		body := &hclsyntax.Body{}
		for _, b := range entry.Blocks {
			if b.Type == blockConnection && b.Name != name {
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
			found = found || b.Type == blockConnection
			body.Blocks = append(body.Blocks, parsed.Blocks[0])
		}
		f := &hcl.File{Body: body, Bytes: s.src}
		l.parser.AddFile(s.name, f) // for source snippets
		files = append(files, f)
	}
	return files, found
}
