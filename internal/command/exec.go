package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/credential"
)

const execHelp = `Usage: oauthform exec [options] CONNECTION -- PROGRAM [ARGS...]
       oauthform exec [options] -conn CONNECTION=NAME... -- PROGRAM [ARGS...]

Run PROGRAM with CONNECTION's access token in its environment: in
OAUTHFORM_TOKEN (or -env NAME), and its expiry (RFC 3339; empty when it
does not expire) in OAUTHFORM_TOKEN_EXPIRY (NAME_EXPIRY). Each token is
refreshed first when it expires within -min-valid, under its connection's
lock. The token is never on a command line. PROGRAM runs in oauthform's
place (on Windows, as its child): it gets the signals, and its exit status
is oauthform's.

  oauthform exec sms_main -- ./send-report.sh
  oauthform exec -conn sms_main=SMS_TOKEN -conn dialer=PB_TOKEN -- ./sync

Options:
  -env=NAME             The variable for CONNECTION's token (default
                        OAUTHFORM_TOKEN).
  -conn=CONNECTION=NAME A connection and its variable (repeatable), for
                        programs that need several tokens.
  -min-valid=D          Refresh when a token expires within D (default 1m).
  -var, -var-file       Variables, as for plan.
`

// defaultTokenEnv is the variable exec puts a token in without -env.
const defaultTokenEnv = "OAUTHFORM_TOKEN"

// execArgs are exec's arguments: the tokens (connection and variable, in
// order) and the program.
type execArgs struct {
	tokens   [][2]string
	program  []string
	minValid time.Duration
	vars     varFlags
}

func parseExecArgs(args []string) (*execArgs, bool, hcl.Diagnostics) {
	var ea execArgs
	i := slices.Index(args, "--")
	if i < 0 {
		if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
			return nil, true, nil
		}
		return nil, false, errDiag("Missing program", "Give the program to run after --: oauthform exec CONNECTION -- PROGRAM [ARGS...]")
	}
	ea.program = args[i+1:]
	var env string
	var conns multiFlag
	fs := newFlagSet("exec")
	fs.StringVar(&env, "env", defaultTokenEnv, "")
	fs.Var(&conns, "conn", "")
	fs.DurationVar(&ea.minValid, "min-valid", time.Minute, "")
	ea.vars.register(fs)
	help, diags := parseFlags(fs, args[:i], execHelp)
	if help || diags.HasErrors() {
		return nil, help, diags
	}
	for _, c := range conns {
		conn, name, ok := strings.Cut(c, "=")
		if !ok || conn == "" || !validEnvName(name) {
			return nil, false, errDiag("Invalid -conn", fmt.Sprintf("-conn wants CONNECTION=NAME with NAME a variable name such as API_TOKEN, not %q.", c))
		}
		ea.tokens = append(ea.tokens, [2]string{conn, name})
	}
	rest := fs.Args()
	switch {
	case len(rest) > 1:
		return nil, false, errDiag("Unexpected argument", fmt.Sprintf("exec takes one CONNECTION before --; %q is extra (the program goes after --).", rest[1]))
	case len(rest) == 1:
		if !validEnvName(env) {
			return nil, false, errDiag("Invalid -env", fmt.Sprintf("-env wants a variable name such as API_TOKEN, not %q.", env))
		}
		ea.tokens = append([][2]string{{rest[0], env}}, ea.tokens...)
	case len(ea.tokens) == 0:
		return nil, false, errDiag("Missing connection", "Name the connection whose token the program gets.\n\n"+execHelp)
	}
	switch {
	case len(ea.program) == 0:
		return nil, false, errDiag("Missing program", "Give the program to run after --.")
	case ea.minValid < 0:
		return nil, false, errDiag("Invalid -min-valid", "-min-valid must not be negative.")
	}
	return &ea, false, nil
}

// validEnvName: letters, digits and underscores, not starting with a
// digit (a name every shell and program can read).
func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'))
	})
}

func runExec(ctx context.Context, g *globals, args []string) int {
	ea, help, diags := parseExecArgs(args)
	if code, done := g.parsed(execHelp, help, diags); done {
		return code
	}
	env := map[string]string{}
	for _, t := range ea.tokens {
		tok, ok := currentToken(ctx, g, &tokenArgs{conn: t[0], minValid: ea.minValid, vars: ea.vars})
		if !ok {
			return ExitError
		}
		expiry := ""
		if !tok.rec.Expiry.IsZero() {
			expiry = tok.rec.Expiry.UTC().Format(time.RFC3339)
		}
		env[t[1]], env[t[1]+"_EXPIRY"] = tok.rec.Access.Reveal(), expiry
	}
	p := credential.Program{Argv: ea.program, Env: credential.Env(os.Environ(), env),
		Stdin: g.streams.In, Stdout: g.streams.Out, Stderr: g.streams.Err}
	if g.ownStreams() {
		g.emus.close()
		err := credential.Replace(p)
		if !errors.Is(err, credential.ErrNoReplace) {
			g.view.Diagnostics(nil, wrapErr("Cannot run the program", err))
			return ExitError
		}
	}
	code, err := credential.Run(ctx, p)
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Cannot run the program", err))
		return ExitError
	}
	return code
}

// ownStreams reports whether the command's streams are the process's
// own, which a program run in oauthform's place inherits.
func (g *globals) ownStreams() bool {
	s := g.streams
	return s.In == os.Stdin && s.Out == os.Stdout && s.Err == os.Stderr
}
