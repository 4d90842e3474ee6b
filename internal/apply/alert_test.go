package apply

import (
	"slices"
	"testing"

	"github.com/oauthform/oauthform/internal/state"
)

// TestAlerts: only a change into failing or needs_reconnect is alerted,
// once; the environment holds the alert and allowed variables only.
func TestAlerts(t *testing.T) {
	rec := func(name string, s state.Status) *state.Record {
		return &state.Record{Conn: name, Provider: "sms77", Status: s,
			LastError: &state.LastError{Kind: "invalid_grant", Code: "invalid_grant", Message: "revoked\x1b[31m"}}
	}
	before := map[string]*state.Record{
		"a": rec("a", state.StatusActive), "b": rec("b", state.StatusNeedsReconnect),
		"c": rec("c", state.StatusActive), "d": rec("d", state.StatusFailing),
	}
	after := []*state.Record{
		rec("c", state.StatusFailing), rec("a", state.StatusNeedsReconnect), rec("b", state.StatusNeedsReconnect),
		rec("d", state.StatusFailing), rec("e", state.StatusActive), rec("f", state.StatusFailing),
	}
	var names []string
	for _, a := range Alerts(before, after) {
		names = append(names, a.Conn+":"+string(a.Status))
	}
	if want := []string{"a:needs_reconnect", "c:failing", "f:failing"}; !slices.Equal(names, want) {
		t.Fatalf("alerts %v, want %v", names, want)
	}

	c := &AlertCommand{Argv: []string{"x"}, Environ: []string{"PATH=/bin", "OAUTHFORM_PASSPHRASE=pw", "OAUTHFORM_VAR_secret=s", "HOME=/h"}}
	env := c.Env(Alerts(before, after)[0])
	want := []string{"PATH=/bin", "HOME=/h", "OAUTHFORM_CONNECTION=a", "OAUTHFORM_PROVIDER=sms77",
		"OAUTHFORM_STATUS=needs_reconnect", "OAUTHFORM_ERROR_KIND=invalid_grant", "OAUTHFORM_ERROR=invalid_grant: revoked"}
	if !slices.Equal(env, want) {
		t.Fatalf("env %q, want %q", env, want)
	}
}

// TestMetaDrift: a connected burner the provider no longer lists is gone;
// the same ids (numbers as json.Number or float64) are no change.
func TestMetaDrift(t *testing.T) {
	meta := map[string]any{"connected_burners": []any{
		map[string]any{"id": "b1", "name": "Main"}, map[string]any{"id": "b2", "name": "Side"},
	}}
	answer := []any{map[string]any{"id": "b2", "name": "Side", "phoneNumberId": "+1"}, map[string]any{"id": "b3"}}
	got := metaDrift([]string{"connected_burners"}, meta, answer)
	kept, _ := got["connected_burners"].([]any)
	if len(kept) != 1 || kept[0].(map[string]any)["id"] != "b2" {
		t.Fatalf("drift %v, want only b2 kept", got)
	}
	same := []any{map[string]any{"id": "b1"}, map[string]any{"id": "b2"}}
	if got := metaDrift([]string{"connected_burners"}, meta, same); got != nil {
		t.Fatalf("no change expected, got %v", got)
	}
	if got := metaDrift([]string{"connected_burners"}, meta, map[string]any{"id": "x"}); got != nil {
		t.Fatalf("an object answer is not a list of the account's objects: %v", got)
	}
}
