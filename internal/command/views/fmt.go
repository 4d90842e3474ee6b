package views

import (
	"fmt"

	"github.com/rogpeppe/go-internal/diff"
)

// FmtChanged reports a file fmt found unformatted: its name with list,
// the differences with showDiff.
func (v *View) FmtChanged(path string, list, showDiff bool, src, out []byte) {
	if list {
		fmt.Fprintln(v.Out, path)
	}
	if showDiff {
		_, _ = v.Out.Write(diff.Diff("old/"+path, src, "new/"+path, out))
	}
}

// FmtUnformatted is fmt -check's closing line.
func (v *View) FmtUnformatted(n int) {
	fmt.Fprintf(v.Err, "%d file(s) are not formatted; run \"oauthform fmt\" to fix them.\n", n)
}

// FmtStdin prints standard input formatted (out), or the differences
// with showDiff; nothing with check.
func (v *View) FmtStdin(src, out []byte, showDiff, check bool) {
	switch {
	case showDiff:
		_, _ = v.Out.Write(diff.Diff("old/<stdin>", src, "new/<stdin>", out))
	case !check:
		_, _ = v.Out.Write(out)
	}
}
