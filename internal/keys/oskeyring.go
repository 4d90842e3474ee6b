package keys

import (
	"errors"
	"fmt"

	gokeyring "github.com/zalando/go-keyring"
)

// OSKeyring is the operating system's keyring, through
// github.com/zalando/go-keyring: the macOS Keychain, the Windows
// Credential Manager, or the Secret Service (GNOME Keyring, KWallet) over
// D-Bus on Linux and the BSDs.
type OSKeyring struct{}

// Get reads the entry of service and user.
func (OSKeyring) Get(service, user string) (string, error) {
	v, err := gokeyring.Get(service, user)
	return v, keyringErr(err)
}

// Set stores password as the entry of service and user.
func (OSKeyring) Set(service, user, password string) error {
	return keyringErr(gokeyring.Set(service, user, password))
}

func keyringErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gokeyring.ErrNotFound):
		return ErrKeyringNotFound
	case errors.Is(err, gokeyring.ErrUnsupportedPlatform):
		return fmt.Errorf("no OS keyring is available on this system; use passphrase_command, key_file or passphrase instead (see docs/keys.md)")
	}
	return fmt.Errorf("the OS keyring is not available (%v); use passphrase_command, key_file or passphrase instead (see docs/keys.md)", err)
}
