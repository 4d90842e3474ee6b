package command

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/providers"
)

const providersHelp = `Usage: oauthform providers [-json]

List the built-in providers with their endpoints and documented quirks.
Any other OAuth 2.0 provider can be declared in a provider block.
`

// providersArgs are the arguments of `oauthform providers`.
type providersArgs struct {
	json bool
}

func parseProvidersArgs(args []string) (*providersArgs, bool, hcl.Diagnostics) {
	a := &providersArgs{}
	fs := newFlagSet("providers")
	fs.BoolVar(&a.json, "json", false, "")
	help, diags := parseFlags(fs, args, providersHelp)
	return a, help, diags
}

func runProviders(_ context.Context, g *globals, args []string) int {
	a, help, diags := parseProvidersArgs(args)
	if code, done := g.parsed(providersHelp, help, diags); done {
		return code
	}
	g.view.Providers(providers.Builtins(), a.json)
	return ExitOK
}
