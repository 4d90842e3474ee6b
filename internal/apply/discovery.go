package apply

import (
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// cachedEndpoints is the discovery a record keeps, for
// providers.Client.DiscoverCached.
func cachedEndpoints(rec *state.Record) *providers.Endpoints {
	d := rec.Discovery
	if d == nil {
		return nil
	}
	return &providers.Endpoints{
		Issuer: d.Issuer, AuthorizeURL: d.AuthorizeURL, TokenURL: d.TokenURL,
		RevokeURL: d.RevokeURL, CheckURL: d.CheckURL, DeviceAuthURL: d.DeviceAuthURL, IssRequired: d.IssRequired, Fetched: d.Fetched,
	}
}

// keepDiscovery records in rec what client's discovery found, so that the
// next refresh (and plan) can use it without fetching.
func keepDiscovery(rec *state.Record, client *providers.Client) {
	e := client.Discovered()
	if e == nil {
		return
	}
	rec.Discovery = &state.Discovery{
		Issuer: e.Issuer, AuthorizeURL: e.AuthorizeURL, TokenURL: e.TokenURL,
		RevokeURL: e.RevokeURL, CheckURL: e.CheckURL, DeviceAuthURL: e.DeviceAuthURL, IssRequired: e.IssRequired, Fetched: e.Fetched.UTC(),
	}
}
