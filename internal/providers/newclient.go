package providers

import (
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/secret"
)

// Environment variables that bound provider calls.
const (
	// RequestTimeoutEnv bounds each provider request until it is sent
	// (default 30s).
	RequestTimeoutEnv = "OAUTHFORM_REQUEST_TIMEOUT"
	// AnswerWaitEnv bounds the wait for the answer to a sent token
	// request (default 5m): that answer holds single-use tokens.
	AnswerWaitEnv = "OAUTHFORM_ANSWER_WAIT"
)

// Credentials are a registered app's: what a Client sends besides the
// profile's endpoints.
type Credentials struct {
	ClientID     string
	ClientSecret secret.Secret
	RedirectURI  string
}

// NewClient builds the client of an app of profile p, with its requests
// bounded as the environment says (RequestTimeoutEnv, AnswerWaitEnv).
// Endpoints of a provider declared by issuer are discovered when they are
// needed (apply.Refresher, Executor), from the state's copy while it is
// fresh.
func NewClient(p *Profile, creds Credentials, logger hclog.Logger, now func() time.Time) (*Client, error) {
	c := &Client{
		Profile: p, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret,
		RedirectURI: creds.RedirectURI, Logger: logger, Now: now,
	}
	var err error
	if c.Timeout, err = EnvDuration(RequestTimeoutEnv); err == nil {
		c.AnswerWait, err = EnvDuration(AnswerWaitEnv)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// EnvDuration reads a positive duration from the environment; unset is 0
// (the default).
func EnvDuration(name string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration such as 30s or 5m", name, v)
	}
	return d, nil
}
