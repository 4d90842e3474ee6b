package state_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
	"github.com/oauthform/oauthform/internal/state/pg"
	"github.com/oauthform/oauthform/internal/state/pgtest"
)

// Import moves a whole state, lineage included, into an empty one of
// either backend, sealed under the destination's passphrase; a second
// import into the now non-empty state is refused.
func TestImportKeepsLineage(t *testing.T) {
	ctx := context.Background()
	pass := secret.New("import-pass-1")
	src := &state.Snapshot{Lineage: "11111111-2222-3333-4444-555555555555", Serial: 7, Records: map[string]*state.Record{
		"a": {Conn: "a", Provider: "sms77", Access: secret.New("tok-a"), Refresh: secret.New("ref-a"), Status: state.StatusActive},
		"b": {Conn: "b", Provider: "burner", Access: secret.New("tok-b"), Status: state.StatusActive},
	}}
	open := map[string]func(t *testing.T, pass secret.Secret) state.Store{
		"bolt": func(t *testing.T, pass secret.Secret) state.Store {
			st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Create: true, Passphrase: pass})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"pg": func(t *testing.T, pass secret.Secret) state.Store {
			st, err := pg.Open(ctx, secret.New(pgtest.Start(t)), "imp", state.Options{Create: true, Passphrase: pass})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, openStore := range open {
		for _, encrypted := range []bool{false, true} {
			sub := name + "/plain"
			if encrypted {
				sub = name + "/encrypted"
			}
			t.Run(sub, func(t *testing.T) {
				p := secret.Secret{}
				if encrypted {
					p = pass
				}
				st := openStore(t, p)
				defer st.Close()
				if _, err := st.Init(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Lock(ctx, "migrate"); err != nil {
					t.Fatal(err)
				}
				im := st.(state.Importer)
				if err := im.Import(ctx, src); err != nil {
					t.Fatal(err)
				}
				snap, err := st.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if snap.Lineage != src.Lineage || len(snap.Records) != 2 || snap.Encrypted != encrypted {
					t.Fatalf("lineage %q, %d records, encrypted %v", snap.Lineage, len(snap.Records), snap.Encrypted)
				}
				if got := snap.Records["a"]; got.Access.Reveal() != "tok-a" || got.Refresh.Reveal() != "ref-a" {
					t.Errorf("record a = %+v", got)
				}
				if err := im.Import(ctx, src); !errors.Is(err, state.ErrNotEmpty) {
					t.Errorf("second import: %v, want ErrNotEmpty", err)
				}
				_ = st.Unlock(ctx)
			})
		}
	}
}
