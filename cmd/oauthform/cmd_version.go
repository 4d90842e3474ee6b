package main

import (
	"context"
	"fmt"
	"runtime"
)

// jsonVersionFormatVersion versions the `version -json` document
// (docs/json-output.md).
const jsonVersionFormatVersion = "1.0"

func runVersion(_ context.Context, g *globals, args []string) int {
	fs := newFlagSet("version")
	asJSON := fs.Bool("json", false, "")
	help, diags := parseFlags(fs, args, "Usage: oauthform version [-json]\n")
	if help {
		fmt.Fprint(g.streams.Out, "Usage: oauthform version [-json]\n")
		return exitOK
	}
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	platform := runtime.GOOS + "_" + runtime.GOARCH
	if *asJSON {
		_ = writeJSON(g.streams.Out, struct {
			FormatVersion    string `json:"format_version"`
			OauthformVersion string `json:"oauthform_version"`
			GoVersion        string `json:"go_version"`
			Platform         string `json:"platform"`
		}{jsonVersionFormatVersion, version, runtime.Version(), platform})
		return exitOK
	}
	fmt.Fprintf(g.streams.Out, "oauthform v%s\non %s (%s)\n", version, platform, runtime.Version())
	return exitOK
}
