package views

import "fmt"

// InitResult is what init did to a local state.
type InitResult struct {
	Path, Lineage  string
	Existed        bool
	GitignoreEntry string
	GitignoreAdded bool
}

// InitStopped says that init stopped at configuration errors.
func (v *View) InitStopped() {
	fmt.Fprintln(v.Err, "oauthform init stopped: fix the configuration above, then run it again. Nothing was created.")
}

// InitLocal reports init of a local state; with gitignore false, the
// .gitignore update failed and is left out.
func (v *View) InitLocal(r InitResult, gitignore bool) {
	out := v.Out
	fmt.Fprintln(out, "Initializing the state...")
	if r.Existed {
		fmt.Fprintf(out, "- Using the existing state %s (lineage %s)\n", r.Path, r.Lineage)
	} else {
		fmt.Fprintf(out, "- Created %s (lineage %s)\n", r.Path, r.Lineage)
	}
	if !gitignore {
		return
	}
	switch {
	case r.GitignoreAdded:
		fmt.Fprintf(out, "- Added %s to .gitignore\n", r.GitignoreEntry)
	case r.GitignoreEntry != "":
		fmt.Fprintf(out, "- .gitignore already ignores %s\n", r.GitignoreEntry)
	}
	v.initDone()
}

// InitPG reports init of a PostgreSQL state.
func (v *View) InitPG(name, lineage string, existed bool, records int) {
	fmt.Fprintln(v.Out, "Initializing the state...")
	if existed {
		fmt.Fprintf(v.Out, "- Using the existing state in PostgreSQL, %s (lineage %s, %d connection(s))\n", name, lineage, records)
	} else {
		fmt.Fprintf(v.Out, "- Created the state in PostgreSQL, %s (lineage %s)\n", name, lineage)
	}
	v.initDone()
}

// initDone prints init's closing words.
func (v *View) initDone() {
	pal := NewPalette(v.Color)
	fmt.Fprintf(v.Out, "\n%soauthform has been successfully initialized!%s\n\n", pal.green+pal.bold, pal.reset)
	fmt.Fprintf(v.Out, "Run \"oauthform plan\" to see which connections need a grant.\n")
}
