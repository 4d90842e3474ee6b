package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/oauthform/oauthform/internal/seal"
	"github.com/oauthform/oauthform/internal/secret"
)

// The encryption decision, the same for every backend: how a state's
// records are sealed (Encryption, in the state's meta), whether a
// passphrase opens them (OpenSealer), and how a write seals what it
// writes (PlanWrite). A backend stores the meta entry and the records'
// bytes; it never decides.

// Encryption describes how an encrypted state's records are sealed: the
// value of the MetaEncryption entry of its meta, as JSON. Nothing in it is
// secret.
type Encryption struct {
	Version int    `json:"version"` // encryptionVersion
	Cipher  string `json:"cipher"`  // seal.CipherXChaCha20Poly1305
	seal.Params
	// Check is checkPlaintext sealed with the state's key and checkAAD: a
	// passphrase is right when it opens, whatever the records hold.
	Check []byte `json:"check"`
	// Enforced: the state was sealed under a configuration that enforces
	// encryption at rest (enforced = true). Reading or writing its tokens
	// without a key is then ErrEnforced, whatever the configuration says
	// now. It stays with the state until state rekey -decrypt.
	Enforced bool `json:"enforced,omitempty"`
}

const encryptionVersion = 1

// checkPlaintext is the sealed check value's content.
const checkPlaintext = "oauthform passphrase check"

func checkAAD(lineage string) []byte {
	return []byte("oauthform/state/check/v1\x00" + lineage)
}

// kdfParams gives the parameters of a new key. Tests replace it with cheap
// parameters (SetKDFParams); the binary always uses seal.NewParams.
var kdfParams = seal.NewParams

// testHookRewrite, when set, is called before each record a migration
// (turning encryption on, Rekey) rewrites; an error aborts the
// transaction. Tests use it to fail half-way (SetRewriteHook).
var testHookRewrite func(i int) error

// SetKDFParams makes every key derived from now on use the parameters p
// gives, and returns what restores the previous ones. It is for tests,
// which derive keys with cheap parameters; the binary never calls it.
func SetKDFParams(p func() seal.Params) (restore func()) {
	old := kdfParams
	kdfParams = p
	return func() { kdfParams = old }
}

// SetRewriteHook makes Reencode call h before each record it rewrites (an
// error aborts the rewrite), and returns what removes it. It is for tests
// that fail a migration half-way; the binary never calls it.
func SetRewriteHook(h func(i int) error) (restore func()) {
	old := testHookRewrite
	testHookRewrite = h
	return func() { testHookRewrite = old }
}

// ParseEncryption decodes and validates the MetaEncryption entry of a
// state's meta.
func ParseEncryption(raw []byte) (*Encryption, error) {
	var e Encryption
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("%w: invalid %s entry in meta (%s)", ErrCorrupt, MetaEncryption, jsonErrorKind(err))
	}
	switch {
	case e.Version > encryptionVersion:
		return nil, fmt.Errorf("%w: its encryption has version %d, this oauthform reads up to %d", ErrNewerFormat, e.Version, encryptionVersion)
	case e.Version < 1:
		return nil, fmt.Errorf("%w: missing or invalid encryption version", ErrCorrupt)
	case e.Cipher != seal.CipherXChaCha20Poly1305:
		return nil, fmt.Errorf("%w: unknown cipher %q", ErrCorrupt, e.Cipher)
	case len(e.Check) == 0:
		return nil, fmt.Errorf("%w: the encryption entry has no check value", ErrCorrupt)
	}
	if err := e.Params.Validate(); err != nil {
		return nil, fmt.Errorf("%w: encryption: %v", ErrCorrupt, err)
	}
	return &e, nil
}

// MetaValues returns what a backend stores in meta for the encryption e
// (nil: none): the MetaFormat value that goes with it and the
// MetaEncryption value ("" when the entry is to be removed).
func (e *Encryption) MetaValues() (format, encryption string, err error) {
	if e == nil {
		return strconv.Itoa(formatPlain), "", nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", "", err
	}
	return strconv.Itoa(formatEncrypted), string(b), nil
}

// NewEncryption derives a key for pass with fresh parameters (a new salt)
// and makes the meta entry, check value included, for the state lineage,
// with the Sealer of that key.
func NewEncryption(pass secret.Secret, lineage string, enforced bool) (*Encryption, *Sealer, error) {
	p := kdfParams()
	key, err := seal.Derive(pass, p)
	if err != nil {
		return nil, nil, err
	}
	e := &Encryption{
		Version: encryptionVersion, Cipher: seal.CipherXChaCha20Poly1305, Params: p,
		Check:    key.Seal([]byte(checkPlaintext), checkAAD(lineage)),
		Enforced: enforced,
	}
	return e, &Sealer{key: key, lineage: lineage}, nil
}

// openWith derives the key of an encrypted state from pass and checks it
// against the sealed check value: ErrWrongPassphrase when it does not open.
func openWith(pass secret.Secret, e *Encryption, lineage string) (*seal.Key, error) {
	key, err := seal.Derive(pass, e.Params)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	plain, err := key.Open(e.Check, checkAAD(lineage))
	if err != nil || string(plain) != checkPlaintext {
		return nil, ErrWrongPassphrase
	}
	return key, nil
}

// sameEncryption reports whether two reads of meta describe the same
// encryption (or both none).
func sameEncryption(a, b *Encryption) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Check, b.Check)
}

