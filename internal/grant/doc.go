// Package grant performs the interactive step of `oauthform apply`: one
// OAuth 2.0 grant with a person at the keyboard: the authorization code,
// or the device authorization (RFC 8628), where the person approves on any
// device while oauthform polls.
//
// The entry point is [Runner.Run] (or [Runner.Grant], which makes a Runner
// an apply.Granter). For a loopback redirect_uri (http://127.0.0.1,
// http://[::1] or http://localhost, RFC 8252 §7.3) it listens on exactly the
// redirect_uri's host, port and path, prints the authorization URL, opens a
// [Browser] and waits for the callback; it checks state, exchanges the code
// inside the callback handler (Buffer's codes live 30 seconds) and answers
// the browser with a small page. For any other redirect_uri it asks the
// person to paste the URL the browser landed on, or the bare code.
//
// A device grant prints the verification address and the user code once,
// for the person, opens verification_uri_complete in the [Browser] unless
// there is none, and polls the token endpoint under the grant's timeout.
//
// Nothing in this package logs, prints or renders an authorization code,
// a device code,
// the state, the PKCE verifier, the client secret or a token.
package grant
