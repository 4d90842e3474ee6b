// Package seal is oauthform's encryption at rest, built only from
// golang.org/x/crypto: a 256-bit key derived from a passphrase with
// Argon2id (argon2.IDKey) seals values with XChaCha20-Poly1305
// (chacha20poly1305.NewX), an AEAD whose 192-bit random nonces cannot
// collide in practice however many values one key seals.
//
// The package knows no file format: internal/state decides what it seals,
// with which associated data, and where the Params live. Derive is the
// entry point; it derives a key once per process for a given passphrase,
// salt and parameters.
package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/oauthform/oauthform/internal/secret"
)

// KDFArgon2id is the only key derivation function so far.
const KDFArgon2id = "argon2id"

// CipherXChaCha20Poly1305 names the AEAD in stored parameters.
const CipherXChaCha20Poly1305 = "xchacha20-poly1305"

// Default Argon2id cost: one pass over 64 MiB with two lanes, above the
// OWASP minimum for Argon2id (19 MiB, 2 passes, or 46 MiB, 1 pass) and
// RFC 9106's memory-constrained profile's memory. It takes about 0.15 s on
// a laptop core, once per process.
const (
	DefaultTime      = 1
	DefaultMemoryKiB = 64 * 1024
	DefaultThreads   = 2
	// SaltSize is the size of a new random salt.
	SaltSize = 16
	keySize  = chacha20poly1305.KeySize
)

// Limits on parameters read from a file, so that a damaged or hostile file
// cannot make oauthform allocate gigabytes or spin for minutes.
const (
	maxTime      = 16
	maxMemoryKiB = 1024 * 1024 // 1 GiB
	maxThreads   = 16
	minSaltSize  = 16
)

// ErrOpen is returned by Key.Open when a sealed value does not open: the
// key is wrong, or the value or its associated data was altered.
var ErrOpen = errors.New("sealed value does not open (wrong key, or altered data)")

// Params are the key derivation parameters, stored beside the sealed data
// (they are not secret). The salt is random per key: a new passphrase gets
// a new salt.
type Params struct {
	KDF       string `json:"kdf"`        // KDFArgon2id
	Time      uint32 `json:"time"`       // Argon2id passes
	MemoryKiB uint32 `json:"memory_kib"` // Argon2id memory
	Threads   uint8  `json:"threads"`    // Argon2id lanes
	Salt      []byte `json:"salt"`       // base64 in JSON
}

// NewParams returns the default parameters with a fresh random salt.
func NewParams() Params {
	return Params{
		KDF: KDFArgon2id, Time: DefaultTime, MemoryKiB: DefaultMemoryKiB, Threads: DefaultThreads,
		Salt: randomBytes(SaltSize),
	}
}

// Validate checks parameters read from storage.
func (p Params) Validate() error {
	switch {
	case p.KDF != KDFArgon2id:
		return fmt.Errorf("unknown key derivation function %q", p.KDF)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id time %d is out of range 1..%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("argon2id threads %d is out of range 1..%d", p.Threads, maxThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB is out of range %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxMemoryKiB)
	case len(p.Salt) < minSaltSize:
		return fmt.Errorf("salt of %d bytes is shorter than %d", len(p.Salt), minSaltSize)
	}
	return nil
}

// Key seals and opens values. It is safe for concurrent use.
type Key struct {
	aead cipher.AEAD
}

// cache holds the keys derived by this process, so that a passphrase is
// stretched once per process and state, however many stores are opened.
var cache struct {
	sync.Mutex
	keys map[string][]cachedKey // by paramsID
}

type cachedKey struct {
	pass secret.Secret
	key  *Key
}

func paramsID(p Params) string {
	return fmt.Sprintf("%s/%d/%d/%d/%x", p.KDF, p.Time, p.MemoryKiB, p.Threads, p.Salt)
}

// Derive stretches pass into a key with p. Keys are cached for the life of
// the process: deriving again with the same passphrase and parameters costs
// nothing. An empty passphrase is refused.
func Derive(pass secret.Secret, p Params) (*Key, error) {
	if pass.IsZero() {
		return nil, errors.New("deriving a key: empty passphrase")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("deriving a key: %w", err)
	}
	id := paramsID(p)
	cache.Lock()
	defer cache.Unlock() // derivations are serialized: each already uses Threads cores
	for _, c := range cache.keys[id] {
		if c.pass.Equal(pass) {
			return c.key, nil
		}
	}
	raw := argon2.IDKey([]byte(pass.Reveal()), p.Salt, p.Time, p.MemoryKiB, p.Threads, keySize)
	aead, err := chacha20poly1305.NewX(raw)
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("deriving a key: %w", err)
	}
	k := &Key{aead: aead}
	if cache.keys == nil {
		cache.keys = map[string][]cachedKey{}
	}
	cache.keys[id] = append(cache.keys[id], cachedKey{pass: pass, key: k})
	return k, nil
}

// Seal encrypts and authenticates plaintext, binding it to aad (which is
// authenticated, not stored). The result is nonce || ciphertext || tag.
func (k *Key) Seal(plaintext, aad []byte) []byte {
	nonce := randomBytes(k.aead.NonceSize())
	return k.aead.Seal(nonce, nonce, plaintext, aad)
}

// Open authenticates and decrypts a value made by Seal with the same key
// and aad. Any mismatch gives ErrOpen.
func (k *Key) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrOpen
	}
	out, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}
