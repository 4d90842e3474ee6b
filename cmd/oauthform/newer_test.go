package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// A state written by a newer oauthform (a format this binary does not
// read) is refused, naming both versions, and left as it was.
func TestNewerStateFormatNamesBothVersions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".oauthform", "state.db")
	st, err := bolt.Open(path, state.Options{Create: true, Version: "0.1.0-dev"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		if err := b.Put([]byte(state.MetaFormat), []byte("99")); err != nil {
			return err
		}
		return b.Put([]byte(state.MetaWrittenBy), []byte("7.0.0"))
	})
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(`app "x" {
  provider      = "sms77"
  client_id     = "i"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("oauthform", "-chdir", dir, "plan")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("plan read a state of a newer format")
	}
	for _, want := range []string{"written by oauthform 7.0.0", "This is oauthform 0.1.0-dev"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the newer state was modified")
	}
}
