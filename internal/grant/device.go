package grant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
)

// DeviceBrowser is a [Browser] that can also play the person of a device
// grant given the verification address and the user code (the emulators'
// in-process browser). A Browser without it is opened at the
// verification_uri_complete, or the verification_uri when the server sent
// none.
type DeviceBrowser interface {
	OpenDevice(ctx context.Context, verificationURI string, userCode secret.Secret) error
}

// device runs a device authorization grant (RFC 8628): it asks the
// provider for a device code, prints the verification address and the
// user code once for the person, opens the address in the browser (unless
// there is none) and polls the token endpoint until the person approves
// or refuses, the code expires, the grant's timeout passes or ctx ends.
//
// A refusal returns the provider's *providers.Error of kind
// access_denied, as a denied browser grant does; an expired code says to
// run apply again; a timeout returns [ErrTimeout] and a canceled ctx
// [ErrCanceled]. The device code and the user code are never logged.
func (r *Runner) device(ctx context.Context, req Request, timeout time.Duration) (*providers.Token, error) {
	out := r.out()
	log := r.logger().With("conn", req.Conn, "provider", req.Provider)
	gctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	da, err := req.Client.DeviceAuth(gctx, req.Scopes, req.Params)
	if err != nil {
		if gctx.Err() != nil {
			return nil, deviceDoneErr(ctx, req.Conn, timeout)
		}
		return nil, fmt.Errorf("starting the device authorization of %s: %w", req.Conn, err)
	}
	log.Debug("device authorization started", "verification_uri", da.VerificationURI,
		"expires", da.Expiry.Format(time.RFC3339), "interval", da.Interval)
	fmt.Fprintf(out, "To authorize %s, open this address on any device:\n%s\nand enter the code: %s\n",
		req.Conn, da.VerificationURI, da.UserCode.Reveal())
	if !da.VerificationURIComplete.IsZero() {
		fmt.Fprintf(out, "(or open %s, which carries the code)\n", da.VerificationURIComplete.Reveal())
	}
	wait := time.Until(da.Expiry).Round(time.Second)
	if c := req.Client.Now; c != nil {
		wait = da.Expiry.Sub(c()).Round(time.Second)
	}
	fmt.Fprintf(out, "Waiting for the approval (the code expires in %s) ...\n", wait)

	done := make(chan struct{})
	browserErr := make(chan error, 1)
	if r.Browser != nil {
		go func() {
			defer close(done)
			browserErr <- openDevice(gctx, r.Browser, da)
		}()
	} else {
		close(done)
	}
	tok, err := req.Client.DeviceAccessToken(gctx, da)
	cancel()
	<-done
	select {
	case berr := <-browserErr:
		if berr != nil && err != nil && ctx.Err() == nil {
			msg := req.Client.Scrub(berr.Error(), da.UserCode, da.VerificationURIComplete, da.DeviceCode)
			log.Warn("could not open a browser", "error", msg)
		}
	default:
	}
	if err == nil {
		log.Debug("device authorization approved")
		return tok, nil
	}
	var pe *providers.Error
	switch {
	case errors.As(err, &pe) && pe.Kind == providers.KindExpiredToken:
		return nil, fmt.Errorf("the code for %s expired before anyone approved it; run apply again to get a new one: %w", req.Conn, err)
	case errors.As(err, &pe) && pe.Kind == providers.KindAccessDenied:
		return nil, err
	case gctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil):
		return nil, deviceDoneErr(ctx, req.Conn, timeout)
	}
	return nil, err
}

// deviceDoneErr is the error of a device grant whose wait ended: the
// caller's cancellation (Ctrl-C) or the grant's timeout.
func deviceDoneErr(parent context.Context, conn string, timeout time.Duration) error {
	if err := parent.Err(); err != nil {
		return fmt.Errorf("%w while waiting for the approval of %s: %w", ErrCanceled, conn, err)
	}
	return fmt.Errorf("%w: %s was not approved within %s; run apply again when ready", ErrTimeout, conn, timeout)
}

// openDevice opens the verification address for the person.
func openDevice(ctx context.Context, b Browser, da *providers.DeviceAuth) error {
	if db, ok := b.(DeviceBrowser); ok {
		return db.OpenDevice(ctx, da.VerificationURI, da.UserCode)
	}
	u := da.VerificationURI
	if !da.VerificationURIComplete.IsZero() {
		u = da.VerificationURIComplete.Reveal()
	}
	return b.Open(ctx, u)
}
