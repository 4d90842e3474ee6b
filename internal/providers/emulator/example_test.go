package emulator_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/oauthform/oauthform/internal/providers/emulator"
)

// ExampleNew runs the sms77 emulator and walks one grant with raw HTTP:
// the browser step through Consent, then the code exchange with HTTP Basic
// client authentication, as sms77 requires.
func ExampleNew() {
	const redirect = "http://127.0.0.1:8765/callback"
	srv, err := emulator.New(emulator.Options{
		Provider: "sms77",
		Clients:  []emulator.Client{{ID: "testclient", Secret: "testsecret", RedirectURIs: []string{redirect}}},
	})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	q := url.Values{"response_type": {"code"}, "client_id": {"testclient"}, "redirect_uri": {redirect}, "state": {"xyz"}, "scope": {"sms analytics"}}
	cb, err := emulator.Consent(context.Background(), ts.Client(), ts.URL+srv.Paths()["authorize"]+"?"+q.Encode(), true)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", cb.Query().Get("state"))

	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {redirect}}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+srv.Paths()["token"], strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("testclient", "testsecret")
	resp, err := ts.Client().Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("token:", resp.StatusCode)
	fmt.Println("exchanges:", srv.Stats().Exchanges)
	// Output:
	// state: xyz
	// token: 200
	// exchanges: 1
}
