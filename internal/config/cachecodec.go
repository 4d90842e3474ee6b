package config

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/providers"
)

// The cache's encoding is written by hand, not with encoding/gob: gob's
// reflection took most of a cached load (15 ms of 23 at 10,000
// connections, 0.3 s at 100,000). Strings are length-prefixed, numbers
// varints; a range's file name is written only when it differs from the
// previous range's. The payload is checked by its SHA-256 before it is
// decoded, so the decoder only guards against a foreign format.

type cacheWriter struct {
	b        []byte
	lastFile string
}

func (w *cacheWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *cacheWriter) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *cacheWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *cacheWriter) bool(v bool) {
	if v {
		w.uint(1)
	} else {
		w.uint(0)
	}
}

func (w *cacheWriter) pos(p hcl.Pos) {
	w.uint(uint64(p.Line))
	w.uint(uint64(p.Column))
	w.uint(uint64(p.Byte))
}

func (w *cacheWriter) rng(r hcl.Range) {
	if r.Filename == w.lastFile {
		w.uint(0)
	} else {
		w.uint(1)
		w.str(r.Filename)
		w.lastFile = r.Filename
	}
	w.pos(r.Start)
	w.pos(r.End)
}

func (w *cacheWriter) reads(rs []cachedRead) {
	w.uint(uint64(len(rs)))
	for _, r := range rs {
		w.str(r.Name)
		w.str(r.Sum)
	}
}

func encodeCacheFile(c *cacheFile) []byte {
	w := &cacheWriter{}
	w.uint(uint64(c.Format))
	w.str(c.Build)
	w.bool(c.Validate)
	w.str(c.Vars)
	w.reads(c.Env)
	w.reads(c.Files)
	w.uint(uint64(len(c.Index.Files)))
	for _, f := range c.Index.Files {
		w.str(f.Name)
		w.uint(uint64(f.Size))
		w.str(f.SHA256)
		w.uint(uint64(len(f.Blocks)))
		for _, b := range f.Blocks {
			w.str(b.Type)
			w.str(b.Name)
			w.uint(uint64(b.Start))
			w.uint(uint64(b.End))
			w.uint(uint64(b.Line))
			w.uint(uint64(b.Column))
		}
	}
	w.uint(uint64(len(c.Conns)))
	for _, cc := range c.Conns {
		w.str(cc.Name)
		w.str(cc.App)
		w.uint(uint64(len(cc.Scopes)))
		for _, s := range cc.Scopes {
			w.str(s)
		}
		w.uint(uint64(len(cc.Params)))
		for _, k := range sortedKeys(cc.Params) {
			w.str(k)
			w.str(cc.Params[k])
		}
		w.int(int64(cc.RefreshBefore))
		w.int(int64(cc.TokenLifetime))
		w.int(int64(cc.KeepAlive))
		w.int(int64(cc.GiveUpAfter))
		w.str(string(cc.Grant))
		w.str(cc.Username)
		w.rng(cc.DeclRange)
		w.rng(cc.NameRange)
	}
	return w.b
}

var errCacheFormat = errors.New("not a configuration cache")

type cacheReader struct {
	b        []byte
	err      error
	lastFile string
}

func (r *cacheReader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cacheReader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length, bounded by the bytes left (each element takes
// at least one).
func (r *cacheReader) count() int {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *cacheReader) str() string {
	n := r.count()
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *cacheReader) fail() {
	r.err = errCacheFormat
	r.b = nil
}

func (r *cacheReader) pos() hcl.Pos {
	return hcl.Pos{Line: int(r.uint()), Column: int(r.uint()), Byte: int(r.uint())}
}

func (r *cacheReader) rng() hcl.Range {
	if r.uint() == 1 {
		r.lastFile = r.str()
	}
	return hcl.Range{Filename: r.lastFile, Start: r.pos(), End: r.pos()}
}

func (r *cacheReader) reads() []cachedRead {
	rs := make([]cachedRead, r.count())
	for i := range rs {
		rs[i] = cachedRead{Name: r.str(), Sum: r.str()}
	}
	return rs
}

func decodeCacheFile(b []byte) (*cacheFile, error) {
	r := &cacheReader{b: b}
	c := &cacheFile{Format: int(r.uint())}
	if c.Format != cacheFormat {
		return nil, errCacheFormat
	}
	c.Build = r.str()
	c.Validate = r.uint() == 1
	c.Vars = r.str()
	c.Env = r.reads()
	c.Files = r.reads()
	c.Index = Index{Version: indexVersion, Files: make([]IndexFile, r.count())}
	for i := range c.Index.Files {
		f := &c.Index.Files[i]
		f.Name, f.Size, f.SHA256 = r.str(), int(r.uint()), r.str()
		f.Blocks = make([]IndexBlock, r.count())
		for j := range f.Blocks {
			f.Blocks[j] = IndexBlock{Type: r.str(), Name: r.str(), Start: int(r.uint()), End: int(r.uint()), Line: int(r.uint()), Column: int(r.uint())}
		}
	}
	c.Conns = make([]cachedConn, r.count())
	for i := range c.Conns {
		cc := &c.Conns[i]
		cc.Name, cc.App = r.str(), r.str()
		cc.Scopes = make([]string, r.count())
		for j := range cc.Scopes {
			cc.Scopes[j] = r.str()
		}
		n := r.count()
		cc.Params = make(map[string]string, n)
		for range n {
			k := r.str()
			cc.Params[k] = r.str()
		}
		cc.RefreshBefore, cc.TokenLifetime = time.Duration(r.int()), time.Duration(r.int())
		cc.KeepAlive, cc.GiveUpAfter = time.Duration(r.int()), time.Duration(r.int())
		cc.Grant, cc.Username = providers.Grant(r.str()), r.str()
		cc.DeclRange, cc.NameRange = r.rng(), r.rng()
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errCacheFormat
	}
	return c, nil
}
