package views

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 10 * time.Minute: "10m", 90 * time.Minute: "1h30m", 45 * time.Second: "45s",
		7*24*time.Hour + 2*time.Hour: "7d2h", -5 * time.Minute: "-5m", 500 * time.Millisecond: "500ms",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestParseFlagsInterleaved: flags may come before, between and after the
// positional arguments (`show NAME -json`), and "--" ends the flags.
