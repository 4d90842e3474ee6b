package apply

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
)

// FastToken is token's fast path, for the common case of a program asking
// again and again for a token that is still valid: it reads the record
// straight from the state at its default place, without loading the
// configuration (parsing thousands of connections costs far more than the
// read).
type FastToken struct {
	// Conn is the connection whose token is asked for.
	Conn string
	// MinValid: a token that expires within it is not valid enough.
	MinValid time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Encrypted says that encryption at rest is configured (a
	// passphrase in the environment): a plain state is then refused.
	Encrypted bool
	// Open opens the local state at path (the default one).
	Open func(path string) (state.Store, error)
}

// Valid returns the connection's record when its token is valid for at
// least MinValid and nothing else may be needed. It returns nil, and the
// full path (Refresher.Ensure) must run, whenever anything else may be
// needed: an oauthform block in the current directory's configuration
// (another state path, a passphrase), a missing or sealed record, a status
// other than active, tokens kept outside the state, or a token that
// expires within MinValid.
func (f *FastToken) Valid(ctx context.Context) *state.Record {
	paths, err := filepath.Glob("*" + config.FileSuffix)
	if err != nil || len(paths) == 0 {
		return nil
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || hasSettingsBlock(b) {
			return nil
		}
	}
	path := config.DefaultStatePath
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	st, err := f.Open(path)
	if err != nil {
		return nil
	}
	defer st.Close()
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	return ValidStored(ctx, st, f.Conn, f.MinValid, now(), filepath.Dir(path), f.Encrypted)
}

// ValidStored returns conn's record from st, read without its lock, when
// its token is valid for at least minValid and nothing else may be
// needed; nil otherwise: a missing or sealed record, a status other than
// active, a refresh in flight, tokens kept outside the state in dir (a
// custody or emergency file), a plain state while encrypted says
// encryption is configured, or a token that expires within minValid.
// Reading without the lock is safe for a valid token: a refresh elsewhere
// leaves it valid until it expires. The full path (Refresher.Ensure)
// handles every other case.
func ValidStored(ctx context.Context, st state.Store, conn string, minValid time.Duration, now time.Time, dir string, encrypted bool) *state.Record {
	rec, err := st.Get(ctx, conn)
	if err != nil || rec.Sealed || rec.Status != state.StatusActive || rec.Access.IsZero() || rec.InFlight != nil {
		return nil
	}
	if encrypted {
		er, ok := st.(state.EncryptionReporter)
		if !ok {
			return nil
		}
		if enc, err := er.Encrypted(ctx); err != nil || !enc {
			return nil
		}
	}
	if c, err := CustodyOf(dir, rec); err != nil || c != nil {
		return nil
	}
	if !rec.Expiry.IsZero() && !rec.Expiry.After(now.Add(minValid)) {
		return nil
	}
	return rec
}

// hasSettingsBlock reports whether src may hold an oauthform block (which
// may move the state or hold its passphrase): the word at the start of a
// line, followed by "{". A plain scan: a regexp over a large configuration
// cost more than the whole fast path.
func hasSettingsBlock(src []byte) bool {
	const word = "oauthform"
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte(word))
		if j < 0 {
			return false
		}
		j += i
		k := j - 1
		for k >= 0 && (src[k] == ' ' || src[k] == '\t') {
			k--
		}
		m := j + len(word)
		for m < len(src) && (src[m] == ' ' || src[m] == '\t') {
			m++
		}
		if (k < 0 || src[k] == '\n') && m < len(src) && src[m] == '{' {
			return true
		}
		i = j + len(word)
	}
}
