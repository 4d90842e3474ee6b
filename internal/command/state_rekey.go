package command

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// passphraseEnv gives the state's passphrase when the configuration has no
// encryption block.
const passphraseEnv = backend.PassphraseEnv

const stateRekeyHelp = `Usage: oauthform state rekey [options]

Change the passphrase that seals the state's secrets at rest, or turn
encryption at rest on or off. Every record is rewritten in one transaction,
under the state lock and after the refreshes in flight; the file and its
backup are then rewritten so that no copy in the old form is left.

The current passphrase is the one oauthform uses for the state: the
configuration's encryption block, else OAUTHFORM_PASSPHRASE, else
-passphrase-env; on a terminal it is asked for when none is given. The new
one comes from -new-passphrase-env, or is asked for twice on a terminal. On
a state that is not encrypted yet, the configured passphrase is used when no
new one is given: that turns encryption on.

Afterwards, give oauthform the new passphrase where it reads it: the old one
no longer opens the state.

Options:
  -new-passphrase-env=NAME  Read the new passphrase from environment variable NAME.
  -passphrase-env=NAME      Read the current passphrase from environment variable NAME.
  -to-keyring=SERVICE       Seal under a new random key stored in the OS keyring
                            under SERVICE; then set keyring = "SERVICE" in the
                            encryption block.
  -decrypt                  Turn encryption off: store the secrets unsealed
                            (refused while the configuration sets enforced = true).
  -lock-timeout=D           Wait up to D for the state lock.
  -state=PATH               Use this state file instead of the configured one.
  -var, -var-file           Variables, as for plan.
`

// stateRekeyArgs are the arguments of `oauthform state rekey`.
type stateRekeyArgs struct {
	sf             stateFlags
	newEnv, curEnv string
	toKeyring      string
	decrypt        bool
	lockTimeout    time.Duration
}

func parseStateRekeyArgs(args []string) (*stateRekeyArgs, bool, hcl.Diagnostics) {
	a := &stateRekeyArgs{}
	fs := newFlagSet("state rekey")
	a.sf.register(fs)
	fs.StringVar(&a.newEnv, "new-passphrase-env", "", "")
	fs.StringVar(&a.curEnv, "passphrase-env", "", "")
	fs.BoolVar(&a.decrypt, "decrypt", false, "")
	fs.StringVar(&a.toKeyring, "to-keyring", "", "")
	lockTimeout := fs.String("lock-timeout", "0s", "")
	help, diags := parseFlags(fs, args, stateRekeyHelp)
	if help {
		return a, true, nil
	}
	if !diags.HasErrors() && fs.NArg() != 0 {
		diags = errDiag("Invalid command line", "state rekey takes no arguments.\n\n"+stateRekeyHelp)
	}
	if !diags.HasErrors() && a.decrypt && a.newEnv != "" {
		diags = errDiag("Invalid command line", "-decrypt and -new-passphrase-env contradict each other: -decrypt turns encryption off.")
	}
	if !diags.HasErrors() && a.toKeyring != "" && (a.decrypt || a.newEnv != "") {
		diags = errDiag("Invalid command line", "-to-keyring makes the new key itself: it goes with neither -decrypt nor -new-passphrase-env.")
	}
	var tdiags hcl.Diagnostics
	a.lockTimeout, tdiags = parseLockTimeout(*lockTimeout)
	return a, false, append(diags, tdiags...)
}

// rekeyRun is one run of state rekey.
type rekeyRun struct {
	g          *globals
	a          *stateRekeyArgs
	configured secret.Secret // the passphrase oauthform uses for the state
	in         *bufio.Reader
	rk         *state.Rekeying
}

func runStateRekey(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStateRekeyArgs(args)
	if code, done := g.parsed(stateRekeyHelp, help, diags); done {
		return code
	}
	target, cfg, diags := a.sf.locate(g)
	if g.failed(files(cfg), diags) {
		return ExitError
	}
	if a.decrypt && backend.Enforced(cfg) {
		g.view.Diagnostics(files(cfg), errDiag("Encryption at rest is enforced", fmt.Sprintf(
			"The configuration sets enforced = true in its encryption block (%s): state rekey -decrypt would store the tokens unsealed. "+
				"Remove enforced = true first if that is really wanted.", cfg.Settings.Encryption.EnforcedAt())))
		return ExitError
	}
	r := &rekeyRun{g: g, a: a, configured: target.passphrase(), in: bufio.NewReader(g.streams.In)}
	current := r.configured
	if a.curEnv != "" {
		if current, diags = passphraseFromEnv("-passphrase-env", a.curEnv); diags.HasErrors() {
			g.view.Diagnostics(nil, diags)
			return ExitError
		}
	}
	r.rk = &state.Rekeying{Open: target.opener(g), Current: current, LockTimeout: a.lockTimeout}
	res, path, diags := r.run(ctx)
	switch {
	case diags.HasErrors():
		g.view.Diagnostics(nil, diags)
		return ExitError
	case res == nil:
		g.view.RekeyNothing(path)
		return ExitOK
	}
	return ExitOK
}

