package providers

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthform/oauthform/internal/secret"
)

// cannedTransport answers every request with one response, without a
// socket, so a benchmark measures the client's own work: building the
// request, the quirk transport, x/oauth2's parse and fromOAuth2.
type cannedTransport struct {
	status int
	ctype  string
	body   string
}

func (c cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode: c.status, Status: http.StatusText(c.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {c.ctype}},
		Body:          io.NopCloser(strings.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

// benchClient is a client of the built-in provider name whose transport
// answers rt.
func benchClient(b *testing.B, name string, rt http.RoundTripper) *Client {
	b.Helper()
	p, ok := Builtin(name)
	if !ok {
		b.Fatalf("no built-in %q", name)
	}
	rp, err := p.Rebase("http://127.0.0.1:9")
	if err != nil {
		b.Fatal(err)
	}
	return &Client{
		Profile: rp, ClientID: "the-client", ClientSecret: secret.New("s3cret-value"),
		RedirectURI: "http://127.0.0.1:8765/callback", HTTP: &http.Client{Transport: rt},
		Now: func() time.Time { return testNow },
	}
}

// tokenResponses are token endpoint answers in each seed provider's shape.
var tokenResponses = []struct {
	name, provider, body string
}{
	{"sms77", "sms77", `{"access_token":"dkyxecohz27yuuzjkwn7xr0fiy2zn015zm0b9hhr","token_type":"Bearer","expires_in":3600,` +
		`"refresh_token":"r8fjq2m1x0c9v7b6n5m4l3k2j1h0g9f8d7s6a5p4","scope":"sms analytics"}`},
	{"phoneburner", "phoneburner", `{"access_token":"Q2hhbmdlIG1lIHRvIGEgcmVhbCB0b2tlbg","token_type":"bearer",` +
		`"expires":1800000000,"expires_in":604800,"refresh_token":"UmVmcmVzaCB0b2tlbiBmb3IgYmVuY2g"}`},
	{"burner", "burner", `{"access_token":"bur-at-7f1c2a","token_type":"Bearer","expires_in":2592000,"scope":"burners:read contacts:read",` +
		`"connected_burners":[{"id":"b1","name":"Work","status":"on"}]}`},
}

// BenchmarkRefreshResponse runs a whole Refresh (Exchange for Burner, which
// has no refresh) whose answer comes from a canned transport: the CPU cost
// of one token request and its response's parsing in the client.
func BenchmarkRefreshResponse(b *testing.B) {
	ctx := context.Background()
	for _, tr := range tokenResponses {
		b.Run(tr.name, func(b *testing.B) {
			c := benchClient(b, tr.provider, cannedTransport{http.StatusOK, "application/json", tr.body})
			rt := secret.New("old-refresh-token")
			// Burner has no refresh: its answer is parsed by Exchange.
			req := &AuthRequest{RedirectURI: c.RedirectURI, Scopes: []string{"burners:read", "contacts:read"}}
			code := secret.New("the-code")
			b.ReportAllocs()
			for b.Loop() {
				var tok *Token
				var err error
				if c.Profile.Refresh {
					tok, err = c.Refresh(ctx, rt)
				} else {
					tok, err = c.Exchange(ctx, req, code)
				}
				if err != nil || tok.AccessToken.IsZero() {
					b.Fatalf("%s: %v", tr.name, err)
				}
			}
		})
	}
	b.Run("sms77-invalid_grant", func(b *testing.B) {
		c := benchClient(b, "sms77", cannedTransport{http.StatusBadRequest, "application/json",
			`{"error":"invalid_grant","error_description":"The refresh token is invalid."}`})
		rt := secret.New("old-refresh-token")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Refresh(ctx, rt); err == nil {
				b.Fatal("Refresh succeeded")
			}
		}
	})
}

// BenchmarkFromOAuth2 converts what x/oauth2 parsed into a Token: expiry,
// scope and metadata fields.
func BenchmarkFromOAuth2(b *testing.B) {
	for _, tr := range tokenResponses {
		b.Run(tr.name, func(b *testing.B) {
			c := benchClient(b, tr.provider, cannedTransport{http.StatusOK, "application/json", tr.body})
			// Parse once through x/oauth2, as Refresh does, to get its Extra.
			conf := c.config(c.Profile.TokenURL)
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.HTTP)
			parsed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: "rt"}).Token()
			if err != nil {
				b.Fatal(err)
			}
			old := secret.New("rt")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.fromOAuth2(parsed, nil, old); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
