package emulator

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// The oauth2 emulator's grants without a browser on the client's machine:
// the device authorization grant (RFC 8628) and the client credentials
// grant (RFC 6749 §4.4).
//
// Device authorizations live in the memory of the server that issued
// them, like consent pages: with Options.StateFile, only the tokens they
// end in are shared with other servers.

// deviceGrantType is RFC 8628 §3.4's grant_type.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Defaults of the device flow (RFC 8628 leaves both to the server; 5 s is
// its default interval, §3.2).
const (
	defaultDeviceCodeTTL  = 10 * time.Minute
	defaultDeviceInterval = 5 * time.Second
	// slowDownStep is what RFC 8628 §3.5 tells a client to add to its
	// interval after a slow_down.
	slowDownStep = 5 * time.Second
)

// userCodeAlphabet is RFC 8628 §6.1's example: 20 consonants, no vowels
// (no words), no look-alikes; 8 of them give 34.5 bits.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// deviceState is where a device authorization stands.
type deviceState int

const (
	devicePending  deviceState = iota // waiting for the person
	deviceApproved                    // approved, tokens not yet fetched
	deviceDenied                      // the person refused
	deviceDone                        // tokens issued: the device code is spent
)

// deviceAuth is one device authorization (RFC 8628 §3.1-3.2). Guarded by
// Server.mu.
type deviceAuth struct {
	clientID string
	scopes   []string
	userCode string // normalized: 8 letters, no dash
	expires  time.Time
	state    deviceState
	// interval is the least time the server accepts between two polls;
	// it grows when the client is told to slow down.
	interval time.Duration
	// lastPoll is when the client last polled (at first, when the codes
	// were issued).
	lastPoll time.Time
}

// deviceTicket is a device consent page waiting for the person's decision.
type deviceTicket struct {
	deviceCode string
	expires    time.Time
}

// deviceCodeTTL is the lifetime of device and user codes.
func (s *Server) deviceCodeTTL() time.Duration {
	if s.opts.DeviceCodeTTL > 0 {
		return s.opts.DeviceCodeTTL
	}
	return defaultDeviceCodeTTL
}

// deviceInterval is the polling interval the server announces.
func (s *Server) deviceInterval() time.Duration {
	if s.opts.DeviceInterval > 0 {
		return s.opts.DeviceInterval
	}
	return defaultDeviceInterval
}

// newUserCode returns a fresh user code, shown as XXXX-XXXX.
func newUserCode() string { return randFrom(userCodeAlphabet, 8) }

// formatUserCode writes a normalized user code for people: XXXX-XXXX.
func formatUserCode(c string) string {
	if len(c) != 8 {
		return c
	}
	return c[:4] + "-" + c[4:]
}

// normalizeUserCode is what a person typed, as compared: case ignored,
// and the dashes and spaces they may add or leave out (RFC 8628 §6.1).
func normalizeUserCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// deviceAuthResponse is RFC 8628 §3.2's response.
type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// handleDeviceAuthorization serves the device authorization endpoint
// (RFC 8628 §3.1, §3.2): the client identifies itself (a public client by
// client_id) or authenticates as at the token endpoint (RFC 6749 §2.3),
// may ask for scopes, and gets a device code to poll with and a user code
// for the person.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request, body []byte) {
	f, c, fail := s.clientForm(r, body)
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	scopes, fail := s.checkScopes(f.get("scope"))
	if fail != nil {
		s.writeFailure(w, fail)
		return
	}
	now := s.now()
	deviceCode := randB64(32)
	d := &deviceAuth{
		clientID: c.ID, scopes: scopes, expires: now.Add(s.deviceCodeTTL()),
		interval: s.deviceInterval(), lastPoll: now,
	}
	s.mu.Lock()
	s.pruneDevicesLocked(now)
	for {
		d.userCode = newUserCode()
		if s.userCodes[d.userCode] == "" {
			break
		}
	}
	s.devices[deviceCode] = d
	s.userCodes[d.userCode] = deviceCode
	s.stats.DeviceAuthorizations++
	s.mu.Unlock()
	verify := baseURL(r) + s.spec.paths[kindVerify]
	writeToken(w, deviceAuthResponse{
		DeviceCode:              deviceCode,
		UserCode:                formatUserCode(d.userCode),
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?user_code=" + formatUserCode(d.userCode),
		ExpiresIn:               int64(s.deviceCodeTTL().Seconds()),
		Interval:                int64((s.deviceInterval() + time.Second - 1) / time.Second),
	})
}

// pruneDevicesLocked forgets device authorizations expired an hour ago,
// and spent ones once expired. Callers hold s.mu.
func (s *Server) pruneDevicesLocked(now time.Time) {
	for code, d := range s.devices {
		if now.Sub(d.expires) > time.Hour || (d.state == deviceDone && now.After(d.expires)) {
			delete(s.devices, code)
			delete(s.userCodes, d.userCode)
		}
	}
	for id, t := range s.deviceTickets {
		if now.After(t.expires) {
			delete(s.deviceTickets, id)
		}
	}
}

