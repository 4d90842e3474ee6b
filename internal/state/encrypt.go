package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/seal"
	"github.com/oauthform/oauthform/internal/secret"
)

// keyEncryption is the meta entry of an encrypted state: encryptionMeta
// as JSON. Its absence means the state is not encrypted.
const keyEncryption = "encryption"

// encryptionMeta describes how an encrypted state's records are sealed.
// Nothing in it is secret.
type encryptionMeta struct {
	Version int    `json:"version"` // encryptionVersion
	Cipher  string `json:"cipher"`  // seal.CipherXChaCha20Poly1305
	seal.Params
	// Check is checkPlaintext sealed with the state's key and checkAAD: a
	// passphrase is right when it opens, whatever the records hold.
	Check []byte `json:"check"`
}

const encryptionVersion = 1

// checkPlaintext is the sealed check value's content.
const checkPlaintext = "oauthform passphrase check"

func checkAAD(lineage string) []byte {
	return []byte("oauthform/state/check/v1\x00" + lineage)
}

// kdfParams gives the parameters of a new key. Tests replace it with cheap
// parameters (see TestMain); the binary always uses seal.NewParams.
var kdfParams = seal.NewParams

// testHookRewrite, when set, is called before each record a migration
// (turning encryption on, Rekey) rewrites; an error aborts the
// transaction. Tests use it to fail half-way.
var testHookRewrite func(i int) error

// parseEncryption decodes and validates the encryption meta entry.
func parseEncryption(raw []byte) (*encryptionMeta, error) {
	var e encryptionMeta
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("%w: invalid %s entry in meta (%s)", ErrCorrupt, keyEncryption, jsonErrorKind(err))
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

// newEncryption derives a key for pass with fresh parameters (a new salt)
// and makes the meta entry, check value included, for the state lineage.
func newEncryption(pass secret.Secret, lineage string) (*encryptionMeta, *seal.Key, error) {
	p := kdfParams()
	key, err := seal.Derive(pass, p)
	if err != nil {
		return nil, nil, err
	}
	e := &encryptionMeta{
		Version: encryptionVersion, Cipher: seal.CipherXChaCha20Poly1305, Params: p,
		Check: key.Seal([]byte(checkPlaintext), checkAAD(lineage)),
	}
	return e, key, nil
}

// openWith derives the key of an encrypted state from pass and checks it
// against the sealed check value: ErrWrongPassphrase when it does not open.
func openWith(pass secret.Secret, e *encryptionMeta, lineage string) (*seal.Key, error) {
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
func sameEncryption(a, b *encryptionMeta) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Check, b.Check)
}

// passphrase returns the store's current passphrase.
func (s *BoltStore) passphrase() secret.Secret {
	if p := s.pass.Load(); p != nil {
		return *p
	}
	return secret.Secret{}
}

// readSealer returns what opens the records of the state described by m:
// nil for an unencrypted state, and for an encrypted one read without a
// passphrase (its records then read as Sealed). A wrong passphrase gives
// ErrWrongPassphrase.
func (s *BoltStore) readSealer(m *metaInfo) (*sealer, error) {
	pass := s.passphrase()
	if m.enc == nil || pass.IsZero() {
		return nil, nil
	}
	key, err := openWith(pass, m.enc, m.lineage)
	if err != nil {
		return nil, err
	}
	return &sealer{key: key, lineage: m.lineage}, nil
}

// writePlan is how a write seals what it writes.
type writePlan struct {
	enc    *encryptionMeta // the state's encryption as read (nil: none)
	sl     *sealer         // seals the records written; nil: unsealed
	enable *encryptionMeta // set: this write turns encryption on with it
	// postponed: the store has a passphrase, the state is not encrypted,
	// and this write cannot turn encryption on (it holds only a
	// connection lock): it writes unsealed.
	postponed bool
}

