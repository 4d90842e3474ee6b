package views

import (
	"fmt"
	"sort"
)

// NotLocked is force-unlock finding no lock: id is no longer held, or
// (id "") there is no state at all.
func (v *View) NotLocked(id string) {
	if id == "" {
		fmt.Fprintln(v.Out, "There is no state yet, so there is no lock. Nothing to do.")
		return
	}
	fmt.Fprintf(v.Out, "The state is not locked: lock %s is no longer held (its process has ended, and the operating system released the lock with it). Nothing to do.\n", id)
}

// Restored is state restore's report.
func (v *View) Restored(conn, file string) {
	fmt.Fprintf(v.Out, "Restored the tokens of %s from %s.\nDelete that file now: it holds live tokens.\n", conn, file)
}

// StateList prints the connection names, one a line, sorted.
func (v *View) StateList(names []string) {
	names = append([]string(nil), names...)
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(v.Out, n)
	}
}

// StateRmNothing says that a name was unknown and nothing was removed.
func (v *View) StateRmNothing() {
	fmt.Fprintln(v.Err, "Nothing was removed.")
}

// StateRmDryRun lists what state rm -dry-run would remove.
func (v *View) StateRmDryRun(names []string) {
	for _, name := range names {
		fmt.Fprintf(v.Out, "Would remove connection %q\n", name)
	}
}

// StateRemoved reports one connection removed.
func (v *View) StateRemoved(name string) {
	fmt.Fprintf(v.Out, "Removed connection %q\n", name)
}

// StateRmStopped counts the connections removed before an error.
func (v *View) StateRmStopped(removed int) {
	fmt.Fprintf(v.Err, "%d connection(s) were removed before the error.\n", removed)
}

// StateRmDone is state rm's closing line.
func (v *View) StateRmDone(removed int) {
	fmt.Fprintf(v.Out, "Successfully removed %d connection(s). Their grants were NOT revoked at the provider; use \"oauthform destroy -target=NAME\" to revoke.\n", removed)
}
