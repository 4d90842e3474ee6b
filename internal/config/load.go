package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/oauthform/oauthform/internal/providers"
)

// Block types of a configuration file.
const (
	blockSettings   = "oauthform"
	blockVariable   = "variable"
	blockProvider   = "provider"
	blockApp        = "app"
	blockConnection = "connection"
)

// rootSchema is the top level of every *.oauth.hcl file. Decoding against
// it gives "Unsupported block type" / "Unsupported argument" with HCL's own
// "Did you mean" suggestions.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: blockSettings},
		{Type: blockVariable, LabelNames: []string{"name"}},
		{Type: blockProvider, LabelNames: []string{"name"}},
		{Type: blockApp, LabelNames: []string{"name"}},
		{Type: blockConnection, LabelNames: []string{"name"}},
	},
}

// Load reads every *.oauth.hcl file in dir (not recursively) in lexical
// order and returns the merged, validated configuration.
//
// The returned *Config is never nil: when there are errors it holds what
// could be decoded, and its Files serve source snippets for rendering the
// diagnostics. No diagnostic carries an Expression or EvalContext, so
// rendering them never prints a variable's value.
func Load(dir string, in Inputs) (*Config, hcl.Diagnostics) {
	paths, diags := configPaths(dir)
	if diags != nil {
		return emptyConfig(dir), diags
	}
	return LoadFiles(dir, paths, in)
}

// LoadFiles is Load for an explicit list of files, decoded in the order
// given. dir is the base of file() paths and becomes Config.Dir.
func LoadFiles(dir string, paths []string, in Inputs) (*Config, hcl.Diagnostics) {
	return load(dir, readSources(paths), in)
}

// source is one configuration file's name and contents, or why it was
// not read: a read error, or a diagnostic (too large).
type source struct {
	name    string
	src     []byte
	err     error
	refused *hcl.Diagnostic
}

func emptyConfig(dir string) *Config {
	return &Config{
		Dir:         dir,
		Settings:    Settings{StatePath: DefaultStatePath},
		Variables:   map[string]*Variable{},
		Providers:   map[string]*providers.Profile{},
		Apps:        map[string]*App{},
		Connections: map[string]*Connection{},
		files:       map[string]*hcl.File{},
		issuers:     map[string]hcl.Range{},
	}
}

// loader carries the state of one Load through its phases.
type loader struct {
	dir     string
	in      Inputs
	environ map[string]string
	parser  *hclparse.Parser
	cfg     *Config
	ctx     *hcl.EvalContext
	diags   hcl.Diagnostics
	// secrets are values to scrub from diagnostic text before returning.
	secrets []string

	// Blocks collected by phase 1, in file order, duplicates dropped.
	settings    *hcl.Block
	variables   []*hcl.Block
	providers   []*hcl.Block
	apps        []*hcl.Block
	connections []*hcl.Block

	// Provider state for apps: the block that declared or overrode each
	// provider (nil for untouched built-ins) and whether it is usable.
	providerBlocks map[string]*hcl.Block
	providerOK     map[string]bool

	// noRedirect holds the app blocks without redirect_uri, by name;
	// grantUnknown the connections whose grant did not decode.
	noRedirect   map[string]*hcl.Block
	grantUnknown map[string]bool

	// connOrder is every decoded connection in declaration order.
	connOrder []*Connection
	// reads records what the evaluation read outside secret attributes
	// (inSecret > 0), for the cache; cached, when set, holds the
	// connections to take instead of decoding their blocks.
	reads    cacheReads
	inSecret int
	cached   *cacheFile
}

func load(dir string, srcs []source, in Inputs) (*Config, hcl.Diagnostics) {
	l := newLoader(dir, in)
	files := l.parse(srcs)
	return l.decode(files, srcs)
}

func newLoader(dir string, in Inputs) *loader {
	l := &loader{
		dir:            dir,
		in:             in,
		parser:         hclparse.NewParser(),
		cfg:            emptyConfig(dir),
		providerBlocks: map[string]*hcl.Block{},
		providerOK:     map[string]bool{},
		noRedirect:     map[string]*hcl.Block{},
		grantUnknown:   map[string]bool{},
	}
	l.environ = parseEnviron(in.Environ)
	return l
}

// decode runs the phases after parsing on files (read from srcs).
func (l *loader) decode(files []*hcl.File, srcs []source) (*Config, hcl.Diagnostics) {
	if !l.diags.HasErrors() {
		l.collect(files)
		l.decodeVariables()
		l.ctx = l.evalContext()
		l.decodeSettings()
		l.decodeProviders()
		l.decodeApps()
		if l.cached != nil {
			l.cachedConnections()
		} else {
			l.decodeConnections()
		}
		l.checkRedirects()
	}
	l.cfg.files = l.parser.Files()
	for _, src := range srcs {
		l.cfg.sources = append(l.cfg.sources, src.name)
	}
	sanitize(l.diags, l.secrets)
	sortDiags(l.diags, srcs)
	return l.cfg, l.diags
}

// article prefixes a block type with "A" or "An".
func article(word string) string {
	if strings.ContainsAny(word[:1], "aeiou") {
		return "An " + word
	}
	return "A " + word
}

