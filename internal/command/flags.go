package command

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/config"
)

// The one parsing path of every command: a FlagSet from newFlagSet,
// parsed by parseFlags (flags before, between and after the positional
// arguments), then parsed() for -help and errors.

// multiFlag collects a repeatable string flag (-var, -var-file, -target).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// varFlags are -var and -var-file, shared by every command that loads the
// configuration.
type varFlags struct {
	vars     multiFlag
	varFiles multiFlag
}

func (v *varFlags) register(fs *flag.FlagSet) {
	fs.Var(&v.vars, "var", "")
	fs.Var(&v.varFiles, "var-file", "")
}

func (v *varFlags) inputs() config.Inputs {
	return config.Inputs{Vars: v.vars, VarFiles: v.varFiles}
}

// newFlagSet returns a FlagSet that reports errors as diagnostics instead of
// printing them.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args with fs and turns a flag error into a diagnostic
// that names the command and points at its help.
//
// Flags may come before, between and after the positional arguments, as in
// Terraform (`show NAME -json`, `state rm a -dry-run b`): the flag package
// stops at the first non-flag, so parsing resumes after each one. A "--"
// ends the flags; everything after it is positional. Afterwards fs.Args()
// holds the positional arguments in their order.
func parseFlags(fs *flag.FlagSet, args []string, help string) (helpAsked bool, diags hcl.Diagnostics) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return true, nil
			}
			return false, errDiag("Invalid command line", fmt.Sprintf("%s: %v\n\n%s", fs.Name(), err, help))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Parse the terminator alone so that fs.Args() is exactly the
	// positional arguments; no flag is set by it.
	_ = fs.Parse(append([]string{"--"}, positional...))
	return false, nil
}

// parseLockTimeout is the -lock-timeout flag, a Go duration.
func parseLockTimeout(s string) (time.Duration, hcl.Diagnostics) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errDiag("Invalid -lock-timeout", fmt.Sprintf("-lock-timeout=%q is not a duration such as 30s or 2m.", s))
	}
	return d, nil
}

// parsed does what every command does once its arguments are parsed:
// print its help when asked (done, exit 0), or the errors (done, exit 1).
func (g *globals) parsed(help string, asked bool, diags hcl.Diagnostics) (code int, done bool) {
	switch {
	case asked:
		g.view.Help(help)
		return ExitOK, true
	case diags.HasErrors():
		g.view.Diagnostics(nil, diags)
		return ExitError, true
	}
	return ExitOK, false
}

// stripNoColor removes -no-color from a command's arguments (before any
// "--") and reports whether it was there: as in Terraform, every command
// accepts it, after the command name as well as before it.
func stripNoColor(args []string) ([]string, bool) {
	found := false
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if a == "-no-color" || a == "--no-color" {
			found = true
			continue
		}
		out = append(out, a)
	}
	return out, found
}
