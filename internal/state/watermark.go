package state

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Watermark is the newest serial a local state was committed with, kept in
// a small file beside it (state.db.serial), outside the bbolt file: a state
// whose serial is behind it went back in time (a restored backup, a copy,
// a bbolt meta page rolled back), so connections granted, refreshed or
// removed since are not in it as they are at the providers. The custody
// journal refuses to present rotated-out refresh tokens on its own; the
// watermark lets every command say what happened.
type Watermark struct {
	Lineage string    `json:"lineage"`
	Serial  uint64    `json:"serial"`
	Written time.Time `json:"written"`
}

// watermarkPath is the watermark file of the state at path.
func watermarkPath(path string) string { return path + ".serial" }

// WriteWatermark replaces the watermark of the local state at path, for
// the backend that keeps one after every commit (best effort, not synced:
// a watermark lost with a crash is behind the state, never ahead of it, so
// it can never raise a false alarm).
func WriteWatermark(path string, m *Watermark) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".serial-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), watermarkPath(path)) != nil {
		_ = os.Remove(tmp.Name())
	}
}

// ErrBehind: the state's serial is behind the watermark beside it.
var ErrBehind = fmt.Errorf("the state is behind its last commit")

// CheckWatermark compares the snapshot of the local state at path with the
// watermark beside it and returns an error wrapping ErrBehind, saying
// what it means, when the state went back in time. A missing or foreign
// watermark (another lineage) says nothing.
func CheckWatermark(path string, snap *Snapshot) error {
	b, err := os.ReadFile(watermarkPath(path))
	if err != nil || snap.Empty() {
		return nil
	}
	var m Watermark
	if json.Unmarshal(b, &m) != nil || m.Lineage != snap.Lineage || m.Serial <= snap.Serial {
		return nil
	}
	return fmt.Errorf("%w: %s has serial %d, but serial %d was written at %s. It was restored from a backup, copied back, or rolled back by a damaged disk: "+
		"connections granted, refreshed or removed since are not in it as they are at the providers. "+
		"Rotating refresh tokens it holds may be spent; oauthform refuses to present those and names the custody file that holds the newer ones",
		ErrBehind, path, snap.Serial, m.Serial, m.Written.Format(time.RFC3339))
}
