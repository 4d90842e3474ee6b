// Package emulator runs faithful local imitations of the OAuth 2.0
// providers oauthform knows, so that the project's OAuth client is tested
// against servers written independently from each provider's own
// documentation, not from oauthform's client.
//
// The entry point is [New], which returns a [Server] (an [http.Handler]) for
// one provider. A server answers on the exact paths of the provider's real
// URLs with the host dropped: [Server.Paths] lists them. Each emulator is
// strict: a request that gets a documented quirk wrong (Burner's camelCase
// token parameters, Buffer v1's code that must not be URL-encoded, sms77's
// HTTP Basic client authentication, PhoneBurner's separate refresh URL, …)
// is refused the way the real server would refuse it, so that a client bug
// fails a test instead of hiding.
//
// The generic oauth2 emulator also serves the device authorization grant
// (RFC 8628: a device authorization endpoint, a verification page where the
// person enters the user code, and the device_code grant with
// authorization_pending, slow_down, access_denied and expired_token) and
// the client credentials grant (RFC 6749 §4.4).
//
// Tests drive the browser half of a grant with [Consent] (a device grant's
// with [ApproveDevice]), mint grants
// directly with [Server.IssueTokens], read counters with [Server.Stats] (also
// served as JSON at GET /_emulator/stats) and inject failures with
// [Server.SetFaults].
//
// With Options.StateFile set, a server keeps its grants, codes and tokens in
// a JSON file shared, under a file lock, with every other server (in this
// process or another) given the same path, so that a token issued by an
// emulator in one process can be used and refreshed at one in the next.
//
// Where the documentation is silent (error shapes of Burner and Buffer v1,
// token lifetimes, code formats) the choice is written next to the code that
// makes it, marked "undocumented".
package emulator
