package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/oauthform/oauthform/internal/providers"
)

// The configuration cache makes the load of an unchanged configuration
// cost a read of its files instead of a parse: at 10,000 connections the
// HCL lexer and parser are most of a plan's time and memory, and they are
// spent on connection blocks that did not change since the last command.
//
// What is cached: the decoded connections (names, app names, scopes,
// params, durations, grant, user name, ranges: nothing secret) and where
// every block is in its file (an Index). What is not: variables,
// settings, providers and apps, whose few blocks every load parses and
// decodes afresh from the files, with their secrets read from wherever
// they come from. So no secret, and no hash of one, is ever written.
//
// When a cached load is used, and only then: the oauthform build (its
// version and executable), the mode (validate or not), the configuration
// files (names, sizes, SHA-256), every non-sensitive variable's value
// (resolved again from -var, -var-file, OAUTHFORM_VAR_* and defaults by
// the fresh variable decode), every environment variable env() read and
// every file file() read outside a secret attribute (by SHA-256) are what
// they were when the cache was written, and the fresh decode reports no
// diagnostic at all. Sensitive variables may only be used in secret
// attributes (Load refuses them elsewhere), and secret attributes are
// decoded afresh, so no connection's decoding depends on a secret.
// Anything else, or any doubt (a torn or foreign file, a decode error),
// is a full Load, which writes a new cache when it has no diagnostic.

// cacheFormat is the version of the cache encoding.
const cacheFormat = 2

// cacheMagic starts a cache file, before the payload's SHA-256 and the
// payload (cachecodec.go).
const cacheMagic = "oauthform-config-cache\n"

// CacheOptions says where the cache is and which build uses it.
type CacheOptions struct {
	// Path is the cache file.
	Path string
	// Build identifies the oauthform binary (its version and, for a
	// development build, its executable's size and modification time): a
	// cache written by another build is not used.
	Build string
}

// cacheFile is the cache's payload.
type cacheFile struct {
	Format   int
	Build    string
	Validate bool
	// Index has every file's name, size, SHA-256 and blocks.
	Index Index
	// Vars is the digest of every non-sensitive variable's value.
	Vars string
	// Env are the environment variables env() read, and Files the files
	// file() read, outside secret attributes.
	Env   []cachedRead
	Files []cachedRead
	// Conns are the connections in declaration order.
	Conns []cachedConn
}

// cachedRead is one input and the SHA-256 of its value ("" when an
// environment variable was unset or a file could not be read).
type cachedRead struct {
	Name, Sum string
}

// cachedConn is a Connection with its app by name.
type cachedConn struct {
	Name, App                                            string
	Scopes                                               []string
	Params                                               map[string]string
	RefreshBefore, TokenLifetime, KeepAlive, GiveUpAfter time.Duration
	Grant                                                providers.Grant
	Username                                             string
	DeclRange, NameRange                                 hcl.Range
}

// cacheReads records what a load's evaluation read outside secret
// attributes.
type cacheReads struct {
	env   map[string]bool
	files map[string]string
}

func (l *loader) noteEnv(name string) {
	if l.inSecret > 0 {
		return
	}
	if l.reads.env == nil {
		l.reads.env = map[string]bool{}
	}
	l.reads.env[name] = true
}

func (l *loader) noteFile(path string, content []byte, err error) {
	if l.inSecret > 0 {
		return
	}
	if l.reads.files == nil {
		l.reads.files = map[string]string{}
	}
	l.reads.files[path] = readSum(content, err)
}