// deviceToken answers a device access token request (RFC 8628 §3.4,
// §3.5) of client c: authorization_pending while the person has not
// decided, slow_down to a client polling faster than its interval (which
// then grows as the client's must), access_denied once the person
// refused, expired_token once the codes expired, and the tokens once,
// after approval.
func (s *Server) deviceToken(c Client, f *form) (issued, *failure) {
	code := f.get("device_code")
	if code == "" {
		return issued{}, invalidRequest("device_code", "device_code is required.", "device access token request without device_code")
	}
	pending := func(errCode, desc, reason string) *failure {
		return &failure{status: http.StatusBadRequest, code: errCode, param: "device_code", desc: desc, reason: reason}
	}
	now := s.now()
	s.mu.Lock()
	d := s.devices[code]
	switch {
	case d == nil:
		s.mu.Unlock()
		return issued{}, invalidGrant("device_code", "The device code is invalid.", "unknown device_code")
	case d.clientID != c.ID:
		s.mu.Unlock()
		return issued{}, invalidGrant("device_code", "The device code was issued to another client.", "device_code of another client")
	case d.state == deviceDone:
		s.mu.Unlock()
		return issued{}, invalidGrant("device_code", "The device code was already used.", "device_code reused after its tokens were issued")
	case !now.Before(d.expires):
		s.mu.Unlock()
		return issued{}, pending("expired_token", "The device code has expired.", fmt.Sprintf("device_code expired (lifetime %s)", s.deviceCodeTTL()))
	}
	elapsed := now.Sub(d.lastPoll)
	d.lastPoll = now
	switch d.state {
	case deviceDenied:
		s.mu.Unlock()
		return issued{}, pending("access_denied", "The resource owner denied the request.", "device authorization denied by the person")
	case devicePending:
		if elapsed < d.interval {
			// The client must now wait 5 s more than it did (§3.5).
			d.interval = max(d.interval, elapsed+slowDownStep)
			s.mu.Unlock()
			return issued{}, pending("slow_down", "Polling too fast: wait longer between requests.",
				fmt.Sprintf("device_code polled after %s, faster than the interval (now %s)", elapsed, d.interval))
		}
		s.mu.Unlock()
		return issued{}, pending("authorization_pending", "The person has not yet approved the request.", "device authorization pending")
	}
	// Approved: spend the device code, then mint the grant.
	d.state = deviceDone
	clientID, scopes := d.clientID, d.scopes
	s.mu.Unlock()
	if err := s.lockStore(); err != nil {
		return issued{}, storeFailure(err)
	}
	iss := s.mintLocked(clientID, scopes, nil)
	s.stats.DeviceTokens++
	if err := s.unlockStore(); err != nil {
		return issued{}, storeFailure(err)
	}
	return iss, nil
}

// clientCredentialsToken answers a client credentials request (RFC 6749
// §4.4) of client c, authenticated by the caller: only a confidential
// client may use it, and the token comes without a refresh token
// (§4.4.3).
func (s *Server) clientCredentialsToken(c Client, f *form) (issued, *failure) {
	if c.Secret == "" {
		return issued{}, &failure{status: http.StatusBadRequest, code: "unauthorized_client", param: "grant_type",
			desc:   "Public clients cannot use the client_credentials grant.",
			reason: fmt.Sprintf("client_credentials grant for public client %q (RFC 6749 §4.4: confidential clients only)", c.ID)}
	}
	scopes, fail := s.checkScopes(f.get("scope"))
	if fail != nil {
		return issued{}, fail
	}
	if err := s.lockStore(); err != nil {
		return issued{}, storeFailure(err)
	}
	s.store.nextGrant++
	g := &grant{id: s.store.nextGrant, clientID: c.ID, scopes: scopes}
	out := issued{grant: g, scopes: g.scopes}
	out.access, out.accessExp, out.ttl = s.newAccessLocked(g, g.scopes, s.accessTTL())
	s.stats.ClientCredentials++
	if err := s.unlockStore(); err != nil {
		return issued{}, storeFailure(err)
	}
	return out, nil
}

var devicePage = template.Must(template.New("device").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Connect a device - {{.Provider}} emulator</title></head>
<body>
<h1>Connect a device to your {{.Provider}} account</h1>
{{if .Error}}<p id="error">{{.Error}}</p>
{{end}}<form method="post" action="{{.Action}}">
<label>Enter the code shown on your device <input type="text" name="user_code" value="{{.UserCode}}" autocomplete="off" autocapitalize="characters" spellcheck="false"></label>
<button type="submit" name="step" value="continue">Continue</button>
</form>
</body>
</html>
`))

var deviceDonePage = template.Must(template.New("device-done").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}} - {{.Provider}} emulator</title></head>
<body>
<h1>{{.Title}}</h1>
<p id="result">{{.Text}}</p>
</body>
</html>
`))

