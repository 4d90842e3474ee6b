// Package views renders what oauthform's commands did, for people and as
// JSON documents (docs/json-output.md): plans, apply progress and
// summaries, show, diagnostics, migrate, rekey, providers, emulate and
// the other commands' output. A view writes only to the streams it is
// given.
package views

import (
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// View is where a command's output goes and how it may look.
type View struct {
	// Out and Err are the command's standard output and error.
	Out, Err io.Writer
	// Color and ErrColor say whether Out and Err may use colour.
	Color, ErrColor bool
	// OutTerminal says whether Out is a terminal (live progress).
	OutTerminal bool
	// Width is the terminal's width, or 0.
	Width int
}

// WriteJSON writes v as one indented JSON document.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// colors for the human view; empty strings when colour is off.
type Palette struct {
	green, yellow, red, cyan, bold, reset string
}

func NewPalette(on bool) Palette {
	if !on {
		return Palette{}
	}
	return Palette{green: "\x1b[32m", yellow: "\x1b[33m", red: "\x1b[31m", cyan: "\x1b[36m", bold: "\x1b[1m", reset: "\x1b[0m"}
}

// FormatDuration prints d compactly: 10m, 1h30m, 45s, 7d2h.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	neg := d < 0
	if neg {
		d = -d
	}
	var buf [32]byte
	b := buf[:0]
	if neg {
		b = append(b, '-')
	}
	parts := 0
	for _, u := range durationUnits {
		if d >= u.d {
			b = strconv.AppendInt(b, int64(d/u.d), 10)
			b = append(b, u.n)
			d %= u.d
			parts++
		}
	}
	if parts == 0 {
		return d.String()
	}
	return string(b)
}

// durationUnits are FormatDuration's units, largest first.
var durationUnits = [...]struct {
	n byte
	d time.Duration
}{{'d', 24 * time.Hour}, {'h', time.Hour}, {'m', time.Minute}, {'s', time.Second}}

// RelTime says when t is relative to now: "in 52m", "3h ago".
func RelTime(t, now time.Time) string {
	d := t.Sub(now).Truncate(time.Second)
	if d >= 0 {
		return "in " + FormatDuration(d)
	}
	return FormatDuration(-d) + " ago"
}
