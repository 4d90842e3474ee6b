package views

import (
	"fmt"

	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/state"
)

// Prompt asks for something on stderr (a passphrase).
func (v *View) Prompt(text string) {
	fmt.Fprint(v.Err, text)
}

// RekeyNothing says that state rekey -decrypt found nothing to do.
func (v *View) RekeyNothing(path string) {
	fmt.Fprintf(v.Out, "The state %s is not encrypted: nothing to do.\n", path)
}

// Rekeyed reports what state rekey did to the state at path. configured
// says that encryption is configured; tellNew, that the new passphrase is
// not the one oauthform reads.
func (v *View) Rekeyed(path string, res *state.RekeyResult, configured, tellNew bool) {
	out := v.Out
	switch {
	case !res.Encrypted:
		fmt.Fprintf(out, "Encryption at rest is now off for %s: the secrets of %d connection(s) are stored unsealed (one transaction, serial %d).\n",
			path, res.Records, res.Serial)
		if configured {
			fmt.Fprintf(out, "Remove the encryption block from the configuration and unset %s: with a passphrase, the next apply encrypts the state again.\n", backend.PassphraseEnv)
		}
	case !res.WasEncrypted:
		fmt.Fprintf(out, "Encryption at rest is now on for %s: the secrets of %d connection(s) were sealed in one transaction (serial %d).\n",
			path, res.Records, res.Serial)
	default:
		fmt.Fprintf(out, "The passphrase of %s was changed: the secrets of %d connection(s) were sealed again under the new one in one transaction (serial %d).\n",
			path, res.Records, res.Serial)
	}
	if tellNew {
		fmt.Fprintf(out, "Give oauthform the new passphrase where it reads it (the configuration's encryption block, or %s): the old one no longer opens the state.\n", backend.PassphraseEnv)
	}
}
