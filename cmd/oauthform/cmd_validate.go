package main

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
)

const validateHelp = `Usage: oauthform validate [options]

Check the *.oauth.hcl files of the current directory offline: syntax, types,
references, URLs, provider scopes and parameters. Every problem is reported
at once with file:line:col. Exit 1 on any error. A sensitive variable needs
no value here (CI validates without secrets); plan and apply require one.

Options:
  -json              Print diagnostics as JSON.
  -online            Also fetch the discovery document of every provider
                     declared by issuer, and report what fails.
  -var 'NAME=VALUE'  Set a variable (repeatable).
  -var-file=FILE     Read variables from an HCL file (repeatable).
`

func runValidate(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("validate")
	var vars varFlags
	asJSON := fs.Bool("json", false, "")
	online := fs.Bool("online", false, "")
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
		if *online && cfg != nil && !cdiags.HasErrors() {
			diags = append(diags, discoveryDiags(ctx, g, cfg)...)
		}
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

// discoveryDiags fetches the metadata of every provider that takes its
// endpoints from discovery (validate -online), one error per provider
// whose discovery fails, at its issuer.
func discoveryDiags(ctx context.Context, g *globals, cfg *config.Config) hcl.Diagnostics {
	timeout, err := providers.EnvDuration(providers.RequestTimeoutEnv)
	if err != nil {
		return errDiag("Invalid environment", err.Error())
	}
	var diags hcl.Diagnostics
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		p := cfg.Providers[name]
		rng, declared := cfg.IssuerRange(name)
		if !declared || p.Emulator || (p.AuthorizeURL != "" && p.TokenURL != "") {
			continue
		}
		c := &providers.Client{Profile: p, Logger: g.log.Named("provider"), Timeout: timeout, Now: clock}
		if err := c.Discover(ctx); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Discovery failed", Subject: rng.Ptr(),
				Detail: fmt.Sprintf("Provider %q takes its endpoints from its issuer's metadata, which could not be read: %v. "+
					"Check the issuer, or declare authorize_url and token_url.", name, err),
			})
		}
	}
	return diags
}
