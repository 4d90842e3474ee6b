package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/state"
)

// WriteFile saves p as JSON at path (`plan -out`), mode 0600, atomically: a
// temporary file in the same folder is written, synced and renamed over
// path, so a reader never sees half a plan. A Plan holds no secrets.
func WriteFile(path string, p *Plan) (err error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding plan for %s: %w", path, err)
	}
	b = append(b, '\n')

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing plan file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("writing plan file %s: %w", path, err)
	}
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("writing plan file %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing plan file %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing plan file %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing plan file %s: %w", path, err)
	}
	return nil
}

// ReadFile loads a plan saved by WriteFile. It refuses, with an error naming
// the file, anything that is not an oauthform plan and a plan whose major
// format version this build does not read.
func ReadFile(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading plan file: %w", err)
	}
	notPlan := fmt.Errorf("%s is not an oauthform plan file (create one with \"oauthform plan -out FILE\")", path)

	// Sniff the version first, as Terraform's statefile reader does: a
	// newer format may not decode into this build's types.
	var head struct {
		FormatVersion *string          `json:"format_version"`
		ConfigDigest  *string          `json:"config_digest"`
		Actions       *json.RawMessage `json:"actions"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.FormatVersion == nil || head.ConfigDigest == nil || head.Actions == nil {
		return nil, notPlan
	}
	if major(*head.FormatVersion) != major(FormatVersion) {
		return nil, fmt.Errorf("plan file %s has format version %q, which this version of oauthform cannot read (it reads %s.x); run \"oauthform plan\" again with this version",
			path, *head.FormatVersion, major(FormatVersion))
	}

	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, notPlan
		}
		return nil, fmt.Errorf("plan file %s is damaged: %w", path, err)
	}
	return &p, nil
}

func major(v string) string {
	m, _, _ := strings.Cut(v, ".")
	return m
}

// CheckSaved tells whether the saved plan p may still be applied to the
// state snap and the configuration whose digest is configDigest. Callers
// compute configDigest as Digest(cfg, p.Lineage), keying the client-secret
// fingerprints as the plan did. It returns nil when the plan still holds,
// else an error diagnostic with Terraform's wording.
//
// A plan made before any state existed (empty lineage, serial 0) is not
// compared by lineage, as in Terraform: only the serial must still match.
func CheckSaved(p *Plan, snap *state.Snapshot, configDigest string) *hcl.Diagnostic {
	var lineage string
	var serial uint64
	if snap != nil {
		lineage, serial = snap.Lineage, snap.Serial
	}
	firstPlan := p.Lineage == "" && p.Serial == 0
	switch {
	case !firstPlan && p.Lineage != lineage:
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Saved plan does not match the given state",
			Detail: fmt.Sprintf("The given plan file can not be applied because it was created from a different state lineage (%q, the state's is %q). "+
				"Run \"oauthform plan\" again to make a plan for this state.", p.Lineage, lineage),
		}
	case p.Serial != serial:
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Saved plan is stale",
			Detail: fmt.Sprintf("The given plan file can no longer be applied: it was made at state serial %d, the state is now at serial %d. "+
				"The state was changed by another operation after the plan was created. "+
				"Run \"oauthform plan\" again to make a new plan.", p.Serial, serial),
		}
	case p.ConfigDigest != configDigest:
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Saved plan does not match the configuration",
			Detail: "The given plan file can not be applied because the configuration was changed after the plan was created. " +
				"Run \"oauthform plan\" again to make a plan for the current configuration.",
		}
	}
	return nil
}
