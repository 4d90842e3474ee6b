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