// OpenSealer returns what opens the records of the state described by m:
// nil for an unencrypted state, and for an encrypted one read without a
// passphrase (pass zero; its records then read as Sealed). A wrong
// passphrase gives ErrWrongPassphrase. Keys are derived once per process
// (seal.Derive caches them).
func OpenSealer(pass secret.Secret, m *Meta) (*Sealer, error) {
	if m.Enc == nil || pass.IsZero() {
		return nil, nil
	}
	key, err := openWith(pass, m.Enc, m.Lineage)
	if err != nil {
		return nil, err
	}
	return &Sealer{key: key, lineage: m.Lineage}, nil
}

// ReadSealer is OpenSealer for a read that needs the secrets (Get, a
// custody copy): without the passphrase an encrypted state gives
// ErrSealed rather than records without their tokens.
func ReadSealer(pass secret.Secret, m *Meta) (*Sealer, error) {
	sl, err := OpenSealer(pass, m)
	if err == nil && m.Enc != nil && sl == nil {
		err = sealedErr(m)
	}
	return sl, err
}

// WritePlan is how a write seals what it writes.
type WritePlan struct {
	// Enc is the state's encryption as read (nil: none).
	Enc *Encryption
	// Sealer seals the records written; nil: unsealed.
	Sealer *Sealer
	// Enable, when set, says this write turns encryption on with it.
	Enable *Encryption
	// Postponed: the store has a passphrase, the state is not encrypted,
	// and this write cannot turn encryption on (it holds only a
	// connection lock): it writes unsealed.
	Postponed bool
}

// PlanWrite decides how a write to the state described by m seals, for a
// store whose passphrase is pass: with the state's key (the passphrase
// must open it), unsealed, or turning encryption on because the store has
// a passphrase and the state is not encrypted, when mayEnable (see
// PrepareEnable); without mayEnable such a write is postponed: unsealed.
// sealing says the write stores records; one that does not (Delete) may
// go on without the passphrase on an encrypted state, but never with a
// wrong one. PlanWrite derives keys, so backends call it before their
// write's transaction when they can.
//
// enforced says the store's configuration enforces encryption: an
// encryption turned on records it (Encryption.Enforced).
func PlanWrite(pass secret.Secret, m *Meta, sealing, mayEnable, enforced bool) (*WritePlan, error) {
	p := &WritePlan{Enc: m.Enc}
	switch {
	case m.Enc != nil && pass.IsZero():
		if sealing {
			return nil, sealedErr(m)
		}
	case m.Enc != nil:
		sl, err := OpenSealer(pass, m)
		if err != nil {
			return nil, err
		}
		p.Sealer = sl
	case !pass.IsZero() && !mayEnable:
		p.Postponed = true
	case !pass.IsZero():
		e, sl, err := NewEncryption(pass, m.Lineage, enforced)
		if err != nil {
			return nil, err
		}
		p.Sealer, p.Enable = sl, e
	}
	return p, nil
}

// Replan returns p when the state, now described by m, is still sealed as
// p planned (another process may have turned encryption on or rekeyed
// since p was made), and a new plan otherwise, which never turns
// encryption on. Planning again derives a key inside the caller's
// transaction, which is rare and only slow.
func (p *WritePlan) Replan(pass secret.Secret, m *Meta, sealing bool) (*WritePlan, error) {
	want := p.Enc
	if p.Enable != nil {
		want = p.Enable
	}
	if sameEncryption(want, m.Enc) {
		return p, nil
	}
	return PlanWrite(pass, m, sealing, false, false)
}

// PlanRekey checks, before Rekey's transaction, that pass (the store's
// passphrase) opens the state described by m, and derives the key of
// newPass: the new encryption and its Sealer, both nil when newPass is
// zero (turning encryption off). The lineage never changes. The new
// encryption is enforced when enforced (the store's configuration) or the
// state's was, unless it is turned off.
func PlanRekey(pass, newPass secret.Secret, m *Meta, enforced bool) (*Encryption, *Sealer, error) {
	if m.Enc != nil {
		if pass.IsZero() {
			return nil, nil, sealedErr(m)
		}
		if _, err := OpenSealer(pass, m); err != nil {
			return nil, nil, err
		}
	}
	if newPass.IsZero() {
		return nil, nil, nil
	}
	return NewEncryption(newPass, m.Lineage, enforced || (m.Enc != nil && m.Enc.Enforced))
}

// sealedErr is the error of a read or write that needs the tokens of the
// encrypted state m describes, without a key: ErrEnforced when its
// encryption is enforced, else ErrSealed.
func sealedErr(m *Meta) error {
	if m.Enc != nil && m.Enc.Enforced {
		return ErrEnforced
	}
	return ErrSealed
}

// StoredRecord is a record as a backend stores it: its key and its
// encoding.
type StoredRecord struct {
	Conn string
	Data []byte
}

// Reencode re-encodes recs in place from the encoding described by from
// (nil: unsealed, or sealed without a key when fromEncrypted) to the one
// of to (nil: unsealed), for a backend that then writes them back in the
// same transaction. It returns how many it re-encoded: all of them, or on
// an error (which names the record) the index of the one that failed.
func Reencode(recs []StoredRecord, from, to *Sealer, fromEncrypted bool) (int, error) {
	if fromEncrypted && from == nil {
		return 0, ErrSealed
	}
	for i := range recs {
		if testHookRewrite != nil {
			if err := testHookRewrite(i); err != nil {
				return i, err
			}
		}
		rec, err := DecodeStored(recs[i].Conn, recs[i].Data, fromEncrypted, from)
		if err != nil {
			return i, err
		}
		if recs[i].Data, err = to.Encode(rec); err != nil {
			return i, err
		}
	}
	return len(recs), nil
}
