package views

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Validate reports validate's diagnostics, as JSON or for people, and
// whether the configuration is valid.
func (v *View) Validate(files map[string]*hcl.File, diags hcl.Diagnostics, asJSON bool) bool {
	errs, warns := CountDiags(diags)
	if asJSON {
		jd, omitted := JSONDiagnostics(diags)
		_ = WriteJSON(v.Out, struct {
			FormatVersion      string       `json:"format_version"`
			Valid              bool         `json:"valid"`
			ErrorCount         int          `json:"error_count"`
			WarningCount       int          `json:"warning_count"`
			Diagnostics        []Diagnostic `json:"diagnostics"`
			DiagnosticsOmitted int          `json:"diagnostics_omitted,omitempty"`
		}{"1.0", errs == 0, errs, warns, jd, omitted})
		return errs == 0
	}
	v.Diagnostics(files, diags)
	if errs == 0 {
		pal := NewPalette(v.Color)
		msg := "The configuration is valid."
		if warns > 0 {
			msg = "The configuration is valid, but there were some validation warnings as shown above."
		}
		fmt.Fprintf(v.Out, "%sSuccess!%s %s\n", pal.green+pal.bold, pal.reset, msg)
	} else {
		fmt.Fprintf(v.Err, "\n%d error(s), %d warning(s).\n", errs, warns)
	}
	return errs == 0
}
