package views

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/oauthform/oauthform/internal/state"
)

// Migration is what state migrate did, and what the view needs to say
// what to change in the configuration.
type Migration struct {
	Result *state.MigrateResult
	// SrcSchema is the PostgreSQL source's schema; ToPG says the state
	// went to PostgreSQL, into DstSchema, or else to the file DstPath.
	SrcSchema string
	ToPG      bool
	DstSchema string
	DstPath   string
	// WasPG: the configuration has a backend "pg" block; ConnEnv is
	// -conn-str-env; StatePath is where the configuration looks for a
	// local state; OtherPlace: it names a state_path or backend.
	WasPG      bool
	ConnEnv    string
	StatePath  string
	OtherPlace bool
}

// Migrated prints what state migrate did and what to change in the
// configuration.
func (v *View) Migrated(m *Migration) {
	out, res := v.Out, m.Result
	enc := "not encrypted at rest"
	if res.Encrypted {
		enc = "encrypted at rest with the configured passphrase"
	}
	fmt.Fprintf(out, "Migrated the state from %s to %s.\n", res.From, res.To)
	fmt.Fprintf(out, "- Copied %d connection(s) with their tokens, %s.\n", res.Records, enc)
	if res.LineageReplaced {
		fmt.Fprintf(out, "- Verified by reading the copy back: %d connection(s), tokens identical. The lineage is now %s (it was %s): "+
			"this backend cannot take a state's lineage, so saved plans made before the move are refused.\n", res.Records, res.Lineage, res.SrcLineage)
	} else {
		fmt.Fprintf(out, "- Verified by reading the copy back: %d connection(s), tokens identical, lineage %s (serial %d).\n", res.Records, res.Lineage, res.Serial)
	}
	if res.KeptAs != "" {
		fmt.Fprintf(out, "- The local state was renamed to %s: nothing reads it any more. It holds tokens; delete it once the new state works.\n", res.KeptAs)
	} else {
		fmt.Fprintf(out, "- The state in PostgreSQL was left as it was. Once nobody uses it any more, remove it (DROP SCHEMA %s CASCADE): "+
			"it holds tokens, and a refresh there would not reach the local file.\n", m.SrcSchema)
	}
	fmt.Fprintln(out)
	m.advise(out)
}

// advise says what to change in the configuration so that every command
// uses the new state.
func (m *Migration) advise(out io.Writer) {
	if m.ToPG {
		if m.WasPG && m.ConnEnv == "" {
			fmt.Fprintln(out, "The configuration's backend \"pg\" block already points at this state: nothing to change. Every oauthform command now uses it.")
			return
		}
		env := m.ConnEnv
		if env == "" {
			env = "OAUTHFORM_PG"
		}
		fmt.Fprintln(out, "Now point the configuration at it, so that every command uses it (and give each machine the connection string):")
		fmt.Fprintln(out)
		fmt.Fprintln(out, "oauthform {")
		fmt.Fprintln(out, "  backend \"pg\" {")
		fmt.Fprintf(out, "    conn_str    = env(%q)\n", env)
		fmt.Fprintf(out, "    schema_name = %q\n", m.DstSchema)
		fmt.Fprintln(out, "  }")
		fmt.Fprintln(out, "}")
		if m.OtherPlace {
			fmt.Fprintln(out)
			fmt.Fprintln(out, "and remove state_path or the backend \"local\" block: a state has one place.")
		}
		return
	}
	if m.WasPG {
		fmt.Fprintln(out, "Now remove the backend \"pg\" block from the configuration's oauthform block, so that every command uses the local file.")
	} else {
		fmt.Fprintln(out, "The configuration has no backend \"pg\" block: it uses the local file already.")
	}
	if p := m.DstPath; filepath.Clean(p) != filepath.Clean(m.StatePath) {
		fmt.Fprintf(out, "Set state_path = %q in the oauthform block: the configuration looks for the state at %s.\n", filepath.ToSlash(p), m.StatePath)
	}
}