// run reads the state, asks for what is missing, and rekeys it. A nil
// result without errors means there was nothing to do.
func (r *rekeyRun) run(ctx context.Context) (*state.RekeyResult, string, hcl.Diagnostics) {
	// Read the state first: is it encrypted, and does the passphrase open it?
	snap, path, d := r.probe(ctx)
	if d.HasErrors() {
		return nil, path, d
	}
	if r.a.decrypt && !snap.Encrypted {
		return nil, path, nil
	}
	if r.a.toKeyring != "" {
		return r.runToKeyring(ctx, path)
	}
	newPass, d := r.newPassphrase(snap)
	if d.HasErrors() {
		return nil, path, d
	}
	res, err := r.rk.Run(ctx, newPass)
	if err != nil {
		return nil, path, rekeyErrDiags(r.g, err, path)
	}
	r.g.view.Rekeyed(path, res, !r.configured.IsZero(), res.Encrypted && !newPass.Equal(r.configured))
	return res, path, nil
}

// probe reads the state with the current passphrase, asking for it on a
// terminal when the state is encrypted and none was given.
func (r *rekeyRun) probe(ctx context.Context) (*state.Snapshot, string, hcl.Diagnostics) {
	snap, path, d := rekeyProbe(ctx, r.g, r.rk)
	if d.HasErrors() {
		return nil, path, d
	}
	if snap.Empty() {
		return nil, path, errDiag("No state", fmt.Sprintf("There is no state at %s yet. Run \"oauthform init\" first.", path))
	}
	if !snap.Encrypted || !r.rk.Current.IsZero() {
		return snap, path, nil
	}
	if !r.g.streams.InTerminal {
		return nil, path, errDiag("The current passphrase is needed", fmt.Sprintf("The state %s is encrypted. Give its current passphrase "+
			"with the configuration's encryption block, %s or -passphrase-env=NAME, or run this in a terminal to be asked for it.", path, passphraseEnv))
	}
	p, err := readPassphrase(r.g, r.in, "Current passphrase: ")
	if err != nil {
		return nil, path, wrapErr("Cannot read the passphrase", err)
	}
	r.rk.Current = p
	return rekeyProbe(ctx, r.g, r.rk)
}

// newPassphrase is the passphrase the state is sealed with from now on:
// zero with -decrypt, else -new-passphrase-env's, the configured one for a
// state not encrypted yet, or one asked for twice on a terminal.
func (r *rekeyRun) newPassphrase(snap *state.Snapshot) (secret.Secret, hcl.Diagnostics) {
	switch {
	case r.a.decrypt:
		return secret.Secret{}, nil
	case r.a.newEnv != "":
		return passphraseFromEnv("-new-passphrase-env", r.a.newEnv)
	case !snap.Encrypted && !r.configured.IsZero():
		return r.configured, nil // turn encryption on as configured
	case r.g.streams.InTerminal:
		p, err := readPassphrase(r.g, r.in, "New passphrase: ")
		if err == nil && p.IsZero() {
			err = errors.New("the new passphrase is empty; to turn encryption off, use -decrypt")
		}
		var again secret.Secret
		if err == nil {
			again, err = readPassphrase(r.g, r.in, "Repeat the new passphrase: ")
		}
		if err == nil && !again.Equal(p) {
			err = errors.New("the two passphrases differ; nothing was changed")
		}
		if err != nil {
			return secret.Secret{}, wrapErr("Cannot read the new passphrase", err)
		}
		return p, nil
	}
	return secret.Secret{}, errDiag("The new passphrase is needed", "Give it with -new-passphrase-env=NAME (the name of an environment variable holding it), "+
		"or run this in a terminal to be asked for it; -decrypt turns encryption off instead.")
}

// rekeyProbe reads the state with rk.Current (state.Rekeying.Probe).
func rekeyProbe(ctx context.Context, g *globals, rk *state.Rekeying) (*state.Snapshot, string, hcl.Diagnostics) {
	snap, path, err := rk.Probe(ctx)
	if err != nil {
		return nil, "", rekeyErrDiags(g, err, path)
	}
	return snap, path, nil
}

// rekeyErrDiags explains an error of state.Rekeying.
func rekeyErrDiags(g *globals, err error, path string) hcl.Diagnostics {
	var se *state.StepError
	switch {
	case errors.Is(err, state.ErrCannotRekey) && errors.As(err, &se):
		return errDiag(se.Step, fmt.Sprintf("The state backend of %s cannot change its encryption.", se.Name))
	case errors.As(err, &se):
		return g.stateErrDiags(se.Step, se.Err)
	}
	return g.stateErrDiags("Failed to re-encrypt the state", err)
}

// passphraseFromEnv reads a passphrase from the environment variable name,
// given with flag.
func passphraseFromEnv(flag, name string) (secret.Secret, hcl.Diagnostics) {
	v := os.Getenv(name)
	if v == "" {
		return secret.Secret{}, errDiag("Invalid command line", fmt.Sprintf("%s=%s: the environment variable %s is not set or empty.", flag, name, name))
	}
	return secret.New(v), nil
}

// readPassphrase asks for a passphrase on the terminal, without echo when
// stdin is one (a test harness that only claims a terminal gets a line).
func readPassphrase(g *globals, in *bufio.Reader, prompt string) (secret.Secret, error) {
	g.view.Prompt(prompt)
	if f, ok := g.streams.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		g.view.Prompt("\n")
		if err != nil {
			return secret.Secret{}, err
		}
		return secret.New(string(b)), nil
	}
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return secret.Secret{}, fmt.Errorf("no passphrase on standard input: %w", err)
	}
	return secret.New(strings.TrimRight(line, "\r\n")), nil
}