// devicePageData fills devicePage.
type devicePageData struct {
	Provider, Action, UserCode, Error string
}

// handleVerification serves the verification URI (RFC 8628 §3.3): GET
// shows the form where the person enters the user code (GET with
// ?user_code=, the verification_uri_complete, goes straight to the
// consent page); POST with the user code shows the consent page, in the
// style of the authorization endpoint's, naming the client and scopes;
// POST with its decision approves or denies the device.
func (s *Server) handleVerification(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method == http.MethodGet {
		q, err := parseURLEncoded(r.URL.RawQuery)
		if err != nil {
			s.pageError(w, "The verification URL is malformed.", "malformed verification query: "+err.Error())
			return
		}
		if !q.has("user_code") {
			s.showDeviceForm(w, r, http.StatusOK, "", "")
			return
		}
		s.enterUserCode(w, r, q.get("user_code"))
		return
	}
	f, fail := parseBody(r, body, false)
	if fail != nil {
		s.pageError(w, "The form was not submitted as a form.", "verification form: "+fail.why())
		return
	}
	if f.dup != "" {
		s.pageError(w, "The form repeats a field.", "verification form repeats "+f.dup)
		return
	}
	if f.has("decision") {
		s.deviceDecision(w, f)
		return
	}
	s.enterUserCode(w, r, f.get("user_code"))
}

// showDeviceForm renders the user code form, with an error when one is
// given.
func (s *Server) showDeviceForm(w http.ResponseWriter, r *http.Request, status int, userCode, errMsg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = devicePage.Execute(w, devicePageData{Provider: s.spec.name, Action: r.URL.Path, UserCode: userCode, Error: errMsg})
}

// enterUserCode checks a user code the person entered and shows the
// consent page for its device authorization, or the form again with why
// not.
func (s *Server) enterUserCode(w http.ResponseWriter, r *http.Request, typed string) {
	userCode := normalizeUserCode(typed)
	now := s.now()
	s.mu.Lock()
	deviceCode := s.userCodes[userCode]
	d := s.devices[deviceCode]
	var problem, reason string
	switch {
	case userCode == "" || d == nil:
		problem, reason = "That code is not valid. Check the code shown on your device.", "unknown user_code entered"
	case !now.Before(d.expires):
		problem, reason = "That code has expired. Start again on your device.", "expired user_code entered"
	case d.state != devicePending:
		problem, reason = "That code was already used.", "user_code entered again after a decision"
	}
	var data consentData
	if problem == "" {
		id := randAlnum(32)
		s.deviceTickets[id] = &deviceTicket{deviceCode: deviceCode, expires: minTime(now.Add(ticketTTL), d.expires)}
		data = consentData{
			Provider: s.spec.name, ClientID: d.clientID, Action: r.URL.Path, Scopes: d.scopes,
			Hidden: [][2]string{{"ticket", id}, {"user_code", formatUserCode(userCode)}},
		}
	}
	s.mu.Unlock()
	if problem != "" {
		s.reject(reason)
		s.showDeviceForm(w, r, http.StatusBadRequest, typed, problem)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	_ = consentPage.Execute(w, data)
}

// deviceDecision takes the device consent page's Approve or Deny.
func (s *Server) deviceDecision(w http.ResponseWriter, f *form) {
	now := s.now()
	s.mu.Lock()
	t := s.deviceTickets[f.get("ticket")]
	delete(s.deviceTickets, f.get("ticket"))
	var d *deviceAuth
	if t != nil {
		d = s.devices[t.deviceCode]
	}
	var problem, reason string
	switch {
	case t == nil || d == nil:
		problem, reason = "This form is unknown or was already used.", "device decision without a valid ticket (form not fetched, or submitted twice)"
	case normalizeUserCode(f.get("user_code")) != d.userCode:
		problem, reason = "The form was altered.", "device decision form field user_code altered"
	case !now.Before(t.expires) || !now.Before(d.expires):
		problem, reason = "This code has expired. Start again on your device.", "device decision on an expired code"
	case d.state != devicePending:
		problem, reason = "That code was already used.", "device decision on a code already decided"
	}
	title, text := "", ""
	if problem == "" {
		switch f.get("decision") {
		case "approve":
			d.state = deviceApproved
			s.stats.Approvals++
			title, text = "Device connected", "You may now return to your device."
		case "deny":
			d.state = deviceDenied
			s.stats.Denials++
			title, text = "Access denied", "The device was not connected. You may close this page."
		default:
			problem, reason = "Choose Approve or Deny.", fmt.Sprintf("device decision %q is neither approve nor deny", f.get("decision"))
		}
	}
	s.mu.Unlock()
	if problem != "" {
		s.pageError(w, problem, reason)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = deviceDonePage.Execute(w, struct{ Provider, Title, Text string }{s.spec.name, title, text})
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
