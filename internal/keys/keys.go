// Package keys resolves the key providers of encryption at rest: where
// the secret that seals a state comes from. A provider gives a passphrase
// (secret.Secret) that the state core derives its key from (Argon2id);
// the secret is resolved once per process by its caller, held in memory
// only, and never written anywhere.
//
// The providers:
//
//   - Passphrase: a literal, a sensitive variable or env(...), from the
//     configuration;
//   - Command: a program run without a shell, its standard output (one
//     trailing newline trimmed) being the passphrase;
//   - Keyring: an entry of the OS keyring (macOS Keychain, Windows
//     Credential Manager, Secret Service on Linux);
//   - KeyFile: a file holding 32 random bytes in base64, mode 0600.
package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// Provider kinds, as the configuration's attributes name them.
const (
	KindPassphrase = "passphrase"
	KindCommand    = "passphrase_command"
	KindKeyring    = "keyring"
	KindKeyFile    = "key_file"
)

// KeyringUser is the account name of oauthform's entries in the OS
// keyring: the service (keyring = "SERVICE") tells them apart.
const KeyringUser = "oauthform"

// DefaultCommandTimeout bounds a passphrase_command.
const DefaultCommandTimeout = 30 * time.Second

// keySize is the number of random bytes of a generated key (key_file,
// state rekey -to-keyring).
const keySize = 32

// Source is one configured key provider: exactly one of its fields is
// set.
type Source struct {
	Passphrase secret.Secret
	Command    []string
	Keyring    string
	KeyFile    string
}

// Kind names the provider s configures ("" when none).
func (s Source) Kind() string {
	switch {
	case !s.Passphrase.IsZero():
		return KindPassphrase
	case len(s.Command) > 0:
		return KindCommand
	case s.Keyring != "":
		return KindKeyring
	case s.KeyFile != "":
		return KindKeyFile
	}
	return ""
}

// IsZero reports whether s configures no provider.
func (s Source) IsZero() bool { return s.Kind() == "" }

// String describes s for messages: the provider and what it names (the
// command's program, the keyring service, the file), never a secret.
func (s Source) String() string {
	switch s.Kind() {
	case KindPassphrase:
		return "passphrase"
	case KindCommand:
		return fmt.Sprintf("passphrase_command %q", s.Command[0])
	case KindKeyring:
		return fmt.Sprintf("keyring %q", s.Keyring)
	case KindKeyFile:
		return fmt.Sprintf("key_file %q", s.KeyFile)
	}
	return "no key provider"
}

// Keyring is the OS keyring, or a stand-in for tests.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
}

// ErrKeyringNotFound is what a Keyring's Get returns for a missing entry.
var ErrKeyringNotFound = errors.New("no such entry in the keyring")

// Resolver resolves Sources.
type Resolver struct {
	// Keyring is the keyring; nil is the OS keyring (OSKeyring).
	Keyring Keyring
	// Timeout bounds a passphrase_command; zero is DefaultCommandTimeout.
	Timeout time.Duration
	// Dir is the folder relative key_file paths and commands start in
	// ("": the current one).
	Dir string
	// Stderr receives a passphrase_command's standard error (a password
	// manager's prompt or complaint, for the person); nil discards it.
	Stderr io.Writer
}

func (r *Resolver) keyring() Keyring {
	if r == nil || r.Keyring == nil {
		return OSKeyring{}
	}
	return r.Keyring
}

// Resolve returns the passphrase s gives. Its errors name the provider
// (the command, the keyring service, the file) and never hold the secret
// or a command's output.
func (r *Resolver) Resolve(ctx context.Context, s Source) (secret.Secret, error) {
	if r == nil {
		r = &Resolver{}
	}
	switch s.Kind() {
	case KindPassphrase:
		return s.Passphrase, nil
	case KindCommand:
		return r.runCommand(ctx, s.Command)
	case KindKeyring:
		return r.fromKeyring(s.Keyring)
	case KindKeyFile:
		return readKeyFile(r.path(s.KeyFile), s.KeyFile)
	}
	return secret.Secret{}, errors.New("no key provider is configured")
}

func (r *Resolver) path(p string) string {
	if r.Dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.Dir, p)
}

