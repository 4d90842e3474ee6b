//go:build linux || darwin

package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// TestWatchSIGTERM: `refresh -watch 1s` refreshes what is due round after
// round; a SIGTERM while a refresh is on the wire lets it finish and be
// written, one between rounds ends the wait, and either way the program
// exits 0 with a whole record: the next token works and
// the provider never saw a spent refresh token.
func TestWatchSIGTERM(t *testing.T) {
	for _, during := range []string{"refresh", "sleep"} {
		t.Run(during, func(t *testing.T) {
			w := newCustodyWorld(t, 700*time.Millisecond)
			// sms77 tokens live an hour: a clock two hours on makes every
			// round's refresh due.
			cmd, out, done := w.start([]string{clockEnv + "=2h"}, "refresh", "-watch", "1s")
			if during == "refresh" {
				w.waitRefreshes(1, done) // the first round's refresh is on the wire
			} else {
				w.waitRefreshes(1, done)
				deadline := time.Now().Add(10 * time.Second)
				for !strings.Contains(out.String(), "Next round at") && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("refresh -watch did not stop after SIGTERM:\n%s", out)
			}
			if err != nil {
				t.Fatalf("refresh -watch after SIGTERM = %v, want exit 0\n%s", err, out)
			}
			if during == "refresh" && !strings.Contains(out.String(), "Waiting for the provider's answer to the refresh of "+custodyConn) {
				t.Fatalf("SIGTERM did not find the refresh on the wire:\n%s", out)
			}
			if !strings.Contains(out.String(), "Stopped watching") {
				t.Fatalf("no word of stopping:\n%s", out)
			}
			w.mustNotReuse("after SIGTERM")
			st, err := bolt.Open(w.state, state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rec, err := st.Get(context.Background(), custodyConn)
			_ = st.Close()
			if err != nil || rec.InFlight != nil || rec.Status != state.StatusActive || int(rec.Generation) != w.emu.Stats().Refreshes {
				t.Fatalf("torn record after SIGTERM: err %v, in flight %v, status %s, generation %d for %d refreshes\n%s",
					err, rec.InFlight, rec.Status, rec.Generation, w.emu.Stats().Refreshes, out)
			}
			w.nextTokenWorks("after refresh -watch stopped")
		})
	}
}
