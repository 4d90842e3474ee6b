package views

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/zclconf/go-cty/cty"
)

// Emulator is an emulator that emulate started.
type Emulator struct {
	Provider, Base         string
	ClientID               string
	RedirectURIs           []string
	AutoApprove            bool
	Latency, AnswerLatency time.Duration
	// Block is the provider block that points a configuration at it.
	Block []byte
}

// EmulatorBanner prints where the emulator listens and the provider block
// that points a configuration at it.
func (v *View) EmulatorBanner(e *Emulator) error {
	w := v.Out
	fmt.Fprintf(w, "Emulating %s on %s (Ctrl-C to stop)\n\n", e.Provider, e.Base)
	fmt.Fprintf(w, "Registered app: client_id %q (its secret is the -client-secret value), redirect URIs %s\n",
		e.ClientID, strings.Join(e.RedirectURIs, ", "))
	if e.AutoApprove {
		fmt.Fprintln(w, "Authorizations are approved at once (-auto-approve).")
	}
	if e.AnswerLatency > 0 {
		fmt.Fprintf(w, "Token and refresh answers are sent %s after the request was carried out (-answer-latency).\n", e.AnswerLatency)
	}
	if e.Latency > 0 {
		fmt.Fprintf(w, "Token and refresh answers are delayed by %s (-latency).\n", e.Latency)
	}
	fmt.Fprintf(w, "Counters: %s/_emulator/stats\n\nPoint a configuration at it:\n\n", e.Base)
	_, err := w.Write(e.Block)
	return err
}

// EmulatorStopped says that the emulator stopped at Ctrl-C.
func (v *View) EmulatorStopped() {
	fmt.Fprintln(v.Out, "\nEmulator stopped.")
}

// ProviderBlock returns the HCL provider block that points provider at
// its emulator served on base, whose endpoints are at paths: the built-in profile rebased onto
// base, so it names exactly the endpoints the client will call.
func ProviderBlock(provider string, paths map[string]string, base string) ([]byte, error) {
	p, ok := providers.Builtin(provider)
	if !ok {
		return nil, fmt.Errorf("no built-in profile %q", provider)
	}
	var rp *providers.Profile
	if p.AuthorizeURL == "" {
		// The generic oauth2 profile has no endpoints: use the emulator's.
		rp = p.Clone()
		for kind, dst := range map[string]*string{
			"authorize": &rp.AuthorizeURL, "token": &rp.TokenURL, "revoke": &rp.RevokeURL, "check": &rp.CheckURL,
			"device_authorization": &rp.DeviceAuthURL,
		} {
			if path, ok := paths[kind]; ok {
				*dst = base + path
			}
		}
	} else {
		var err error
		if rp, err = p.Rebase(base); err != nil {
			return nil, err
		}
	}
	f := hclwrite.NewEmptyFile()
	body := f.Body().AppendNewBlock("provider", []string{provider}).Body()
	for _, kv := range []struct{ name, v string }{
		{"authorize_url", rp.AuthorizeURL}, {"token_url", rp.TokenURL}, {"refresh_url", rp.RefreshURL},
		{"revoke_url", rp.RevokeURL}, {"check_url", rp.CheckURL}, {"issuer", rp.Issuer},
		{"device_authorization_url", rp.DeviceAuthURL},
	} {
		if kv.v != "" {
			body.SetAttributeValue(kv.name, cty.StringVal(kv.v))
		}
	}
	return f.Bytes(), nil
}
