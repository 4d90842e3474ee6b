package command

import (
	"testing"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/grant"
	"github.com/oauthform/oauthform/internal/providers/emulator"
)

// TestEmulatorBrowserApprovesDevices: the in-process browser of
// `emulator = true` plays the person of a device grant too.
func TestEmulatorBrowserApprovesDevices(t *testing.T) {
	var b grant.Browser = emulatorBrowser{emulator.Browser{Approve: true}}
	if _, ok := b.(grant.DeviceBrowser); !ok {
		t.Fatal("emulatorBrowser is not a grant.DeviceBrowser")
	}
}

// TestEmulatorClientsWithoutRedirect: an app without redirect_uri (its
// connections use the device or client credentials grant) is registered
// without one, and an app sharing its client_id keeps its own.
func TestEmulatorClientsWithoutRedirect(t *testing.T) {
	cfg := &config.Config{Apps: map[string]*config.App{
		"dev": {Name: "dev", Provider: "oauth2", ClientID: "cid"},
		"web": {Name: "web", Provider: "oauth2", ClientID: "cid", RedirectURI: "http://127.0.0.1:8765/cb"},
		"svc": {Name: "svc", Provider: "oauth2", ClientID: "svc"},
	}}
	got := emulatorClients("oauth2", cfg)
	if len(got) != 2 || got[0].ID != "cid" || len(got[0].RedirectURIs) != 1 || got[1].ID != "svc" || len(got[1].RedirectURIs) != 0 {
		t.Fatalf("clients = %+v", got)
	}
	if _, err := emulator.New(emulator.Options{Provider: "oauth2", Clients: got}); err != nil {
		t.Fatalf("the emulator refuses them: %v", err)
	}
}
