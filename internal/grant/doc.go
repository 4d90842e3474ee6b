// Package grant performs the interactive step of `oauthform apply`: one
// OAuth 2.0 authorization-code grant with a person at the keyboard.
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
// Nothing in this package logs, prints or renders an authorization code,
// the state, the PKCE verifier, the client secret or a token.
package grant
