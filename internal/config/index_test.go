package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestLoadConnectionFromIndex(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.oauth.hcl", `variable "secret" {
  type      = string
  sensitive = true
}

provider "acme" {
  authorize_url = "https://auth.acme.example/authorize"
  token_url     = "https://auth.acme.example/token"
}

app "acme" {
  provider      = "acme"
  client_id     = "cid"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
`)
	write("b.oauth.hcl", `connection "c1" {
  app    = app.acme
  scopes = ["read"]
}

connection "c2" {
  app            = app.acme
  scopes         = ["read", "write"]
  params         = { audience = "api" }
  refresh_before = "20m"
  token_lifetime = "2h"
  username       = "x-token"
}
`)
	in := Inputs{Environ: []string{"OAUTHFORM_VAR_secret=s3cret"}}
	full, diags := Load(dir, in)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	idx := NewIndex(full)
	path := filepath.Join(t.TempDir(), "index.json")
	if err := WriteIndex(path, idx); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ReadIndex(path), idx) {
		t.Fatal("the index does not read back as written")
	}

	if got := ReadIndexFor(path, "c2"); len(got.Files) != 2 || len(got.Files[1].Blocks) != 1 || got.Files[1].Blocks[0].Name != "c2" {
		t.Errorf("ReadIndexFor kept %+v, want c2's block alone of the connections", got.Files)
	}
	part, ok := LoadConnection(dir, in, ReadIndexFor(path, "c2"), "c2")
	if !ok {
		t.Fatal("LoadConnection refused an index that matches")
	}
	if len(part.Connections) != 1 {
		t.Errorf("partial load decoded %d connections, want only c2", len(part.Connections))
	}
	got, want := part.Connections["c2"], full.Connections["c2"]
	if got == nil || !reflect.DeepEqual(got.Scopes, want.Scopes) || !reflect.DeepEqual(got.Params, want.Params) ||
		got.RefreshBefore != want.RefreshBefore || got.TokenLifetime != want.TokenLifetime || got.Username != want.Username ||
		got.DeclRange != want.DeclRange || got.App.ClientID != want.App.ClientID ||
		!got.App.ClientSecret.Equal(want.App.ClientSecret) || got.App.RedirectURI != want.App.RedirectURI ||
		!reflect.DeepEqual(part.Providers["acme"], full.Providers["acme"]) {
		t.Errorf("partial c2 = %+v\nfull c2 = %+v", got, want)
	}

	if _, ok := LoadConnection(dir, in, idx, "c3"); ok {
		t.Error("an unknown connection loaded from the index")
	}
	if _, ok := LoadConnection(dir, Inputs{Environ: []string{}}, idx, "c2"); ok {
		t.Error("a partial load with an error (the secret has no value) was used")
	}
	write("b.oauth.hcl", "connection \"c2\" {\n  app = app.acme\n}\n")
	if _, ok := LoadConnection(dir, in, idx, "c2"); ok {
		t.Error("a changed file was read from the old index")
	}
	full, _ = Load(dir, in)
	idx = NewIndex(full)
	write("c.oauth.hcl", "connection \"c9\" {\n  app = app.acme\n}\n")
	if _, ok := LoadConnection(dir, in, idx, "c2"); ok {
		t.Error("the index was used though a file was added")
	}
}
