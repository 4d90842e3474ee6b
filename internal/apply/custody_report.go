package apply

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/oauthform/oauthform/internal/state"
)

// Custody states reported by CustodyReport.
const (
	// CustodyInFlight: a refresh was sent and its answer has not reached
	// the state; its process is still running.
	CustodyInFlight = "refresh_in_flight"
	// CustodyInterrupted: a refresh was sent and its process is gone (or
	// gave up) without writing an answer: the provider may have rotated
	// the refresh token. The next refresh tries the old one once.
	CustodyInterrupted = "refresh_interrupted"
	// CustodyPending: an answer the state did not keep is in a custody or
	// emergency file; the next command that refreshes the connection
	// writes it to the state.
	CustodyPending = "pending_tokens"
	// CustodyBehind: the state went back in time: a newer refresh token
	// was answered and committed; the state's is spent.
	CustodyBehind = "state_behind"
)

// CustodyStatus is what the custody journal and emergency files say about
// one connection that the state alone does not.
type CustodyStatus struct {
	State  string
	Detail string
	// File is the custody or emergency file involved, if any.
	File string
}

// CustodyReport compares the custody journal and emergency files in dir
// (the state's folder, or Refresher.EmergencyDir) with snap, for show and
// plan: a connection appears when a refresh is in flight or was
// interrupted, or when tokens newer than the state's are kept outside it.
// It reads no secret.
func CustodyReport(dir string, snap *state.Snapshot) (map[string]*CustodyStatus, error) {
	return StartCustodyReport(dir)(snap)
}

// StartCustodyReport is CustodyReport in two steps: it starts reading the
// custody journal and the emergency files in dir at once (a file per
// rotating connection), and the returned func compares them with the
// snapshot, waiting for the read. A command that is about to read the
// state reads both at the same time.
//
// A custody file read before the snapshot can only be older than the
// record, never newer than an answer the snapshot lacks: whatever it
// misses, a refresh of that connection finds, since it reads the custody
// file again under the connection's lock before sending (Refresher).
func StartCustodyReport(dir string) func(snap *state.Snapshot) (map[string]*CustodyStatus, error) {
	type files struct {
		entries []*CustodyEntry
		em      map[string][]string
		err     error
	}
	ch := make(chan files, 1)
	go func() {
		var f files
		var lerr, eerr error
		f.entries, lerr = (&Journal{Dir: CustodyDir(dir)}).List()
		f.em, eerr = EmergencyFiles(dir)
		f.err = errors.Join(lerr, eerr)
		ch <- f
	}()
	return func(snap *state.Snapshot) (map[string]*CustodyStatus, error) {
		f := <-ch
		byConn := make(map[string]*CustodyEntry, len(f.entries))
		for _, e := range f.entries {
			byConn[e.Conn] = e
		}
		out := map[string]*CustodyStatus{}
		for name, rec := range snap.Records {
			if c := custodyStatus(rec, byConn[name], f.em[name]); c != nil {
				out[name] = c
			}
		}
		return out, f.err
	}
}

// CustodyOf is CustodyReport for one record (token's fast path).
func CustodyOf(dir string, rec *state.Record) (*CustodyStatus, error) {
	e, err := (&Journal{Dir: CustodyDir(dir)}).Read(rec.Conn)
	files, eerr := emergencyFiles(dir, rec.Conn)
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
	}
	return custodyStatus(rec, e, paths), errors.Join(err, eerr)
}

// custodyStatus compares rec with its custody entry e (nil: none) and
// emergency files.
func custodyStatus(rec *state.Record, e *CustodyEntry, emergency []string) *CustodyStatus {
	name := rec.Conn
	if e != nil && e.Answered() && e.Grant.Equal(rec.Created) && e.Generation > rec.Generation {
		at := e.AnsweredAt.Format(time.RFC3339)
		if rec.InFlight != nil && rec.InFlight.Generation == e.Generation {
			return &CustodyStatus{State: CustodyPending, File: e.Path, Detail: fmt.Sprintf(
				"the answer to a refresh (at %s) was kept in %s but not written to the state; the next oauthform command that refreshes %s writes it",
				at, e.Path, name)}
		}
		return &CustodyStatus{State: CustodyBehind, File: e.Path, Detail: fmt.Sprintf(
			"the state is behind: its refresh token is generation %d, but generation %d was answered at %s (the state was restored from a backup or went back in time); "+
				"refreshing would present a spent token, so it is refused. Run `oauthform state restore %s`",
			rec.Generation, e.Generation, at, e.Path)}
	}
	for _, f := range emergency {
		t, err := readEmergency(f)
		if err != nil || !t.Written.After(rec.Refreshed) {
			continue
		}
		return &CustodyStatus{State: CustodyPending, File: f, Detail: fmt.Sprintf(
			"tokens a provider issued at %s were saved to the emergency file %s because the state could not be written; "+
				"the next oauthform command that refreshes %s writes them to the state (or run `oauthform state restore %s`)",
			t.Written.Format(time.RFC3339), f, name, f)}
	}
	if f := rec.InFlight; f != nil {
		if processAlive(f) {
			return &CustodyStatus{State: CustodyInFlight, Detail: fmt.Sprintf("a refresh is on its way, sent %s", f)}
		}
		return &CustodyStatus{State: CustodyInterrupted, Detail: fmt.Sprintf(
			"a refresh was sent %s and its answer never reached the state (the process was killed, or gave up); "+
				"the provider may have rotated the refresh token: the next refresh tries the old one once", f)}
	}
	return nil
}

// processAlive reports whether the process that sent f is still running
// (only knowable on this host).
func processAlive(f *state.Flight) bool {
	if f.Host != state.Hostname() || f.PID <= 0 {
		return false
	}
	if f.PID == os.Getpid() {
		return true
	}
	return pidAlive(f.PID)
}
