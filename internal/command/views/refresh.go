package views

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// RefreshEventFormatVersion versions the lines of `refresh -json`
// (docs/json-output.md).
const RefreshEventFormatVersion = "1.0"

// Outcomes of a connection in `refresh -json`.
const (
	OutcomeRefreshed   = "refreshed"
	OutcomeFailed      = "failed"
	OutcomeWaiting     = "waiting"
	OutcomeNeedsPerson = "needs_person"
	OutcomeNotStarted  = "not_started"
)

// RefreshEvent is one line of `refresh -json`: what one refresh round did
// to one connection. It never holds a token.
type RefreshEvent struct {
	FormatVersion string `json:"format_version"`
	Time          string `json:"time"`
	Connection    string `json:"connection"`
	// Outcome is refreshed, failed (counted, retried with backoff),
	// waiting (its next attempt is not due: nothing sent),
	// needs_person (a reconnect: run apply) or not_started (interrupted
	// before it began).
	Outcome string `json:"outcome"`
	// Reasons are the plan's reason codes for the action.
	Reasons []string `json:"reasons,omitempty"`
	// Status is the connection's status after the round: active,
	// failing or needs_reconnect ("" when unknown).
	Status      string `json:"status,omitempty"`
	ErrorKind   string `json:"error_kind,omitempty"`
	Error       string `json:"error,omitempty"`
	Failures    int    `json:"failures,omitempty"`
	NextAttempt string `json:"next_attempt,omitempty"`
	// Alerted says on_failure ran for this connection in this round.
	Alerted bool `json:"alerted,omitempty"`
}

// RefreshEvents writes one compact JSON line per event.
func RefreshEvents(w io.Writer, events []RefreshEvent) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

// WatchRound says, on standard error, that a watch round ended and when
// the next begins.
func (v *View) WatchRound(next time.Time) {
	fmt.Fprintf(v.Err, "Next round at %s.\n", next.UTC().Format(time.RFC3339))
}

// WatchStopped says that refresh -watch stopped after an interrupt.
func (v *View) WatchStopped() {
	fmt.Fprintln(v.Err, "Stopped watching: every refresh in flight was finished and written.")
}
