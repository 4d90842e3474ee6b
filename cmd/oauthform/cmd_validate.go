package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

const validateHelp = `Usage: oauthform validate [options]

Check the *.oauth.hcl files of the current directory offline: syntax, types,
references, URLs, provider scopes and parameters. Every problem is reported
at once with file:line:col. Exit 1 on any error. A sensitive variable needs
no value here (CI validates without secrets); plan and apply require one.

Options:
  -json              Print diagnostics as JSON.
  -var 'NAME=VALUE'  Set a variable (repeatable).
  -var-file=FILE     Read variables from an HCL file (repeatable).
`

func runValidate(_ context.Context, g *globals, args []string) int {
	fs := newFlagSet("validate")
	var vars varFlags
	asJSON := fs.Bool("json", false, "")
	vars.register(fs)
	help, diags := parseFlags(fs, args, validateHelp)
	if help {
		fmt.Fprint(g.streams.Out, validateHelp)
		return exitOK
	}
	if fs.NArg() > 0 {
		diags = append(diags, errDiag("Unexpected argument", fmt.Sprintf("validate checks the current directory and takes no arguments, got %q. Use -chdir=DIR to validate another directory.", fs.Arg(0)))...)
	}
	var fm map[string]*hcl.File
	if !diags.HasErrors() {
		in := vars.inputs()
		in.Validate = true // sensitive variables may have no value
		cfg, cdiags := loadConfig(in)
		diags = append(diags, cdiags...)
		fm = files(cfg)
	}
	errs, warns := countDiags(diags)
	if *asJSON {
		jd, omitted := toJSONDiags(diags)
		_ = writeJSON(g.streams.Out, struct {
			FormatVersion      string     `json:"format_version"`
			Valid              bool       `json:"valid"`
			ErrorCount         int        `json:"error_count"`
			WarningCount       int        `json:"warning_count"`
			Diagnostics        []jsonDiag `json:"diagnostics"`
			DiagnosticsOmitted int        `json:"diagnostics_omitted,omitempty"`
		}{"1.0", errs == 0, errs, warns, jd, omitted})
	} else {
		writeDiags(g, g.streams.Err, fm, diags)
		if errs == 0 {
			pal := newPalette(g.color())
			msg := "The configuration is valid."
			if warns > 0 {
				msg = "The configuration is valid, but there were some validation warnings as shown above."
			}
			fmt.Fprintf(g.streams.Out, "%sSuccess!%s %s\n", pal.green+pal.bold, pal.reset, msg)
		} else {
			fmt.Fprintf(g.streams.Err, "\n%d error(s), %d warning(s).\n", errs, warns)
		}
	}
	if errs > 0 {
		return exitError
	}
	return exitOK
}
