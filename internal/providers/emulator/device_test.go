package emulator

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// deviceStart sends a device authorization request (RFC 8628 §3.1) as the
// confidential client and returns the answer's fields.
func (f *fixture) deviceStart(scope string) map[string]any {
	f.t.Helper()
	v := url.Values{}
	if scope != "" {
		v.Set("scope", scope)
	}
	res := f.post(f.path(kindDevice), v.Encode(), "Authorization", basic(testID, testSecret))
	wantStatus(f.t, res, http.StatusOK)
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		f.t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	return res.json(f.t)
}

// devicePoll sends one device access token request (RFC 8628 §3.4).
func (f *fixture) devicePoll(deviceCode string) result {
	f.t.Helper()
	v := url.Values{"grant_type": {deviceGrantType}, "device_code": {deviceCode}}
	return f.post(f.path(kindToken), v.Encode(), "Authorization", basic(testID, testSecret))
}

// wantError checks an RFC 6749 §5.2 error answer.
func wantError(t *testing.T, res result, status int, code string) {
	t.Helper()
	if res.status != status || res.str(t, "error") != code {
		t.Fatalf("got %d %s, want %d error %q", res.status, res.body, status, code)
	}
}

func TestDeviceFlow(t *testing.T) {
	f := newFixture(t, "oauth2")
	a := f.deviceStart("read write")
	dc, _ := a["device_code"].(string)
	uc, _ := a["user_code"].(string)
	vu, _ := a["verification_uri"].(string)
	vc, _ := a["verification_uri_complete"].(string)
	if dc == "" || uc == "" || vu != f.ts.URL+"/device" || vc != vu+"?user_code="+uc {
		t.Fatalf("device authorization response %v", a)
	}
	if len(uc) != 9 || uc[4] != '-' || strings.Trim(strings.ReplaceAll(uc, "-", ""), userCodeAlphabet) != "" {
		t.Errorf("user_code %q is not XXXX-XXXX of RFC 8628 §6.1's alphabet", uc)
	}
	if a["expires_in"] != float64(600) || a["interval"] != float64(5) {
		t.Errorf("expires_in %v, interval %v; want 600 and 5", a["expires_in"], a["interval"])
	}

	f.clock.Advance(5 * time.Second)
	wantError(t, f.devicePoll(dc), http.StatusBadRequest, "authorization_pending")

	// The person types the code in lower case, without its dash.
	typed := strings.ToLower(strings.ReplaceAll(uc, "-", ""))
	if err := ApproveDevice(context.Background(), f.ts.Client(), vu, typed, true); err != nil {
		t.Fatalf("ApproveDevice: %v", err)
	}
	f.clock.Advance(5 * time.Second)
	res := f.devicePoll(dc)
	wantStatus(t, res, http.StatusOK)
	m := res.json(t)
	if m["access_token"] == "" || m["refresh_token"] == nil || m["scope"] != "read write" || m["token_type"] != "Bearer" {
		t.Errorf("token answer %v", m)
	}
	if got := f.get(f.path(kindCheck), res.str(t, "access_token")); got.status != http.StatusOK {
		t.Errorf("userinfo with the device token: %d %s", got.status, got.body)
	}
	// The device code is spent.
	f.clock.Advance(5 * time.Second)
	wantError(t, f.devicePoll(dc), http.StatusBadRequest, "invalid_grant")
	// The user code too.
	if err := ApproveDevice(context.Background(), f.ts.Client(), vc, "", true); err == nil {
		t.Error("ApproveDevice on a spent user code succeeded")
	}
	st := f.srv.Stats()
	if st.DeviceAuthorizations != 1 || st.DeviceTokens != 1 || st.Approvals != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeviceSlowDown(t *testing.T) {
	f := newFixture(t, "oauth2")
	dc := f.deviceStart("")["device_code"].(string)
	// Polled after 1s instead of 5s: slow down, and from now on the
	// client must wait 5s more than it did (6s).
	f.clock.Advance(time.Second)
	wantError(t, f.devicePoll(dc), http.StatusBadRequest, "slow_down")
	f.clock.Advance(time.Second) // ignored the slow_down
	wantError(t, f.devicePoll(dc), http.StatusBadRequest, "slow_down")
	f.clock.Advance(6 * time.Second)
	wantError(t, f.devicePoll(dc), http.StatusBadRequest, "authorization_pending")
	f.clock.Advance(6 * time.Second)
	wantError(t, f.devicePoll(dc), http.StatusBadRequest, "authorization_pending")
	f.wantRejection("device authorization pending")
}

func TestDeviceDeniedAndExpired(t *testing.T) {
	f := newFixture(t, "oauth2")
	a := f.deviceStart("")
	dc, vc := a["device_code"].(string), a["verification_uri_complete"].(string)
	if err := ApproveDevice(context.Background(), f.ts.Client(), vc, "", false); err != nil {
		t.Fatalf("deny: %v", err)
	}
	f.clock.Advance(5 * time.Second)
	wantError(t, f.devicePoll(dc), http.StatusBadRequest, "access_denied")
	if f.srv.Stats().Denials != 1 {
		t.Errorf("denials = %d", f.srv.Stats().Denials)
	}

	dc2 := f.deviceStart("")["device_code"].(string)
	f.clock.Advance(10 * time.Minute)
	wantError(t, f.devicePoll(dc2), http.StatusBadRequest, "expired_token")

	// Another client cannot poll with this one's device code.
	dc3 := f.deviceStart("")["device_code"].(string)
	f.clock.Advance(5 * time.Second)
	v := url.Values{"grant_type": {deviceGrantType}, "device_code": {dc3}, "client_id": {pubID}}
	wantError(t, f.post(f.path(kindToken), v.Encode()), http.StatusBadRequest, "invalid_grant")
	f.wantRejection("another client")
}

func TestDeviceAuthorizationRefusals(t *testing.T) {
	f := newFixture(t, "oauth2", func(o *Options) { o.Scopes = []string{"read"} })
	// A confidential client must authenticate (RFC 8628 §3.1, RFC 6749 §2.3).
	wantError(t, f.post(f.path(kindDevice), "client_id="+testID), http.StatusBadRequest, "invalid_client")
	wantError(t, f.post(f.path(kindDevice), "", "Authorization", basic(testID, "wrong")), http.StatusUnauthorized, "invalid_client")
	wantError(t, f.post(f.path(kindDevice), "scope=admin", "Authorization", basic(testID, testSecret)), http.StatusBadRequest, "invalid_scope")
	// A public client identifies itself by client_id.
	res := f.post(f.path(kindDevice), "client_id="+pubID)
	wantStatus(t, res, http.StatusOK)
	// Its codes: polled by client_id alone.
	f.clock.Advance(5 * time.Second)
	v := url.Values{"grant_type": {deviceGrantType}, "device_code": {res.str(t, "device_code")}, "client_id": {pubID}}
	wantError(t, f.post(f.path(kindToken), v.Encode()), http.StatusBadRequest, "authorization_pending")
	// Without the device code.
	wantError(t, f.post(f.path(kindToken), "grant_type="+url.QueryEscape(deviceGrantType), "Authorization", basic(testID, testSecret)),
		http.StatusBadRequest, "invalid_request")
}

func TestVerificationPage(t *testing.T) {
	f := newFixture(t, "oauth2")
	a := f.deviceStart("read")
	page := f.get(f.path(kindVerify), "")
	wantStatus(t, page, http.StatusOK)
	form, err := parseConsentForm(page.body)
	if err != nil || !slices.ContainsFunc(form.fields, func(kv [2]string) bool { return kv[0] == "user_code" }) {
		t.Fatalf("verification page has no user_code form: %v\n%s", err, page.body)
	}
	// A wrong code shows the form again, with why.
	res := f.post(f.path(kindVerify), "user_code=BCDF-GHJK")
	wantStatus(t, res, http.StatusBadRequest)
	if !strings.Contains(string(res.body), `id="error"`) {
		t.Errorf("no error on the page: %s", res.body)
	}
	if err := ApproveDevice(context.Background(), f.ts.Client(), f.ts.URL+f.path(kindVerify), "BCDF-GHJK", true); err == nil {
		t.Error("ApproveDevice with a wrong code succeeded")
	}
	// The right code shows the consent page naming client and scopes.
	res = f.post(f.path(kindVerify), "user_code="+url.QueryEscape(a["user_code"].(string)))
	wantStatus(t, res, http.StatusOK)
	for _, want := range []string{testID + " wants to access", "<li>read</li>", `value="approve"`, `value="deny"`} {
		if !strings.Contains(string(res.body), want) {
			t.Errorf("consent page lacks %q:\n%s", want, res.body)
		}
	}
	// A decision without its ticket is refused.
	res = f.post(f.path(kindVerify), "decision=approve&user_code="+url.QueryEscape(a["user_code"].(string)))
	wantStatus(t, res, http.StatusBadRequest)
	f.wantRejection("without a valid ticket")
	// An expired code cannot be approved.
	f.clock.Advance(11 * time.Minute)
	if err := ApproveDevice(context.Background(), f.ts.Client(), a["verification_uri_complete"].(string), "", true); err == nil {
		t.Error("ApproveDevice on an expired code succeeded")
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	f := newFixture(t, "oauth2")
	res := f.post(f.path(kindToken), "grant_type=client_credentials&scope=read", "Authorization", basic(testID, testSecret))
	wantStatus(t, res, http.StatusOK)
	m := res.json(t)
	if _, has := m["refresh_token"]; has {
		t.Errorf("client credentials answer has a refresh token (RFC 6749 §4.4.3): %v", m)
	}
	if m["scope"] != "read" || m["expires_in"] != float64(3600) || m["token_type"] != "Bearer" {
		t.Errorf("answer %v", m)
	}
	if got := f.get(f.path(kindCheck), res.str(t, "access_token")); got.status != http.StatusOK || !strings.Contains(string(got.body), testID) {
		t.Errorf("userinfo: %d %s", got.status, got.body)
	}
	// client_secret_post works too.
	v := url.Values{"grant_type": {"client_credentials"}, "client_id": {testID}, "client_secret": {testSecret}}
	wantStatus(t, f.post(f.path(kindToken), v.Encode()), http.StatusOK)
	// Bad credentials.
	wantError(t, f.post(f.path(kindToken), "grant_type=client_credentials", "Authorization", basic(testID, "wrong")), http.StatusUnauthorized, "invalid_client")
	v.Set("client_secret", "wrong")
	wantError(t, f.post(f.path(kindToken), v.Encode()), http.StatusBadRequest, "invalid_client")
	wantError(t, f.post(f.path(kindToken), "grant_type=client_credentials"), http.StatusUnauthorized, "invalid_client")
	// Public clients cannot use it.
	wantError(t, f.post(f.path(kindToken), "grant_type=client_credentials&client_id="+pubID), http.StatusBadRequest, "unauthorized_client")
	if got := f.srv.Stats().ClientCredentials; got != 2 {
		t.Errorf("client_credentials = %d, want 2", got)
	}
	// The token can be revoked.
	wantStatus(t, f.revoke(res.str(t, "access_token"), "access_token"), http.StatusOK)
	if got := f.get(f.path(kindCheck), res.str(t, "access_token")); got.status != http.StatusUnauthorized {
		t.Errorf("userinfo after revoke: %d", got.status)
	}
}

func TestGrantsOnlyAtOAuth2(t *testing.T) {
	for _, name := range Providers() {
		f := newFixture(t, name)
		_, hasDevice := f.srv.Paths()[kindDevice]
		if hasDevice != (name == "oauth2") {
			t.Errorf("%s: device_authorization path present = %v", name, hasDevice)
		}
		if name != "sms77" && name != "seven" {
			continue
		}
		res := f.post(f.path(kindToken), "grant_type=client_credentials", "Authorization", basic(testID, testSecret))
		wantError(t, res, http.StatusBadRequest, "unsupported_grant_type")
	}
}

func TestDeviceMetadataAndClientWithoutRedirect(t *testing.T) {
	f := newFixture(t, "oauth2", func(o *Options) {
		o.Clients = append(o.Clients, Client{ID: "svc", Secret: "svc-secret"})
	})
	m := f.get(f.path(kindMetadata), "").json(t)
	if m["device_authorization_endpoint"] != f.ts.URL+"/device_authorization" {
		t.Errorf("device_authorization_endpoint = %v", m["device_authorization_endpoint"])
	}
	gts, _ := m["grant_types_supported"].([]any)
	for _, want := range []string{"authorization_code", "refresh_token", deviceGrantType, "client_credentials"} {
		if !slices.Contains(gts, any(want)) {
			t.Errorf("grant_types_supported %v lacks %s", gts, want)
		}
	}
	res := f.post(f.path(kindToken), "grant_type=client_credentials", "Authorization", basic("svc", "svc-secret"))
	wantStatus(t, res, http.StatusOK)
	if _, err := New(Options{Provider: "sms77", Clients: []Client{{ID: "svc", Secret: "x"}}}); err == nil {
		t.Error("sms77 accepted a client without redirect URI")
	}
}