// parse parses every source. Syntax errors stop decoding after this
// phase: a partly parsed file would only add confusing follow-on errors.
func (l *loader) parse(srcs []source) []*hcl.File {
	// Files parse independently, so they are parsed on every core (the
	// lexer is most of a large configuration's load time); results are
	// then taken in file order, so diagnostics keep their order.
	type parsed struct {
		f     *hcl.File
		diags hcl.Diagnostics
	}
	results := make([]parsed, len(srcs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, s := range srcs {
		if s.err != nil || s.refused != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if d := notText(s.name, s.src, "Configuration files", notConfigHint); d != nil {
				// HCL would report every few bytes of a binary file.
				results[i].diags = hcl.Diagnostics{d}
				return
			}
			if d := tooDeep(s.name, s.src); d != nil {
				// hclsyntax's recursive descent would overflow the stack.
				results[i].diags = hcl.Diagnostics{d}
				return
			}
			results[i].f, results[i].diags = hclsyntax.ParseConfig(s.src, s.name, hcl.InitialPos)
		}()
	}
	wg.Wait()
	var files []*hcl.File
	for i, s := range srcs {
		if s.err != nil {
			l.diags = append(l.diags, sourceless("Failed to read file",
				"The configuration file %q could not be read: %s.", s.name, s.err))
			continue
		}
		if s.refused != nil {
			l.diags = append(l.diags, s.refused)
			continue
		}
		f, diags := results[i].f, results[i].diags
		l.diags = append(l.diags, diags...)
		if f == nil {
			// Not parsed (binary, too deep): no snippet either. The line
			// is garbage, or might be a sensitive value in a legacy
			// encoding; the diagnostic gives its line and column.
			continue
		}
		l.parser.AddFile(s.name, f) // for source snippets
		if body, ok := f.Body.(*hclsyntax.Body); ok && !diags.HasErrors() && len(body.Attributes) == 0 && len(body.Blocks) == 0 {
			// Most likely truncated or emptied by mistake; taken as "no
			// connections", apply would disconnect everything.
			start := hcl.Pos{Line: 1, Column: 1}
			l.diags = append(l.diags, errorAt(hcl.Range{Filename: s.name, Start: start, End: start}, "Empty configuration file",
				"%s declares nothing. Delete it if it is not needed, or restore its contents; to disconnect every connection on purpose, run \"oauthform destroy\".",
				filepath.Base(s.name)))
		}
		files = append(files, f)
	}
	return files
}

// collect is phase 1: the top-level structure of every file, names
// checked and duplicates reported.
func (l *loader) collect(files []*hcl.File) {
	seen := map[string]map[string]hcl.Range{
		blockVariable: {}, blockProvider: {}, blockApp: {}, blockConnection: {},
	}
	for _, f := range files {
		content, diags := f.Body.Content(rootSchema)
		l.diags = append(l.diags, diags...)
		for _, b := range content.Blocks {
			if b.Type == blockSettings {
				if l.settings != nil {
					l.diags = append(l.diags, errorAt(b.DefRange, "Duplicate oauthform block",
						"An oauthform block was already declared at %s. Only one is allowed across all *%s files: merge them.",
						pos(l.settings.DefRange), FileSuffix))
					continue
				}
				l.settings = b
				continue
			}
			name := b.Labels[0]
			if !hclsyntax.ValidIdentifier(name) {
				l.diags = append(l.diags, errorAt(b.LabelRanges[0], "Invalid name",
					"%s name must start with a letter or underscore and contain only letters, digits, underscores and dashes; %q does not.",
					article(b.Type), name))
				continue
			}
			if prev, dup := seen[b.Type][name]; dup {
				l.diags = append(l.diags, errorAt(b.DefRange, "Duplicate "+b.Type+" declaration",
					"%s named %q was already declared at %s. Names must be unique across all *%s files.",
					article(b.Type), name, pos(prev), FileSuffix))
				continue
			}
			seen[b.Type][name] = b.DefRange
			switch b.Type {
			case blockVariable:
				l.variables = append(l.variables, b)
			case blockProvider:
				l.providers = append(l.providers, b)
			case blockApp:
				l.apps = append(l.apps, b)
			case blockConnection:
				l.connections = append(l.connections, b)
			}
		}
	}
}

// parseEnviron turns KEY=VALUE pairs into a map (later wins); nil means
// the process environment.
func parseEnviron(environ []string) map[string]string {
	if environ == nil {
		environ = os.Environ()
	}
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// maxNesting bounds the bracket depth of a configuration file, far beyond
// any real configuration and far below what overflows the parser's stack.
const maxNesting = 500

// tooDeep returns an error diagnostic when brackets in src nest deeper
// than maxNesting. The scan skips quoted strings and comments; it only
// needs to be right for absurd inputs.
func tooDeep(name string, src []byte) *hcl.Diagnostic {
	depth, line, col := 0, 1, 0
	inString, inComment := false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		col++
		switch {
		case c == '\n':
			line, col, inComment = line+1, 0, false
			continue
		case inComment:
			continue
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '#':
			inComment = true
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				inComment = true
			}
		case '(', '[', '{':
			if depth++; depth > maxNesting {
				p := hcl.Pos{Line: line, Column: col, Byte: i}
				return errorAt(hcl.Range{Filename: name, Start: p, End: p}, "Nesting too deep",
					"Brackets nest more than %d levels deep here; no configuration needs that. Check the file for garbage.", maxNesting)
			}
		case ')', ']', '}':
			depth--
		}
	}
	return nil
}
