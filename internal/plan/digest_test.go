package plan

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/secret"
)

func TestDigest(t *testing.T) {
	// build makes the same configuration, inserting every map entry and
	// listing every scope in the order given.
	build := func(reverse bool) *config.Config {
		conns := []*config.Connection{
			withConn(conn("mail", appA, 1, "read", "send", "admin"), func(c *config.Connection) {
				c.Params = map[string]string{"prompt": "consent", "resource": "https://api.example", "a": "b"}
			}),
			conn("docs", appA, 2, "docs"),
			conn("feed", appN, 3, "read", "write"),
		}
		if reverse {
			for i, j := 0, len(conns)-1; i < j; i, j = i+1, j-1 {
				conns[i], conns[j] = conns[j], conns[i]
			}
			for _, c := range conns {
				for i, j := 0, len(c.Scopes)-1; i < j; i, j = i+1, j-1 {
					c.Scopes[i], c.Scopes[j] = c.Scopes[j], c.Scopes[i]
				}
				if c.Params != nil {
					p := map[string]string{}
					for _, k := range []string{"resource", "a", "prompt"} {
						p[k] = c.Params[k]
					}
					c.Params = p
				}
				c.DeclRange.Start.Line += 100 // moving a block changes nothing
			}
		}
		return newConfig(conns...)
	}
	base := build(false)
	want := Digest(base, testLineage)
	if len(want) != 64 || strings.Trim(want, "0123456789abcdef") != "" {
		t.Fatalf("Digest = %q, want 64 hex digits", want)
	}

	t.Run("stable across map and scope order", func(t *testing.T) {
		for range 20 {
			if got := Digest(build(true), testLineage); got != want {
				t.Fatalf("reordered config: digest %s, want %s", got, want)
			}
			if got := Digest(build(false), testLineage); got != want {
				t.Fatalf("same config: digest %s, want %s", got, want)
			}
		}
	})

	changed := map[string]func(*config.Config){
		"a scope": func(c *config.Config) {
			c.Connections["docs"] = withConn(c.Connections["docs"], func(c *config.Connection) { c.Scopes = append(c.Scopes, "more") })
		},
		"a param": func(c *config.Config) {
			c.Connections["mail"] = withConn(c.Connections["mail"], func(c *config.Connection) { c.Params["prompt"] = "login" })
		},
		"refresh_before": func(c *config.Config) {
			c.Connections["docs"] = withConn(c.Connections["docs"], func(c *config.Connection) { c.RefreshBefore = time.Hour })
		},
		"a connection's app": func(c *config.Config) {
			c.Connections["docs"] = withConn(c.Connections["docs"], func(c *config.Connection) { c.App = appN })
		},
		"a new connection": func(c *config.Config) {
			c.Connections["new"] = conn("new", appA, 9)
		},
		"the client secret": func(c *config.Config) {
			a := *appA
			a.ClientSecret = secret.New("another secret")
			c.Apps["a"] = &a
		},
		"the client id": func(c *config.Config) {
			a := *appA
			a.ClientID = "other"
			c.Apps["a"] = &a
		},
		"the redirect uri": func(c *config.Config) {
			a := *appA
			a.RedirectURI = "http://127.0.0.1:1/cb"
			c.Apps["a"] = &a
		},
		"a provider endpoint": func(c *config.Config) {
			c.Providers["acme"].RevokeURL = ""
		},
		"a provider knob": func(c *config.Config) {
			c.Providers["narrow"].DownScope = false
		},
		"a declared token_type": func(c *config.Config) {
			c.Providers["acme"].TokenType = "DPoP"
		},
	}
	for name, change := range changed {
		t.Run("changes with "+name, func(t *testing.T) {
			c := build(false)
			change(c)
			if got := Digest(c, testLineage); got == want {
				t.Errorf("digest unchanged")
			}
		})
	}

	t.Run("token_type Bearer, in any case, is the default", func(t *testing.T) {
		// Plans saved before the knob existed keep their digest.
		for _, tt := range []string{"", "Bearer", "bearer"} {
			c := build(false)
			c.Providers["acme"].TokenType = tt
			if got := Digest(c, testLineage); got != want {
				t.Errorf("token_type %q changed the digest", tt)
			}
		}
	})

	t.Run("secret fingerprint is keyed by lineage", func(t *testing.T) {
		if Digest(base, "another-lineage") == want {
			t.Error("digest does not depend on the lineage")
		}
	})

	t.Run("no secret in the digest input", func(t *testing.T) {
		var buf bytes.Buffer
		writeDigestInput(&buf, base, testLineage)
		in := buf.Bytes()
		for _, s := range []string{secretA, secretN} {
			if bytes.Contains(in, []byte(s)) {
				t.Errorf("digest input contains the client secret %q", s)
			}
		}
		if !bytes.Contains(in, []byte("hmac-sha256:")) {
			t.Error("digest input lacks the client secret fingerprint")
		}
	})

	t.Run("nil and empty configs", func(t *testing.T) {
		if Digest(nil, "") != Digest(&config.Config{}, "") {
			t.Error("nil and empty configs differ")
		}
	})
}

// TestDigestStable: the digest of a configuration does not change from
// one version of oauthform to the next (a saved plan records it), so the
// streamed encoding gives the bytes of the whole-document encoding it
// replaced. The value is that encoding's digest of this configuration.
func TestDigestStable(t *testing.T) {
	cfg := newConfig(
		withConn(conn("mail", appA, 1, "send", "read"), func(c *config.Connection) {
			c.Params = map[string]string{"prompt": "consent", "a": "b"}
		}),
		conn("docs", appA, 2, "docs"),
		conn("feed", appN, 3, "read", "write"),
	)
	const want = "2ca464333399686026a1e4f338f06df36ef683e14de52e08414464219a3d9d04"
	if got := Digest(cfg, testLineage); got != want {
		t.Errorf("Digest = %s, want %s", got, want)
	}
	if got := Digest(newConfig(), testLineage); got == want {
		t.Error("an empty configuration has the same digest")
	}
}
