package config

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkLoad10k loads 10,000 connections over the four seed providers
// (burner, sms77, buffer, phoneburner), spread over 10 files.
func BenchmarkLoad10k(b *testing.B) {
	const files, perFile = 10, 1000
	dir := b.TempDir()
	writeFile(b, dir, "apps.oauth.hcl", `
variable "secret" {
  sensitive = true
  default   = "bench-secret"
}
app "burner" {
  provider      = "burner"
  client_id     = "burner-client"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
app "sms" {
  provider      = "sms77"
  client_id     = "sms-client"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
app "buffer" {
  provider      = "buffer"
  client_id     = "buffer-client"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
app "dialer" {
  provider      = "phoneburner"
  client_id     = "pb-client"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
`)
	bodies := []string{
		"  app    = app.burner\n  scopes = [\"burners:read\", \"messages:connect\"]\n  params = { burner_id = \"b-%d\" }\n",
		"  app            = app.sms\n  scopes         = [\"sms\", \"analytics\", \"lookup\"]\n  refresh_before = \"%dm\"\n",
		"  app = app.buffer # %d\n",
		"  app    = app.dialer\n  params = { owner_type = \"vendor\" } # %d\n",
	}
	for f := range files {
		var sb strings.Builder
		for i := range perFile {
			n := f*perFile + i
			fmt.Fprintf(&sb, "connection \"c%05d\" {\n", n)
			fmt.Fprintf(&sb, bodies[n%len(bodies)], n%60+1)
			sb.WriteString("}\n\n")
		}
		writeFile(b, dir, fmt.Sprintf("conn%02d.oauth.hcl", f), sb.String())
	}
	in := Inputs{Environ: []string{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cfg, diags := Load(dir, in)
		if len(diags) > 0 || len(cfg.Connections) != files*perFile {
			b.Fatalf("%d connections, diagnostics: %v", len(cfg.Connections), diags)
		}
	}
}

// BenchmarkLoadBinary loads 9.9 MiB of random bytes, just under
// MaxConfigSize: one diagnostic at the first byte that is not UTF-8,
// where the lexer alone took 3 s and 1 GB for 374,000 diagnostics.
func BenchmarkLoadBinary(b *testing.B) {
	dir := b.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]byte, MaxConfigSize/100*99)
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	writeFile(b, dir, "main.oauth.hcl", string(src))
	in := Inputs{Environ: []string{}}
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := Load(dir, in); len(diags) != 1 {
			b.Fatalf("%d diagnostics, want 1", len(diags))
		}
	}
}
