package command

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// sourceless makes a diagnostic without a source range, for flag, state and
// network problems, so the CLI has one rendering path for everything.
func sourceless(sev hcl.DiagnosticSeverity, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: detail}
}

// errDiag is sourceless(hcl.DiagError, …).
func errDiag(summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{sourceless(hcl.DiagError, summary, detail)}
}

// wrapErr turns an error from a lower layer into a diagnostic.
func wrapErr(summary string, err error) hcl.Diagnostics {
	return errDiag(summary, fmt.Sprint(err))
}
