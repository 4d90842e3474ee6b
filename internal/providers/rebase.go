package providers

import (
	"fmt"
	"net/url"
)

// Rebase returns a copy of p whose endpoint URLs (authorize, token, refresh,
// revoke, check, device authorization, issuer) keep their paths but point at base, a URL such as
// "http://127.0.0.1:9400". Emulators serve every built-in's real paths on one
// address, so a rebased built-in talks to its emulator exactly as it would to
// the provider.
func (p *Profile) Rebase(base string) (*Profile, error) {
	b, err := url.Parse(base)
	if err != nil || b.Scheme == "" || b.Host == "" {
		return nil, fmt.Errorf("rebasing provider %s: %q is not an absolute URL", p.Name, base)
	}
	c := p.Clone()
	for _, f := range []*string{&c.AuthorizeURL, &c.TokenURL, &c.RefreshURL, &c.RevokeURL, &c.CheckURL, &c.DeviceAuthURL, &c.Issuer} {
		if *f == "" {
			continue
		}
		u, err := url.Parse(*f)
		if err != nil {
			return nil, fmt.Errorf("rebasing provider %s: %w", p.Name, err)
		}
		u.Scheme, u.Host = b.Scheme, b.Host
		u.Path = b.Path + u.Path
		*f = u.String()
	}
	return c, nil
}
