package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
)

// samplePlan is a plan with one action of each kind and a warning-free
// mix of fields, made by Diff.
func samplePlan(t *testing.T) *Plan {
	t.Helper()
	mail := conn("mail", appA, 1, "read", "send")
	docs := conn("docs", appA, 2, "docs")
	feed := withConn(conn("feed", appN, 3, "read"), func(c *config.Connection) { c.Params = map[string]string{"prompt": "consent"} })
	newC := conn("new", appA, 4, "read")
	gone := recordFor(conn("gone", appA, 5, "read"))
	snap := snapshot(
		withRec(recordFor(mail), func(r *state.Record) { r.ClientID = "old" }),
		withRec(recordFor(docs), func(r *state.Record) { r.Expiry = t0.Add(-time.Minute) }),
		withRec(recordFor(feed), func(r *state.Record) { r.Scopes = []string{"read", "write"}; r.ClientSecretHash = "" }),
		gone,
	)
	p, diags := Diff(newConfig(mail, docs, feed, newC), snap, t0, Options{Targets: []string{"mail", "docs", "feed", "new", "gone"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(p.Actions) != 5 {
		t.Fatalf("sample plan has %d actions, want 5", len(p.Actions))
	}
	return p
}

func TestWriteReadFile(t *testing.T) {
	p := samplePlan(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "tfplan")
	// An existing, more open file is replaced, not reused.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := WriteFile(path, p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode %o, want 600", m)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the folder, want only the plan (temp file left behind?)", len(entries))
	}
	raw, _ := os.ReadFile(path)
	for _, s := range []string{secretA, secretN, accessT, refreshT, "(sensitive)"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("plan file contains %q", s)
		}
	}

	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(p, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("round trip (-wrote +read):\n%s", d)
	}
}

func TestWriteFileErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "tfplan")
	if err := WriteFile(path, samplePlan(t)); err == nil {
		t.Error("WriteFile into a missing folder succeeded")
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]struct {
		content string
		want    string // substring of the error, after the path
	}{
		"not json":            {"this is not a plan\n", "is not an oauthform plan file"},
		"empty":               {"", "is not an oauthform plan file"},
		"json, not a plan":    {`{"lineage": "x", "serial": 3}`, "is not an oauthform plan file"},
		"another tool's plan": {`{"format_version": "1.2", "terraform_version": "1.9.0"}`, "is not an oauthform plan file"},
		"newer major version": {`{"format_version": "2.0", "config_digest": "", "actions": []}`, `has format version "2.0", which this version of oauthform cannot read`},
		"damaged":             {`{"format_version": "1.0", "config_digest": "", "actions": [{"action": "explode"}]}`, "is damaged"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(path)
			if err == nil {
				t.Fatal("ReadFile succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s and say %q", err, path, tc.want)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "nope")
		if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("error %v does not name %s", err, path)
		}
	})

	t.Run("newer minor version with unknown fields reads", func(t *testing.T) {
		path := filepath.Join(dir, "minor")
		body := `{"format_version": "1.7", "lineage": "L", "serial": 2, "config_digest": "d", "mode": "refresh-only",
			"actions": [{"connection": "c", "action": "refresh", "reasons": ["expiring"], "future": true}], "future_field": 1}`
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := &Plan{FormatVersion: "1.7", Lineage: "L", Serial: 2, ConfigDigest: "d", Mode: RefreshOnly,
			Actions: []*Action{{Conn: "c", Kind: Refresh, Reasons: []Reason{ReasonExpiring}}}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
	})
}

func TestCheckSaved(t *testing.T) {
	saved := &Plan{FormatVersion: FormatVersion, Lineage: testLineage, Serial: 7, ConfigDigest: "digest-1"}
	first := &Plan{FormatVersion: FormatVersion, ConfigDigest: "digest-1"}
	tests := map[string]struct {
		plan        *Plan
		snap        *state.Snapshot
		digest      string
		wantSummary string // "" for no diagnostic
		wantDetail  []string
	}{
		"match": {
			plan: saved, snap: &state.Snapshot{Lineage: testLineage, Serial: 7}, digest: "digest-1",
		},
		"lineage mismatch": {
			plan: saved, snap: &state.Snapshot{Lineage: "other", Serial: 7}, digest: "digest-1",
			wantSummary: "Saved plan does not match the given state",
			wantDetail:  []string{"different state lineage", `Run "oauthform plan" again`},
		},
		"state gone": {
			plan: saved, snap: nil, digest: "digest-1",
			wantSummary: "Saved plan does not match the given state",
			wantDetail:  []string{`Run "oauthform plan" again`},
		},
		"serial mismatch": {
			plan: saved, snap: &state.Snapshot{Lineage: testLineage, Serial: 8}, digest: "digest-1",
			wantSummary: "Saved plan is stale",
			wantDetail: []string{"The state was changed by another operation after the plan was created.",
				"made at state serial 7, the state is now at serial 8", `Run "oauthform plan" again`},
		},
		"lineage is checked before serial": {
			plan: saved, snap: &state.Snapshot{Lineage: "other", Serial: 9}, digest: "other-digest",
			wantSummary: "Saved plan does not match the given state",
		},
		"serial is checked before the configuration": {
			plan: saved, snap: &state.Snapshot{Lineage: testLineage, Serial: 9}, digest: "other-digest",
			wantSummary: "Saved plan is stale",
		},
		"config digest mismatch": {
			plan: saved, snap: &state.Snapshot{Lineage: testLineage, Serial: 7}, digest: "digest-2",
			wantSummary: "Saved plan does not match the configuration",
			wantDetail:  []string{"configuration was changed after the plan was created", `Run "oauthform plan" again`},
		},
		"first plan, state still absent": {
			plan: first, snap: nil, digest: "digest-1",
		},
		"first plan, state created since without writes": {
			plan: first, snap: &state.Snapshot{Lineage: testLineage}, digest: "digest-1",
		},
		"first plan, state written since": {
			plan: first, snap: &state.Snapshot{Lineage: testLineage, Serial: 1}, digest: "digest-1",
			wantSummary: "Saved plan is stale",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := CheckSaved(tc.plan, tc.snap, tc.digest)
			if tc.wantSummary == "" {
				if got != nil {
					t.Fatalf("CheckSaved = %s: %s; want nil", got.Summary, got.Detail)
				}
				return
			}
			if got == nil {
				t.Fatalf("CheckSaved = nil, want %q", tc.wantSummary)
			}
			if got.Severity != hcl.DiagError || got.Summary != tc.wantSummary || got.Subject != nil {
				t.Errorf("CheckSaved = %v %q (subject %v), want an error %q", got.Severity, got.Summary, got.Subject, tc.wantSummary)
			}
			for _, w := range tc.wantDetail {
				if !strings.Contains(got.Detail, w) {
					t.Errorf("detail %q lacks %q", got.Detail, w)
				}
			}
		})
	}

	t.Run("a plan checked against its own state and config", func(t *testing.T) {
		mail := conn("mail", appA, 1, "read")
		cfg := newConfig(mail)
		snap := snapshot(recordFor(mail))
		p, _ := Diff(cfg, snap, t0, Options{})
		if d := CheckSaved(p, snap, Digest(cfg, p.Lineage)); d != nil {
			t.Errorf("CheckSaved = %s", d.Summary)
		}
	})
}
