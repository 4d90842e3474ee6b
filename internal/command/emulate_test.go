package command

import (
	"testing"
	"time"
)

// TestEmulateLatencyFlag: -latency delays token and refresh answers (the
// emulator's Faults.Latency) and must not be negative.
func TestEmulateLatencyFlag(t *testing.T) {
	eo, _, diags := parseEmulateArgs([]string{"sms77", "-latency=50ms"})
	if diags.HasErrors() || eo.latency != 50*time.Millisecond {
		t.Fatalf("-latency=50ms: %v, %v", eo, diags)
	}
	if _, _, diags := parseEmulateArgs([]string{"sms77", "-latency=-1s"}); !diags.HasErrors() {
		t.Error("a negative -latency was accepted")
	}
}
