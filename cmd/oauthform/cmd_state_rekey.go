package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

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
  -decrypt                  Turn encryption off: store the secrets unsealed.
  -lock-timeout=D           Wait up to D for the state lock.
  -state=PATH               Use this state file instead of the configured one.
  -var, -var-file           Variables, as for plan.
`

// encryptionErrDiags explains the errors of an encrypted state; nil for
// other errors.
func encryptionErrDiags(summary string, err error) hcl.Diagnostics {
	switch {
	case errors.Is(err, state.ErrWrongPassphrase):
		return errDiag(summary, err.Error()+".\n\nNothing was read or written. oauthform takes the passphrase from the configuration's "+
			"encryption block, or from "+passphraseEnv+" when there is none. If it was changed with \"oauthform state rekey\", give the new one.")
	case errors.Is(err, state.ErrSealed):
		return errDiag(summary, err.Error()+".\n\nThe state's tokens are sealed at rest, and this needs them. Give the passphrase with an "+
			"encryption block in the configuration or with "+passphraseEnv+" (plan and show work without it). "+
			"To stop encrypting the state, run \"oauthform state rekey -decrypt\" with the current passphrase.")
	}
	return nil
}

// readStateSensitive is readState for a command that prints the tokens
// when reveal is set: an encrypted state read without its passphrase holds
// only stand-ins, so it fails clearly instead of printing them.
func readStateSensitive(ctx context.Context, g *globals, t *stateTarget, reveal bool) (*state.Snapshot, hcl.Diagnostics) {
	snap, path, diags := readState(ctx, g, t)
	if diags.HasErrors() || !reveal {
		return snap, diags
	}
	for _, r := range snap.Records {
		if r.Sealed {
			return nil, errDiag("The tokens are sealed", fmt.Sprintf("The state %s is encrypted at rest and no passphrase was given, "+
				"so -show-sensitive cannot show its tokens. Give the passphrase with an encryption block in the configuration or with %s; "+
				"without -show-sensitive, show works without it.", path, passphraseEnv))
		}
	}
	return snap, diags
}

func runStateRekey(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("state rekey")
	var sf stateFlags
	sf.register(fs)
	newEnv := fs.String("new-passphrase-env", "", "")
	curEnv := fs.String("passphrase-env", "", "")
	decrypt := fs.Bool("decrypt", false, "")
	lockTimeout := fs.String("lock-timeout", "0s", "")
	help, diags := parseFlags(fs, args, stateRekeyHelp)
	if help {
		fmt.Fprint(g.streams.Out, stateRekeyHelp)
		return exitOK
	}
	if !diags.HasErrors() && fs.NArg() != 0 {
		diags = errDiag("Invalid command line", "state rekey takes no arguments.\n\n"+stateRekeyHelp)
	}
	if !diags.HasErrors() && *decrypt && *newEnv != "" {
		diags = errDiag("Invalid command line", "-decrypt and -new-passphrase-env contradict each other: -decrypt turns encryption off.")
	}
	timeout, tdiags := parseLockTimeout(*lockTimeout)
	diags = append(diags, tdiags...)
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	fail := func(d hcl.Diagnostics) int {
		writeDiags(g, g.streams.Err, nil, d)
		return exitError
	}
	target, cfg, diags := sf.locate()
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}
	configured := target.passphrase()
	current := configured
	if *curEnv != "" {
		var d hcl.Diagnostics
		if current, d = passphraseFromEnv("-passphrase-env", *curEnv); d.HasErrors() {
			return fail(d)
		}
	}
	in := bufio.NewReader(g.streams.In)

	rk := &state.Rekeying{Open: target.opener(g), Current: current, LockTimeout: timeout}
	// Read the state first: is it encrypted, and does the passphrase open it?
	snap, path, d := rekeyProbe(ctx, g, rk)
	if d.HasErrors() {
		return fail(d)
	}
	if snap.Empty() {
		return fail(errDiag("No state", fmt.Sprintf("There is no state at %s yet. Run \"oauthform init\" first.", path)))
	}
	if snap.Encrypted && current.IsZero() {
		if !g.streams.InTerminal {
			return fail(errDiag("The current passphrase is needed", fmt.Sprintf("The state %s is encrypted. Give its current passphrase "+
				"with the configuration's encryption block, %s or -passphrase-env=NAME, or run this in a terminal to be asked for it.", path, passphraseEnv)))
		}
		p, err := readPassphrase(g, in, "Current passphrase: ")
		if err != nil {
			return fail(wrapErr("Cannot read the passphrase", err))
		}
		current, rk.Current = p, p
		if snap, path, d = rekeyProbe(ctx, g, rk); d.HasErrors() {
			return fail(d)
		}
	}

	var newPass secret.Secret
	switch {
	case *decrypt:
		if !snap.Encrypted {
			fmt.Fprintf(g.streams.Out, "The state %s is not encrypted: nothing to do.\n", path)
			return exitOK
		}
	case *newEnv != "":
		var d hcl.Diagnostics
		if newPass, d = passphraseFromEnv("-new-passphrase-env", *newEnv); d.HasErrors() {
			return fail(d)
		}
	case !snap.Encrypted && !configured.IsZero():
		newPass = configured // turn encryption on as configured
	case g.streams.InTerminal:
		p, err := readPassphrase(g, in, "New passphrase: ")
		if err == nil && p.IsZero() {
			err = errors.New("the new passphrase is empty; to turn encryption off, use -decrypt")
		}
		var again secret.Secret
		if err == nil {
			again, err = readPassphrase(g, in, "Repeat the new passphrase: ")
		}
		if err == nil && !again.Equal(p) {
			err = errors.New("the two passphrases differ; nothing was changed")
		}
		if err != nil {
			return fail(wrapErr("Cannot read the new passphrase", err))
		}
		newPass = p
	default:
		return fail(errDiag("The new passphrase is needed", "Give it with -new-passphrase-env=NAME (the name of an environment variable holding it), "+
			"or run this in a terminal to be asked for it; -decrypt turns encryption off instead."))
	}

	res, err := rk.Run(ctx, newPass)
	if err != nil {
		return fail(rekeyErrDiags(g, err, path))
	}

	out := g.streams.Out
	switch {
	case !res.Encrypted:
		fmt.Fprintf(out, "Encryption at rest is now off for %s: the secrets of %d connection(s) are stored unsealed (one transaction, serial %d).\n",
			path, res.Records, res.Serial)
		if !configured.IsZero() {
			fmt.Fprintf(out, "Remove the encryption block from the configuration and unset %s: with a passphrase, the next apply encrypts the state again.\n", passphraseEnv)
		}
	case !res.WasEncrypted:
		fmt.Fprintf(out, "Encryption at rest is now on for %s: the secrets of %d connection(s) were sealed in one transaction (serial %d).\n",
			path, res.Records, res.Serial)
	default:
		fmt.Fprintf(out, "The passphrase of %s was changed: the secrets of %d connection(s) were sealed again under the new one in one transaction (serial %d).\n",
			path, res.Records, res.Serial)
	}
	if res.Encrypted && !newPass.Equal(configured) {
		fmt.Fprintf(out, "Give oauthform the new passphrase where it reads it (the configuration's encryption block, or %s): the old one no longer opens the state.\n", passphraseEnv)
	}
	return exitOK
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
	fmt.Fprint(g.streams.Err, prompt)
	if f, ok := g.streams.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.streams.Err)
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
