package bolt_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
	"github.com/oauthform/oauthform/internal/state/statetest"
)

// TestBoltConformance runs the backend conformance suite on bbolt.
func TestBoltConformance(t *testing.T) {
	var mu sync.Mutex
	paths := map[*testing.T]string{} // one state per (sub)test
	statetest.TestStore(t, func(t *testing.T) state.Store {
		mu.Lock()
		p, ok := paths[t]
		if !ok {
			p = filepath.Join(t.TempDir(), ".oauthform", "state.db")
			paths[t] = p
		}
		mu.Unlock()
		s, err := bolt.Open(p, state.Options{Create: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// TestBoltConformanceEncrypted runs the suite on an encrypted state: every
// store has the passphrase.
func TestBoltConformanceEncrypted(t *testing.T) {
	var mu sync.Mutex
	paths := map[*testing.T]string{}
	pass := secret.New("conformance passphrase")
	statetest.TestStore(t, func(t *testing.T) state.Store {
		mu.Lock()
		p, ok := paths[t]
		if !ok {
			p = filepath.Join(t.TempDir(), ".oauthform", "state.db")
			paths[t] = p
		}
		mu.Unlock()
		s, err := bolt.Open(p, state.Options{Create: true, Passphrase: pass})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
