package keys

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauthform/oauthform/internal/secret"
	gokeyring "github.com/zalando/go-keyring"
)

func TestPassphraseLiteral(t *testing.T) {
	got, err := (&Resolver{}).Resolve(context.Background(), Source{Passphrase: secret.New("lit-pass")})
	if err != nil || got.Reveal() != "lit-pass" {
		t.Fatalf("Resolve = %v, %v", got, err)
	}
}

func writeKey(t *testing.T, mode os.FileMode, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "state.key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeyFile(t *testing.T) {
	key := NewKey().Reveal()
	p := writeKey(t, 0o600, key+"\n")
	got, err := (&Resolver{}).Resolve(context.Background(), Source{KeyFile: p})
	if err != nil || got.Reveal() != key {
		t.Fatalf("0600: %v", err)
	}
	// Relative paths are the configuration directory's.
	got, err = (&Resolver{Dir: filepath.Dir(p)}).Resolve(context.Background(), Source{KeyFile: "state.key"})
	if err != nil || got.Reveal() != key {
		t.Fatalf("relative: %v", err)
	}
	if _, err := ReadKeyFile(writeKey(t, 0o600, "c2hvcnQ=\n")); err == nil || !strings.Contains(err.Error(), "32 random bytes") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := ReadKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "key_file") {
		t.Fatalf("missing: %v", err)
	}
}

func TestWriteKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if err := WriteKeyFile(p); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(p); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(p); err == nil {
		t.Fatal("replaced an existing key file")
	}
}

type memKeyring map[string]string

func (m memKeyring) Get(service, user string) (string, error) {
	v, ok := m[service+"/"+user]
	if !ok {
		return "", ErrKeyringNotFound
	}
	return v, nil
}

func (m memKeyring) Set(service, user, password string) error {
	m[service+"/"+user] = password
	return nil
}

func TestKeyring(t *testing.T) {
	kr := memKeyring{}
	r := &Resolver{Keyring: kr}
	_, err := r.Resolve(context.Background(), Source{Keyring: "oauthform-prod"})
	if err == nil || !strings.Contains(err.Error(), "-to-keyring oauthform-prod") {
		t.Fatalf("missing entry: %v", err)
	}
	k := NewKey()
	if err := r.StoreInKeyring("oauthform-prod", k); err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(context.Background(), Source{Keyring: "oauthform-prod"})
	if err != nil || !got.Equal(k) {
		t.Fatalf("Resolve = %v", err)
	}
}

func TestSourceString(t *testing.T) {
	for s, want := range map[*Source]string{
		{Passphrase: secret.New("p")}:            "passphrase",
		{Command: []string{"pass", "show", "x"}}: `passphrase_command "pass"`,
		{Keyring: "svc"}:                         `keyring "svc"`,
		{KeyFile: "k"}:                           `key_file "k"`,
		{}:                                       "no key provider",
	} {
		if got := s.String(); got != want {
			t.Errorf("%#v: %q, want %q", s, got, want)
		}
	}
}

func TestKeyringErrorsNameAlternatives(t *testing.T) {
	if err := keyringErr(gokeyring.ErrNotFound); err != ErrKeyringNotFound {
		t.Fatalf("not found: %v", err)
	}
	for _, in := range []error{gokeyring.ErrUnsupportedPlatform, errors.New("The name org.freedesktop.secrets was not provided by any .service files")} {
		err := keyringErr(in)
		for _, want := range []string{"keyring", "passphrase_command", "key_file", "docs/keys.md"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %v should name %q", in, err, want)
			}
		}
	}
}