// runCommand runs argv without a shell and returns its standard output,
// less one trailing newline (\n or \r\n).
func (r *Resolver) runCommand(ctx context.Context, argv []string) (secret.Secret, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	name := fmt.Sprintf("passphrase_command %q", argv[0])
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = r.Dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = r.Stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	defer clear(out.Bytes())
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return secret.Secret{}, fmt.Errorf("%s did not finish within %s; nothing was read or written", name, timeout)
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return secret.Secret{}, fmt.Errorf("%s: the program was not found; nothing was read or written", name)
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return secret.Secret{}, fmt.Errorf("%s failed (exit status %d; its output is not shown: run it yourself to see why); nothing was read or written", name, ee.ExitCode())
		}
		return secret.Secret{}, fmt.Errorf("%s could not run (%s); nothing was read or written", name, errKind(err))
	}
	s := strings.TrimSuffix(strings.TrimSuffix(out.String(), "\n"), "\r")
	if s == "" {
		return secret.Secret{}, fmt.Errorf("%s printed nothing: the passphrase must not be empty; nothing was read or written", name)
	}
	return secret.New(s), nil
}

// errKind is a short, secret-free description of an error starting a
// program.
func errKind(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "error starting it"
}

func (r *Resolver) fromKeyring(service string) (secret.Secret, error) {
	v, err := r.keyring().Get(service, KeyringUser)
	switch {
	case errors.Is(err, ErrKeyringNotFound):
		return secret.Secret{}, fmt.Errorf("keyring %q: the OS keyring has no entry for service %q (user %q); store a new key there with \"oauthform state rekey -to-keyring %s\"",
			service, service, KeyringUser, service)
	case err != nil:
		return secret.Secret{}, fmt.Errorf("keyring %q: %w", service, err)
	case v == "":
		return secret.Secret{}, fmt.Errorf("keyring %q: the entry is empty", service)
	}
	return secret.New(v), nil
}

// NewKey returns a new random key: 32 bytes from crypto/rand, in
// base64, as key_file and the keyring hold it.
func NewKey() secret.Secret {
	b := make([]byte, keySize)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	s := base64.StdEncoding.EncodeToString(b)
	clear(b)
	return secret.New(s)
}

// StoreInKeyring stores key in the keyring r uses under service.
func (r *Resolver) StoreInKeyring(service string, key secret.Secret) error {
	if err := r.keyring().Set(service, KeyringUser, key.Reveal()); err != nil {
		return fmt.Errorf("keyring %q: %w", service, err)
	}
	return nil
}

// ReadKeyFile reads a key_file: it must be a regular file of mode 0600
// (on Unix; Windows has no such modes) holding 32 bytes in base64 (a
// trailing newline allowed). The passphrase is the base64 text.
func ReadKeyFile(path string) (secret.Secret, error) { return readKeyFile(path, path) }

// readKeyFile is ReadKeyFile, naming the file as configured in messages.
func readKeyFile(path, configured string) (secret.Secret, error) {
	name := fmt.Sprintf("key_file %q", configured)
	fi, err := os.Stat(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return secret.Secret{}, fmt.Errorf("%s: %v", name, err)
	}
	if !fi.Mode().IsRegular() {
		return secret.Secret{}, fmt.Errorf("%s is not a regular file", name)
	}
	if err := checkKeyFileMode(fi.Mode()); err != nil {
		return secret.Secret{}, fmt.Errorf("%s %v; run: chmod 600 %s", name, err, configured)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.Secret{}, fmt.Errorf("%s: %v", name, errKind(err))
	}
	defer clear(b)
	text := strings.TrimRight(string(b), "\r\n")
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(raw) != keySize {
		return secret.Secret{}, fmt.Errorf("%s must hold %d random bytes in base64 (make one with: head -c 32 /dev/urandom | base64 > %s; chmod 600 %s)", name, keySize, configured, configured)
	}
	clear(raw)
	return secret.New(text), nil
}

// WriteKeyFile writes a new random key to path, mode 0600, refusing to
// replace an existing file.
func WriteKeyFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	k := NewKey()
	if _, err := f.WriteString(k.Reveal() + "\n"); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