// planWrite decides how a write to the state described by m seals: with
// the state's key (the passphrase must open it), unsealed, or turning
// encryption on because the store has a passphrase and the state is not
// encrypted, when mayEnable (see update); without mayEnable such a write
// is postponed: unsealed. sealing says the write stores records; one that
// does not (Delete) may go on without the passphrase on an encrypted
// state, but never with a wrong one. planWrite derives keys, so it runs
// outside transactions.
func (s *BoltStore) planWrite(m *metaInfo, sealing, mayEnable bool) (*writePlan, error) {
	pass := s.passphrase()
	p := &writePlan{enc: m.enc}
	switch {
	case m.enc != nil && pass.IsZero():
		if sealing {
			return nil, ErrSealed
		}
	case m.enc != nil:
		sl, err := s.readSealer(m)
		if err != nil {
			return nil, err
		}
		p.sl = sl
	case !pass.IsZero() && !mayEnable:
		p.postponed = true
	case !pass.IsZero():
		e, key, err := newEncryption(pass, m.lineage)
		if err != nil {
			return nil, err
		}
		p.sl, p.enable = &sealer{key: key, lineage: m.lineage}, e
	}
	return p, nil
}

// rewriteAll re-encodes every record of conns from the encoding described
// by from (nil: unsealed, or sealed without a key when fromEncrypted) to
// the one of to (nil: unsealed), in the caller's transaction. It returns
// the number of records rewritten.
func rewriteAll(conns *bolt.Bucket, from, to *sealer, fromEncrypted bool) (int, error) {
	type kv struct{ k, v []byte }
	var all []kv
	err := conns.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("%w: unexpected nested bucket %q in %q", ErrCorrupt, k, bucketConns)
		}
		all = append(all, kv{bytes.Clone(k), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return 0, err
	}
	if fromEncrypted && from == nil {
		return 0, ErrSealed
	}
	for i, e := range all {
		if testHookRewrite != nil {
			if err := testHookRewrite(i); err != nil {
				return i, err
			}
		}
		rec, err := decodeStored(string(e.k), e.v, fromEncrypted, from)
		if err != nil {
			return i, err // it names the record
		}
		data, err := encodeRecord(rec, to)
		if err != nil {
			return i, err
		}
		if err := conns.Put(e.k, data); err != nil {
			return i, err
		}
	}
	return len(all), nil
}