func readSum(content []byte, err error) string {
	if err != nil {
		return ""
	}
	return sum(content)
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// PendingCache is a cache to write once the command's own work is done.
type PendingCache struct {
	path string
	data []byte
}

// Write writes the cache (0600, replaced atomically); a failure only
// costs the next command a full load.
func (p *PendingCache) Write() error {
	if p == nil {
		return nil
	}
	return writeAtomic(p.path, p.data, "the configuration cache")
}

// LoadCached is Load using the cache opts names: the configuration is
// exactly what Load would return, whether the cache was used (hit) or
// not. On a full load without diagnostics, pending holds a new cache
// for the caller to write (nil otherwise).
func LoadCached(dir string, in Inputs, opts CacheOptions) (cfg *Config, diags hcl.Diagnostics, pending *PendingCache, hit bool) {
	paths, pathDiags := configPaths(dir)
	if pathDiags != nil {
		return emptyConfig(dir), pathDiags, nil, false
	}
	srcs := readSources(paths)
	if c := readCache(opts.Path); c != nil && c.Build == opts.Build && c.Validate == in.Validate {
		if cfg, ok := loadFromCache(dir, in, srcs, c); ok {
			return cfg, nil, nil, true
		}
	}
	l := newLoader(dir, in)
	cfg, diags = l.decode(l.parse(srcs), srcs)
	if len(diags) == 0 {
		if data := l.encodeCache(opts.Build); data != nil {
			pending = &PendingCache{path: opts.Path, data: data}
		}
	}
	return cfg, diags, pending, false
}

// loadFromCache loads srcs with the connections of c; ok is false when
// anything differs from when c was written.
func loadFromCache(dir string, in Inputs, srcs []source, c *cacheFile) (*Config, bool) {
	if len(srcs) != len(c.Index.Files) {
		return nil, false
	}
	for i, s := range srcs {
		if filepath.Base(s.name) != c.Index.Files[i].Name {
			return nil, false
		}
	}
	l := newLoader(dir, in)
	for _, r := range c.Env {
		v, set := l.environ[r.Name]
		if set != (r.Sum != "") || set && sum([]byte(v)) != r.Sum {
			return nil, false
		}
	}
	for _, r := range c.Files {
		if readSum(readAny(r.Name)) != r.Sum {
			return nil, false
		}
	}
	files, ok := l.parseIndexed(srcs, &c.Index, func(b IndexBlock) bool { return b.Type != blockConnection })
	if !ok {
		return nil, false
	}
	l.cached = c
	cfg, diags := l.decode(files, srcs)
	if len(diags) > 0 || l.varsDigest() != c.Vars {
		return nil, false
	}
	cfg.index = &c.Index
	return cfg, true
}

// cachedConnections takes the connections from l.cached, checking
// that the apps they name exist.
func (l *loader) cachedConnections() {
	for _, cc := range l.cached.Conns {
		app := l.cfg.Apps[cc.App]
		if app == nil {
			l.diags = append(l.diags, sourceless("Stale configuration cache", "Connection %q names app %q, which the configuration does not declare.", cc.Name, cc.App))
			return
		}
		c := &Connection{
			Name: cc.Name, App: app, Scopes: cc.Scopes, Params: cc.Params,
			RefreshBefore: cc.RefreshBefore, TokenLifetime: cc.TokenLifetime, KeepAlive: cc.KeepAlive, GiveUpAfter: cc.GiveUpAfter,
			Grant: cc.Grant, Username: cc.Username, DeclRange: cc.DeclRange, NameRange: cc.NameRange,
		}
		if c.Scopes == nil {
			c.Scopes = []string{}
		}
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		l.cfg.Connections[c.Name] = c
		l.connOrder = append(l.connOrder, c)
	}
}

// varsDigest is the SHA-256 of every non-sensitive variable's name, type
// and value; "" when one has no usable value.
func (l *loader) varsDigest() string {
	names := sortedKeys(l.cfg.Variables)
	h := sha256.New()
	for _, name := range names {
		v := l.cfg.Variables[name]
		if v.Sensitive {
			// Only secret attributes may use it; they are decoded afresh.
			fmt.Fprintf(h, "%q sensitive\n", name)
			continue
		}
		if v.Value == cty.NilVal || !v.Value.IsWhollyKnown() {
			return ""
		}
		b, err := ctyjson.Marshal(v.Value, v.Value.Type())
		if err != nil {
			return ""
		}
		ty, err := ctyjson.MarshalType(v.Type)
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%q %s %s\n", name, ty, b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// encodeCache encodes what l loaded; nil when it cannot be cached (a
// file with top-level attributes, a variable without a value).
func (l *loader) encodeCache(build string) []byte {
	idx := NewIndex(l.cfg)
	vars := l.varsDigest()
	if idx == nil || vars == "" {
		return nil
	}
	// Kept for the configuration index the command writes at its end
	// (NewIndex), which would otherwise hash every file again.
	l.cfg.index = idx
	c := cacheFile{Format: cacheFormat, Build: build, Validate: l.in.Validate, Index: *idx, Vars: vars}
	for _, name := range sortedKeys(l.reads.env) {
		r := cachedRead{Name: name}
		if v, ok := l.environ[name]; ok {
			r.Sum = sum([]byte(v))
		}
		c.Env = append(c.Env, r)
	}
	for _, name := range sortedKeys(l.reads.files) {
		c.Files = append(c.Files, cachedRead{Name: name, Sum: l.reads.files[name]})
	}
	c.Conns = make([]cachedConn, 0, len(l.connOrder))
	for _, conn := range l.connOrder {
		if conn.App == nil {
			return nil
		}
		c.Conns = append(c.Conns, cachedConn{
			Name: conn.Name, App: conn.App.Name, Scopes: conn.Scopes, Params: conn.Params,
			RefreshBefore: conn.RefreshBefore, TokenLifetime: conn.TokenLifetime, KeepAlive: conn.KeepAlive, GiveUpAfter: conn.GiveUpAfter,
			Grant: conn.Grant, Username: conn.Username, DeclRange: conn.DeclRange, NameRange: conn.NameRange,
		})
	}
	payload := encodeCacheFile(&c)
	out := make([]byte, 0, len(cacheMagic)+65+len(payload))
	out = append(out, cacheMagic...)
	out = append(out, sum(payload)+"\n"...)
	return append(out, payload...)
}

// readCache reads a cache file; nil when there is none or it is torn,
// foreign or of another format.
func readCache(path string) *cacheFile {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	rest, ok := bytes.CutPrefix(data, []byte(cacheMagic))
	if !ok || len(rest) < 65 || rest[64] != '\n' {
		return nil
	}
	payload := rest[65:]
	if sum(payload) != string(rest[:64]) {
		return nil
	}
	c, err := decodeCacheFile(payload)
	if err != nil {
		return nil
	}
	return c
}

// configPaths lists dir's configuration files in lexical order, or says
// why there are none.
func configPaths(dir string) ([]string, hcl.Diagnostics) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, hcl.Diagnostics{sourceless(
			"Failed to read configuration directory",
			"Cannot list the configuration files in %s: %s.", dir, err)}
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), FileSuffix) {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	if len(paths) == 0 {
		where := dir
		if abs, err := filepath.Abs(dir); err == nil {
			where = abs
		}
		return nil, hcl.Diagnostics{sourceless(
			"No configuration files",
			"There is no *%s file in %s. Write the configuration there (see the examples/ folder for one per provider), or point oauthform at the folder that holds it with -chdir.",
			FileSuffix, where)}
	}
	slices.Sort(paths)
	return paths, nil
}

// writeAtomic writes data to path (0600: os.CreateTemp's mode) through a
// temporary file of its own, so that concurrent writers never mix their
// bytes.
func writeAtomic(path string, data []byte, what string) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", what, err)
	}
	return nil
}
