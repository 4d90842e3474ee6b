// Package backend opens the state a configuration names: the local bbolt
// file (state_path, or -state) or PostgreSQL (a backend "pg" block), with
// the configured passphrase. It is the one place that calls the state
// backends' constructors, and it keeps connection strings, and the
// passwords they carry, out of every error it returns.
package backend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/keys"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
	statepg "github.com/oauthform/oauthform/internal/state/pg"
)

// PassphraseEnv gives the state's passphrase when the configuration has no
// encryption block.
const PassphraseEnv = "OAUTHFORM_PASSPHRASE"

// Settings say which state to open and how.
type Settings struct {
	// Config is the loaded configuration: its state_path or backend block
	// and its encryption block. It may be nil when Path or PG names the
	// state.
	Config *config.Config
	// Path, when set, is a local state file that overrides the
	// configuration (-state).
	Path string
	// PG, when set, is a PostgreSQL state that overrides the
	// configuration (state migrate -conn-str-env).
	PG *PG
	// Options are the store's. A zero Passphrase is the configured one
	// (Passphrase), unless ExactPassphrase.
	Options state.Options
	// ExactPassphrase keeps a zero Options.Passphrase zero: the state is
	// opened without one.
	ExactPassphrase bool
	// Secrets, when set, collects the connection strings opened, so that
	// errors from the store's later calls can be redacted too.
	Secrets *Secrets
}

// PG is a PostgreSQL state: its connection string and schema.
type PG struct {
	ConnStr secret.Secret
	Schema  string
}

// Open opens the state s names. Its error never holds a connection string
// or its password.
func Open(ctx context.Context, s Settings) (state.Store, error) {
	opts := s.Options
	if err := CheckKeys(s.Config); err != nil {
		return nil, err
	}
	if opts.Passphrase.IsZero() && !s.ExactPassphrase {
		opts.Passphrase = Passphrase(s.Config)
	}
	if opts.Fallback.IsZero() {
		opts.Fallback = Fallback(s.Config)
	}
	opts.Enforced = opts.Enforced || Enforced(s.Config)
	pg := s.PG
	if pg == nil && s.Path == "" && IsPG(s.Config) {
		b := s.Config.Settings.Backend
		pg = &PG{ConnStr: b.ConnStr, Schema: b.Schema}
	}
	if pg != nil {
		s.Secrets.add(pg.ConnStr)
		st, err := statepg.Open(ctx, pg.ConnStr, pg.Schema, opts)
		if err != nil {
			return nil, RedactConnErr(err, pg.ConnStr)
		}
		return st, nil
	}
	path := s.Path
	if path == "" {
		path = StatePath(s.Config)
	}
	st, err := bolt.Open(path, opts)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Passphrase is the passphrase of cfg's state: its encryption block's,
// else OAUTHFORM_PASSPHRASE, else none. A nil cfg (a state named with
// -state) has the environment's.
func Passphrase(cfg *config.Config) secret.Secret {
	if cfg != nil {
		if enc := cfg.Settings.Encryption; enc != nil && !enc.Passphrase.IsZero() {
			return enc.Passphrase
		}
	}
	return secret.New(os.Getenv(PassphraseEnv))
}

// Fallback is the passphrase of cfg's fallback key provider, during a
// rotation (zero: none, or not resolved).
func Fallback(cfg *config.Config) secret.Secret {
	if cfg != nil && cfg.Settings.Encryption != nil {
		return cfg.Settings.Encryption.FallbackPassphrase
	}
	return secret.Secret{}
}

// Enforced reports whether cfg enforces encryption at rest
// (encryption { enforced = true }).
func Enforced(cfg *config.Config) bool {
	return cfg != nil && cfg.Settings.Encryption != nil && cfg.Settings.Encryption.Enforced
}

// ErrNoKey: the configuration enforces encryption at rest and gives no
// key.
var ErrNoKey = errors.New("encryption at rest is enforced and no key provider is configured")

// ErrKeysNotResolved: the configuration's key providers were not resolved
// (ResolveKeys) before the state was opened.
var ErrKeysNotResolved = errors.New("the encryption block's key provider was not resolved")

// ResolveKeys resolves cfg's key providers with r (running a
// passphrase_command, reading the keyring or a key_file), once: the
// secrets stay in cfg, in memory, for this process. Its errors name the
// provider, never a secret or a command's output.
func ResolveKeys(ctx context.Context, cfg *config.Config, r *keys.Resolver) error {
	if cfg == nil || cfg.Settings.Encryption == nil {
		return nil
	}
	rr := *r
	if rr.Dir == "" {
		rr.Dir = cfg.Dir
	}
	return cfg.Settings.Encryption.Resolve(func(src keys.Source) (secret.Secret, error) {
		return rr.Resolve(ctx, src)
	})
}

// CheckKeys refuses to open the state of a configuration that enforces
// encryption without a key (ErrNoKey, naming the setting), or whose key
// provider was not resolved.
func CheckKeys(cfg *config.Config) error {
	if cfg == nil || cfg.Settings.Encryption == nil {
		return nil
	}
	enc := cfg.Settings.Encryption
	if !enc.Key.IsZero() && enc.Passphrase.IsZero() {
		return ErrKeysNotResolved
	}
	if enc.Enforced && Passphrase(cfg).IsZero() {
		return fmt.Errorf("%w: the configuration sets enforced = true in its encryption block (%s), so no token is read or written without a key: "+
			"give one with passphrase, passphrase_command, keyring or key_file in that block (or %s)", ErrNoKey, enc.EnforcedAt(), PassphraseEnv)
	}
	return nil
}

// StatePath resolves the configured local state path against the
// configuration directory.
func StatePath(cfg *config.Config) string {
	p := cfg.Settings.StatePath
	if p == "" {
		p = config.DefaultStatePath
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(cfg.Dir, p)
}

// IsPG reports whether cfg keeps its state in PostgreSQL.
func IsPG(cfg *config.Config) bool {
	return cfg != nil && cfg.Settings.Backend != nil && cfg.Settings.Backend.Type == config.BackendPG
}

// LocalDir is the local folder of cfg's state: the custody journal and
// emergency files live there, for a PostgreSQL state too.
func LocalDir(cfg *config.Config) string {
	return filepath.Dir(StatePath(cfg))
}

// EmergencyDir is where a refresh whose state write failed saves the new
// tokens: the state's folder for a local state (""), and for a PostgreSQL
// state the local folder a local state would have (created, 0700, and
// ignored by git like a local state's: state.MakeDir), never the database
// it could not write to.
func EmergencyDir(cfg *config.Config) string {
	if !IsPG(cfg) {
		return ""
	}
	dir := LocalDir(cfg)
	_ = state.MakeDir(dir)
	return dir
}

// Secrets are the connection strings of the PostgreSQL states one command
// opened: Redact removes them, and their passwords, from its messages. A
// nil *Secrets collects nothing.
type Secrets struct {
	mu       sync.Mutex
	connStrs []secret.Secret
}

func (s *Secrets) add(cs secret.Secret) {
	if s == nil || cs.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connStrs = append(s.connStrs, cs)
}

// Redact is RedactConnErr for every connection string opened.
func (s *Secrets) Redact(err error) error {
	if s == nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.connStrs {
		err = RedactConnErr(err, cs)
	}
	return err
}
