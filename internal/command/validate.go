package command

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

// validateArgs are the arguments of `oauthform validate`.
type validateArgs struct {
	json, online bool
	vars         varFlags
}

func parseValidateArgs(args []string) (*validateArgs, bool, hcl.Diagnostics) {
	a := &validateArgs{}
	fs := newFlagSet("validate")
	fs.BoolVar(&a.json, "json", false, "")
	fs.BoolVar(&a.online, "online", false, "")
	a.vars.register(fs)
	help, diags := parseFlags(fs, args, validateHelp)
	if !help && fs.NArg() > 0 {
		diags = append(diags, errDiag("Unexpected argument", fmt.Sprintf("validate checks the current directory and takes no arguments, got %q. Use -chdir=DIR to validate another directory.", fs.Arg(0)))...)
	}
	return a, help, diags
}

func runValidate(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseValidateArgs(args)
	if help {
		g.view.Help(validateHelp)
		return ExitOK
	}
	var fm map[string]*hcl.File
	if !diags.HasErrors() {
		in := a.vars.inputs()
		in.Validate = true // sensitive variables may have no value
		cfg, cdiags := g.loadConfig(in)
		diags = append(diags, cdiags...)
		fm = files(cfg)
		if a.online && cfg != nil && !cdiags.HasErrors() {
			diags = append(diags, discoveryDiags(ctx, g, cfg)...)
		}
	}
	if !g.view.Validate(fm, diags, a.json) {
		return ExitError
	}
	return ExitOK
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
		c := &providers.Client{Profile: p, Logger: g.log.Named("provider"), Timeout: timeout, Now: g.now}
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
