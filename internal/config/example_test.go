package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
)

// Load reads every *.oauth.hcl file of a directory. Diagnostics render
// with source snippets through the files the Config keeps.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "oauthform-example")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(`
variable "sms_secret" {
  type      = string
  sensitive = true
}

app "sms" {
  provider      = "sms77"
  client_id     = "testclient"
  client_secret = var.sms_secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "sms_main" {
  app    = app.sms
  scopes = ["sms", "analytics", "lookup"]
}
`), 0o600)

	cfg, diags := config.Load(dir, config.Inputs{
		Vars:    []string{"sms_secret=s3cr3t"},
		Environ: []string{},
	})
	if diags.HasErrors() {
		wr := hcl.NewDiagnosticTextWriter(os.Stderr, cfg.Files(), 80, false)
		_ = wr.WriteDiagnostics(diags)
		return
	}
	names := make([]string, 0, len(cfg.Connections))
	for name := range cfg.Connections {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := cfg.Connections[name]
		fmt.Printf("%s: app %s, provider %s, scopes %v, refresh %s before expiry, secret %v\n",
			c.Name, c.App.Name, c.App.Profile.Name, c.Scopes, c.RefreshBefore, c.App.ClientSecret)
	}
	// Output:
	// sms_main: app sms, provider sms77, scopes [sms analytics lookup], refresh 10m0s before expiry, secret (sensitive)
}
