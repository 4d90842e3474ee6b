package command

import (
	"context"

	"github.com/hashicorp/hcl/v2"
)

const versionHelp = "Usage: oauthform version [-json]\n"

// versionArgs are the arguments of `oauthform version`.
type versionArgs struct {
	json bool
}

func parseVersionArgs(args []string) (*versionArgs, bool, hcl.Diagnostics) {
	a := &versionArgs{}
	fs := newFlagSet("version")
	fs.BoolVar(&a.json, "json", false, "")
	help, diags := parseFlags(fs, args, versionHelp)
	return a, help, diags
}

func runVersion(_ context.Context, g *globals, args []string) int {
	a, help, diags := parseVersionArgs(args)
	if code, done := g.parsed(versionHelp, help, diags); done {
		return code
	}
	g.view.Version(g.version, a.json)
	return ExitOK
}
