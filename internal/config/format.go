package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical form. It parses src first, so that a
// file with syntax errors is reported (filename names it in the
// diagnostics) and never rewritten; only then does hclwrite.Format, which
// changes whitespace only, run.
//
// Like Load, Format refuses more than MaxConfigSize bytes and what is not
// UTF-8 text, with one diagnostic.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if len(src) > MaxConfigSize {
		return nil, hcl.Diagnostics{errorAt(fileStart(filename), "Configuration file too large",
			"%s holds more than %s (%d bytes), far more than any configuration needs; oauthform does not format it.",
			filename, megabytes(MaxConfigSize), MaxConfigSize)}
	}
	if d := notText(filename, src, "Configuration files", notConfigHint); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

// ReadFile reads a configuration file as Load does: a regular file of at
// most MaxConfigSize bytes, refused otherwise with one diagnostic on the
// file. An error is returned when it cannot be read at all.
func ReadFile(path string) ([]byte, hcl.Diagnostics, error) {
	src, size, err := readLimited(path, MaxConfigSize)
	if err != nil {
		return nil, nil, err
	}
	if size > MaxConfigSize {
		return nil, hcl.Diagnostics{tooLarge(path, size)}, nil
	}
	return src, nil, nil
}
