package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Browser is an in-process browser (a grant.Browser) for the quickstart's
// emulators and for tests: it loads an emulator's consent page, clicks Approve (or Deny),
// and follows the redirect to the callback, the way a person's browser
// would. Its Open returns once the callback has been answered, which
// [Runner.Run] allows for by calling Open in its own goroutine.
type Browser struct {
	// HTTP is the client for both the consent page and the callback; nil
	// means http.DefaultClient.
	HTTP *http.Client
	// Approve clicks Approve; false clicks Deny.
	Approve bool
}

// Open authorizes at the consent page behind authURL and delivers the
// callback. Any answer from the callback counts as delivered; its page is
// read and discarded.
func (b Browser) Open(ctx context.Context, authURL string) error {
	hc := b.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	cb, err := Consent(ctx, hc, authURL, b.Approve)
	if err != nil {
		return fmt.Errorf("at the consent page: %w", stripURL(err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cb.String(), nil)
	if err != nil {
		return fmt.Errorf("following the redirect to the callback: %w", err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := hc.Do(req)
	if err != nil {
		// The URL carries the code: name only where it went.
		return fmt.Errorf("following the redirect to the callback %s://%s%s: %w", cb.Scheme, cb.Host, cb.Path, stripURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}

// stripURL returns the cause of a *url.Error, whose message carries the
// whole URL (with its state or code); other errors are returned as they
// are.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