// setEncryption writes e (nil: none) into meta with the matching format
// version.
func setEncryption(mb *bolt.Bucket, e *encryptionMeta) error {
	if e == nil {
		if err := mb.Delete([]byte(keyEncryption)); err != nil {
			return err
		}
		return mb.Put([]byte(keyFormat), []byte(strconv.Itoa(formatPlain)))
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := mb.Put([]byte(keyEncryption), b); err != nil {
		return err
	}
	return mb.Put([]byte(keyFormat), []byte(strconv.Itoa(formatEncrypted)))
}

// Rekey implements Rekeyer.
func (s *BoltStore) Rekey(ctx context.Context, newPass secret.Secret) (*RekeyResult, error) {
	const what = "re-encrypting state"
	if err := s.readable(ctx, what); err != nil {
		return nil, err
	}
	s.mu.Lock()
	locked := s.lockFile != nil
	s.mu.Unlock()
	if !locked {
		return nil, fmt.Errorf("%s %s: %w (take it with Lock first)", what, s.path, ErrNotLocked)
	}

	release, err := s.lockAllConns(ctx, what, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer release()

	var res RekeyResult
	err = s.write(ctx, "", what, func(m *metaInfo) (func(*bolt.Tx, *metaInfo) error, error) {
		// Outside the transaction: check the current passphrase and
		// derive the new key.
		if m.enc != nil {
			if s.passphrase().IsZero() {
				return nil, ErrSealed
			}
			if _, err := s.readSealer(m); err != nil {
				return nil, err
			}
		}
		var newEnc *encryptionMeta
		var to *sealer
		if !newPass.IsZero() {
			e, key, err := newEncryption(newPass, m.lineage)
			if err != nil {
				return nil, err
			}
			newEnc, to = e, &sealer{key: key, lineage: m.lineage} // the lineage never changes
		}
		return func(tx *bolt.Tx, m *metaInfo) error {
			from, err := s.readSealer(m) // cached, unless m changed since the first read
			if err != nil {
				return err
			}
			n, err := rewriteAll(tx.Bucket([]byte(bucketConns)), from, to, m.enc != nil)
			if err != nil {
				return err
			}
			if err := setEncryption(tx.Bucket([]byte(bucketMeta)), newEnc); err != nil {
				return err
			}
			res = RekeyResult{Records: n, WasEncrypted: m.enc != nil, Encrypted: newEnc != nil, Serial: m.serial + 1}
			return nil
		}, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	p := newPass
	s.pass.Store(&p)
	return &res, nil
}

// holdsConnLock reports whether this store holds conn's lock.
func (s *BoltStore) holdsConnLock(conn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connLocks[conn] != nil
}

// lockAllConns takes the lock of every connection in the state that this
// store does not hold yet, for a change of encryption, which rewrites every
// record and then replaces the file (compact). With the operation lock,
// which the caller holds, no other process can then be writing: `token`
// writes a record under its connection lock only, and would otherwise
// write it back under the old key, or into the replaced file; new records
// are only made under the operation lock. It waits up to the lock timeout,
// and at least minWait, for the refreshes in flight.
func (s *BoltStore) lockAllConns(ctx context.Context, what string, minWait time.Duration) (release func(), err error) {
	var names []string
	err = view(s.path, func(tx *bolt.Tx, _ *metaInfo) error {
		return tx.Bucket([]byte(bucketConns)).ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if errors.Is(err, errMissing) {
		return nil, fmt.Errorf("%s %s: %w", what, s.path, ErrNoState)
	}
	if err != nil {
		return nil, explain(what, s.path, err)
	}
	slices.Sort(names)
	s.mu.Lock()
	wait := max(s.opts.LockTimeout, minWait)
	s.mu.Unlock()
	release, err = lockEach(ctx, names, wait, s.holdsConnLock, s.LockConn)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, s.path, err)
	}
	return release, nil
}

// lockEach takes the lock of every connection in names that is not held
// yet (held), in order, waiting up to wait for each; on a failure it
// releases those it took. Both backends' lockAllConns use it.
func lockEach(ctx context.Context, names []string, wait time.Duration, held func(string) bool,
	lock func(context.Context, string, time.Duration) (func() error, error),
) (release func(), err error) {
	var releases []func() error
	release = func() {
		for _, r := range releases {
			_ = r()
		}
	}
	for _, name := range names {
		if held(name) {
			continue
		}
		r, err := lock(ctx, name, wait)
		if err != nil {
			release()
			return nil, err
		}
		releases = append(releases, r)
	}
	return release, nil
}

// holdsOpLock reports whether this store holds the operation lock.
func (s *BoltStore) holdsOpLock() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lockFile != nil
}

// compact replaces the state file with a fresh copy of its live data:
// bolt.Compact into a temporary file beside it (0600; bbolt fsyncs each
// commit), renamed over the state, the folder fsynced, so that a crash
// leaves the old file or the new one, never neither. bbolt does not clear
// the pages a transaction frees, so after a change of encryption they
// would still hold the secrets in their old form (in the clear, or under
// the old key), and after a Delete the removed record (Purge).
//
// It holds bbolt's exclusive lock on the old file from before it reads it
// until the new one is in place and then has run (nil: nothing): a
// reader or writer elsewhere that opened the old file meanwhile gets its
// lock only then, finds the file replaced and opens the new one (view,
// commit), so no write goes into the old file and no backup copies it.
// On Windows the rename over a file that is open (here src, held open for
// that exclusion) is refused, so compact fails there and leaves the old
// file, correct but with its freed pages not cleared; its callers report
// that. The caller holds s.wmu and the operation lock.
func (s *BoltStore) compact(then func()) (err error) {
	fl := fileLock(s.path)
	fl.Lock()
	defer fl.Unlock()
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.path)+".compact-*") // 0600
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Close(); err != nil {
		return err
	}
	// Opened read-write for bbolt's exclusive lock; nothing is written
	// to it.
	src, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: dbTimeout})
	if err != nil {
		return openError(s.path, err)
	}
	defer func() {
		if cerr := src.Close(); err == nil {
			err = cerr
		}
	}()
	dst, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: dbTimeout})
	if err != nil {
		return err
	}
	err = bolt.Compact(dst, src, 0)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(name, s.path); err != nil {
		return err
	}
	syncDir(dir)
	if then != nil {
		then()
	}
	return nil
}
