package views

import (
	"fmt"

	"github.com/oauthform/oauthform/internal/state"
)

// Resealed says that apply resealed every record under the configured
// key: the new key of a rotation (rotated), and recording enforced = true
// (enforced).
func (v *View) Resealed(records int, rotated, enforced bool) {
	if rotated {
		fmt.Fprintf(v.Out, "Resealed the tokens of %d connection(s) under the new key: the fallback key no longer opens the state, and the fallback block can be removed.\n", records)
	} else {
		fmt.Fprintf(v.Out, "Resealed the tokens of %d connection(s) under the configured key.\n", records)
	}
	if enforced {
		fmt.Fprintln(v.Out, "The state records enforced = true: without its key, no command reads or writes its tokens, even with the encryption block removed.")
	}
}

// RekeyedToKeyring reports state rekey -to-keyring SERVICE.
func (v *View) RekeyedToKeyring(path string, res *state.RekeyResult, service string) {
	fmt.Fprintf(v.Out, "The secrets of %d connection(s) in %s were sealed in one transaction (serial %d) under a new random key, stored in the OS keyring as service %q.\n",
		res.Records, path, res.Serial, service)
	fmt.Fprintf(v.Out, "Set keyring = %q in the configuration's encryption block (and remove any other key provider): the old key no longer opens the state.\n", service)
}
