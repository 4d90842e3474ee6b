package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/keys"
	"github.com/oauthform/oauthform/internal/state"
)

// resealPlanned finishes the key rotation a plan shows (records sealed
// under the fallback key): every record is resealed under the configured
// key in one transaction (state.Rekey), and the file and its backup are
// rewritten, so the fallback key alone no longer opens the state.
func resealPlanned(ctx context.Context, g *globals, cfg *config.Config, st state.Store) (int, bool) {
	res, err := state.Rekey(ctx, st, backend.Passphrase(cfg))
	switch {
	case errors.Is(err, state.ErrCannotRekey):
		g.view.Diagnostics(nil, errDiag("Cannot reseal the state", "This state backend cannot change its encryption."))
		return ExitError, false
	case err != nil:
		g.view.Diagnostics(nil, g.stateErrDiags("Failed to reseal the state under the new key", err))
		return ExitError, false
	}
	g.view.Resealed(res.Records, !backend.Fallback(cfg).IsZero(), backend.Enforced(cfg))
	return 0, true
}

// runToKeyring is state rekey -to-keyring SERVICE: a new random key is
// stored in the keyring first (so that it is never lost), then every
// record is resealed under it; if that fails, the keyring gets back the
// entry it held before.
func (r *rekeyRun) runToKeyring(ctx context.Context, path string) (*state.RekeyResult, string, hcl.Diagnostics) {
	service := r.a.toKeyring
	kr := r.g.keyResolver()
	previous, prevErr := kr.Resolve(ctx, keys.Source{Keyring: service})
	key := keys.NewKey()
	if err := kr.StoreInKeyring(service, key); err != nil {
		return nil, path, errDiag("Cannot store the new key in the keyring", err.Error()+".\n\nNothing was changed.")
	}
	res, err := r.rk.Run(ctx, key)
	if err != nil {
		if prevErr == nil {
			_ = kr.StoreInKeyring(service, previous)
		}
		return nil, path, rekeyErrDiags(r.g, err, path)
	}
	r.g.view.RekeyedToKeyring(path, res, service)
	return res, path, nil
}

// sealedStateDiags is the refusal of command (apply, refresh, destroy)
// on an encrypted state read without its key, before a grant is made
// whose tokens could not be stored; enforced names the setting.
func sealedStateDiags(command string, enforced bool) hcl.Diagnostics {
	if enforced {
		return errDiag("The state is encrypted", fmt.Sprintf("oauthform %s: %s. Give its key with a key provider in the configuration's encryption block "+
			"(passphrase, passphrase_command, keyring or key_file) or with %s; see docs/keys.md.", command, state.ErrEnforced, passphraseEnv))
	}
	return errDiag("The state is encrypted",
		fmt.Sprintf("oauthform %s needs the state's passphrase to read and write tokens. Give it with an encryption block in the configuration or with %s; "+
			"to keep tokens unencrypted on purpose, decrypt the state once with \"oauthform state rekey -decrypt\" (it asks for the passphrase).",
			command, passphraseEnv))
}
