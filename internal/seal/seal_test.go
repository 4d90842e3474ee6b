package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/oauthform/oauthform/internal/secret"
)

// cheap are fast parameters for tests; NewParams is checked separately.
func cheap() Params {
	p := NewParams()
	p.Time, p.MemoryKiB, p.Threads = 1, 64, 1
	return p
}

func TestNewParamsAreStrong(t *testing.T) {
	p := NewParams()
	if p.KDF != KDFArgon2id || p.Time < 1 || p.MemoryKiB < 64*1024 || p.Threads < 1 || len(p.Salt) != SaltSize {
		t.Errorf("NewParams = %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	if bytes.Equal(p.Salt, NewParams().Salt) {
		t.Error("two NewParams share a salt")
	}
}

func TestSealOpen(t *testing.T) {
	pass := secret.New("passphrase")
	p := cheap()
	k, err := Derive(pass, p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Derive(secret.New("passphrase"), p)
	if err != nil || again != k {
		t.Errorf("Derive again = %p, %v: want the cached key %p", again, err, k)
	}
	sealed := k.Seal([]byte("TOKEN-1"), []byte("aad"))
	if bytes.Contains(sealed, []byte("TOKEN-1")) {
		t.Error("sealed value holds the plaintext")
	}
	if other := k.Seal([]byte("TOKEN-1"), []byte("aad")); bytes.Equal(other, sealed) {
		t.Error("two seals of one value are equal (nonce reuse)")
	}
	got, err := k.Open(sealed, []byte("aad"))
	if err != nil || string(got) != "TOKEN-1" {
		t.Fatalf("Open = %q, %v", got, err)
	}

	wrongPass, err := Derive(secret.New("passphrasf"), p)
	if err != nil {
		t.Fatal(err)
	}
	otherSalt, err := Derive(pass, cheap())
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for name, c := range map[string]struct {
		k        *Key
		sealed   []byte
		aad      string
		wantFail bool
	}{
		"wrong passphrase": {wrongPass, sealed, "aad", true},
		"other salt":       {otherSalt, sealed, "aad", true},
		"other aad":        {k, sealed, "aae", true},
		"altered":          {k, flipped, "aad", true},
		"truncated":        {k, sealed[:10], "aad", true},
		"empty":            {k, nil, "aad", true},
	} {
		if _, err := c.k.Open(c.sealed, []byte(c.aad)); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open = %v, want ErrOpen", name, err)
		}
	}
}

func TestDeriveRefuses(t *testing.T) {
	if _, err := Derive(secret.Secret{}, cheap()); err == nil {
		t.Error("Derive accepted an empty passphrase")
	}
	for name, change := range map[string]func(*Params){
		"kdf":         func(p *Params) { p.KDF = "scrypt" },
		"time 0":      func(p *Params) { p.Time = 0 },
		"time huge":   func(p *Params) { p.Time = 1000 },
		"memory huge": func(p *Params) { p.MemoryKiB = 1 << 30 },
		"memory tiny": func(p *Params) { p.MemoryKiB = 4 },
		"threads 0":   func(p *Params) { p.Threads = 0 },
		"short salt":  func(p *Params) { p.Salt = p.Salt[:8] },
	} {
		p := cheap()
		change(&p)
		_, err := Derive(secret.New("x"), p)
		if err == nil {
			t.Errorf("%s: Derive accepted %+v", name, p)
		} else if strings.Contains(err.Error(), "x") && strings.Contains(err.Error(), `"x"`) {
			t.Errorf("%s: error shows the passphrase: %v", name, err)
		}
	}
}
