package state

import (
	"context"
	"errors"
	"fmt"
)

// Importer is implemented by stores that can take a whole state as it is,
// for `state migrate`: its lineage (so saved plans and secret fingerprints
// keep meaning the same) and every record.
type Importer interface {
	// Import writes snap into a state that holds no connection, in one
	// transaction, under the operation lock: snap's lineage replaces the
	// destination's, and its records (which must not be sealed) are
	// written sealed under this store's passphrase, bound to that
	// lineage, or in the clear without one. The serial moves on by one.
	Import(ctx context.Context, snap *Snapshot) error
}

// ErrNotEmpty: Import refuses a destination that already holds records.
var ErrNotEmpty = errors.New("the destination state already holds connections; import only into an empty state")

// checkImport checks snap before a backend imports it (Importer).
func checkImport(snap *Snapshot) error {
	if snap == nil || snap.Lineage == "" {
		return errors.New("importing a state: the source has no lineage")
	}
	for _, rec := range snap.Records {
		if err := CheckWritable(rec); err != nil {
			return fmt.Errorf("importing a state: %w", err)
		}
	}
	return nil
}
