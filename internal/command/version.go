package command

import (
	"context"
	"runtime/debug"
	"strings"

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
	g.view.Version(g.version, g.revision, a.json)
	return ExitOK
}

// DevVersion is the version of a build that says nothing else (go build
// or go run in a clone, without -ldflags).
const DevVersion = "0.1.0-dev"

// BuildVersion is the version and VCS revision the program reports: the
// values given at link time (-ldflags "-X main.version=… -X
// main.revision=…", as release builds do) when set, else what the Go
// toolchain recorded in the binary: the module version of `go install
// …@vX` and the commit of a build in a clone (with "-dirty" when the tree
// had changes). info is debug.ReadBuildInfo's.
func BuildVersion(ldVersion, ldRevision string, info *debug.BuildInfo, ok bool) (version, revision string) {
	version, revision = strings.TrimPrefix(ldVersion, "v"), ldRevision
	if !ok {
		info = &debug.BuildInfo{}
	}
	if version == "" {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			version = strings.TrimPrefix(v, "v")
		} else {
			version = DevVersion
		}
	}
	if revision == "" || revision == "none" {
		revision = ""
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if revision != "" && dirty {
			revision += "-dirty"
		}
	}
	return version, revision
}
