package statetest

import (
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// TestCompareRecords checks that the suite's comparison notices a change
// in every field and never prints a secret.
func TestCompareRecords(t *testing.T) {
	want := FullRecord("a")
	if d := CompareRecords(want, FullRecord("a")); d != "" {
		t.Fatalf("equal records differ: %s", d)
	}
	same := FullRecord("a")
	same.Expiry = same.Expiry.UTC()
	same.Params = map[string]string{"burner_id": "42", "owner_type": "vendor"}
	if d := CompareRecords(want, same); d != "" {
		t.Errorf("the same instant in another zone differs: %s", d)
	}
	changes := map[string]func(r *state.Record){
		"Version":          func(r *state.Record) { r.Version = 9 },
		"Provider":         func(r *state.Record) { r.Provider = "x" },
		"ClientID":         func(r *state.Record) { r.ClientID = "x" },
		"ClientSecretHash": func(r *state.Record) { r.ClientSecretHash = "x" },
		"RedirectURI":      func(r *state.Record) { r.RedirectURI = "x" },
		"Grant":            func(r *state.Record) { r.Grant = "" },
		"Scopes":           func(r *state.Record) { r.Scopes = r.Scopes[:1] },
		"GrantedScopes":    func(r *state.Record) { r.GrantedScopes = nil },
		"GrantedScopes2":   func(r *state.Record) { r.GrantedScopes = []string{"x"} },
		"Params":           func(r *state.Record) { r.Params = nil },
		"RefreshBefore":    func(r *state.Record) { r.RefreshBefore = 0 },
		"Access":           func(r *state.Record) { r.Access = secret.New("access-other") },
		"Refresh":          func(r *state.Record) { r.Refresh = secret.New("") },
		"TokenType":        func(r *state.Record) { r.TokenType = "mac" },
		"Expiry":           func(r *state.Record) { r.Expiry = r.Expiry.Add(time.Nanosecond) },
		"ExpiryAssumed":    func(r *state.Record) { r.ExpiryAssumed = false },
		"Status":           func(r *state.Record) { r.Status = state.StatusActive },
		"LastError":        func(r *state.Record) { r.LastError = nil },
		"LastError.At":     func(r *state.Record) { r.LastError.At = time.Time{} },
		"Meta":             func(r *state.Record) { r.Meta["flag"] = false },
		"Meta big number": func(r *state.Record) {
			r.Meta["connected_burners"] = []any{map[string]any{"id": 9007199254740992, "name": "Work line"}}
		},
		"Created":   func(r *state.Record) { r.Created = time.Time{} },
		"Refreshed": func(r *state.Record) { r.Refreshed = r.Refreshed.Add(time.Second) },
	}
	for name, change := range changes {
		got := FullRecord("a")
		change(got)
		d := CompareRecords(want, got)
		if d == "" {
			t.Errorf("a change of %s goes unnoticed", name)
		}
		if strings.Contains(d, "access-a") || strings.Contains(d, "refresh-a") || strings.Contains(d, "access-other") {
			t.Errorf("the diff for %s prints a secret: %s", name, d)
		}
	}
}
