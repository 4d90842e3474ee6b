package state

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// The meta of a state, as every backend stores it: entries of a key and a
// text value (a bbolt bucket, a PostgreSQL table).
//
//	format_version  decimal: 1, or 2 when encrypted (FormatVersion)
//	lineage         random 128-bit id (UUID form), fixed at creation
//	serial          decimal uint64, +1 per write
//	created         RFC 3339 time of creation
//	written_by      oauthform version of the last writer
//	encryption      only when encrypted: Encryption as JSON (cipher,
//	                Argon2id parameters and salt, sealed check value)
const (
	MetaFormat     = "format_version"
	MetaLineage    = "lineage"
	MetaSerial     = "serial"
	MetaCreated    = "created"
	MetaWrittenBy  = "written_by"
	MetaEncryption = "encryption"
)

// Meta is a state's decoded and validated meta.
type Meta struct {
	Format    int
	Lineage   string
	Serial    uint64
	WrittenBy string
	Enc       *Encryption // nil: not encrypted
}

// ParseMeta validates and decodes a state's meta entries, which get
// returns by key (false: no such entry). It is for backends, which check
// their own layout around it.
func ParseMeta(get func(key string) (string, bool)) (*Meta, error) {
	lineage, _ := get(MetaLineage)
	writtenBy, _ := get(MetaWrittenBy)
	m := &Meta{Lineage: lineage, WrittenBy: writtenBy}
	format, _ := get(MetaFormat)
	fv, err := strconv.Atoi(format)
	if err != nil || fv < 1 {
		return nil, fmt.Errorf("%w: missing or invalid %s", ErrCorrupt, MetaFormat)
	}
	m.Format = fv
	if fv > FormatVersion {
		by := m.WrittenBy
		if by == "" {
			by = "unknown"
		}
		return nil, fmt.Errorf("%w: it has format %d (written by oauthform %s), this oauthform reads up to format %d", ErrNewerFormat, fv, by, FormatVersion)
	}
	if m.Lineage == "" {
		return nil, fmt.Errorf("%w: missing %s", ErrCorrupt, MetaLineage)
	}
	serial, _ := get(MetaSerial)
	if m.Serial, err = strconv.ParseUint(serial, 10, 64); err != nil {
		return nil, fmt.Errorf("%w: missing or invalid %s", ErrCorrupt, MetaSerial)
	}
	if raw, ok := get(MetaEncryption); ok {
		if fv < formatEncrypted {
			return nil, fmt.Errorf("%w: format %d cannot hold an encrypted state", ErrCorrupt, fv)
		}
		if m.Enc, err = ParseEncryption([]byte(raw)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// InitialMeta returns the meta entries of a new state, in order: lineage,
// serial 0, created now, written by version, and the encryption enc (nil:
// none) with its format.
func InitialMeta(lineage string, now time.Time, version string, enc *Encryption) ([][2]string, error) {
	format, encoded, err := enc.MetaValues()
	if err != nil {
		return nil, err
	}
	kv := [][2]string{
		{MetaFormat, format},
		{MetaLineage, lineage},
		{MetaSerial, "0"},
		{MetaCreated, now.UTC().Format(time.RFC3339Nano)},
		{MetaWrittenBy, version},
	}
	if enc != nil {
		kv = append(kv, [2]string{MetaEncryption, encoded})
	}
	return kv, nil
}

// NewLineage returns a new state's lineage: a random 128-bit id in UUID
// (version 4) form.
func NewLineage() string { return newID() }

// newID returns a random 128-bit id in UUID (version 4) form.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Errors of backends, not shown to callers as such.
var (
	// ErrMissing: the state does not exist. Backends turn it into an
	// empty Snapshot, ErrNotFound or ErrNoState.
	ErrMissing = errors.New("state does not exist")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("state store is closed")
)

// Explain prefixes err with what was being done to the state named name,
// and adds advice for a state oauthform refuses to use: corrupt, which
// says what the person can do (it starts with "oauthform did not modify
// it"), or newer.
func Explain(what, name string, err error, corrupt string) error {
	switch {
	case errors.Is(err, ErrCorrupt):
		return fmt.Errorf("%s %s: %w; %s", what, name, err, corrupt)
	case errors.Is(err, ErrNewerFormat):
		return fmt.Errorf("%s %s: %w; upgrade oauthform to use it (this version will not modify it)", what, name, err)
	}
	return fmt.Errorf("%s %s: %w", what, name, err)
}

// WithDefaults returns o with Now and Version filled in when they are
// zero (time.Now, "dev"), as every backend's Open does.
func (o Options) WithDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	return o
}

// PassphraseSlot holds a store's current passphrase: Options.Passphrase,
// replaced by Rekey. It is safe for concurrent use; the zero value holds
// none.
type PassphraseSlot struct {
	p atomic.Pointer[secret.Secret]
	// fallback is Options.Fallback, set once by Init.
	fallback secret.Secret
	// enforced is Options.Enforced, set once by Init.
	enforced bool
}

// Enforced is Options.Enforced.
func (s *PassphraseSlot) Enforced() bool { return s.enforced }

// Load returns the passphrase.
func (s *PassphraseSlot) Load() secret.Secret {
	if p := s.p.Load(); p != nil {
		return *p
	}
	return secret.Secret{}
}

// Store replaces the passphrase.
func (s *PassphraseSlot) Store(pass secret.Secret) { s.p.Store(&pass) }

// For returns the passphrase that opens the state m describes: the
// store's, unless the state is encrypted, the store's passphrase does not
// open it and the fallback one does. Checking derives the keys once per
// process (seal.Derive caches them).
func (s *PassphraseSlot) For(m *Meta) secret.Secret {
	if s.UnderFallback(m) {
		return s.fallback
	}
	return s.Load()
}

// UnderFallback reports whether the state m describes is sealed under
// the fallback passphrase rather than the store's.
func (s *PassphraseSlot) UnderFallback(m *Meta) bool {
	if s.fallback.IsZero() || m == nil || m.Enc == nil {
		return false
	}
	if p := s.Load(); !p.IsZero() {
		if _, err := openWith(p, m.Enc, m.Lineage); err == nil {
			return false
		}
	}
	_, err := openWith(s.fallback, m.Enc, m.Lineage)
	return err == nil
}
