// Package providers knows every OAuth 2.0 provider oauthform can talk to.
//
// A provider is a [Profile]: plain data (endpoints, scope separator, client
// authentication, parameter aliases, expiry source, known scopes, extra
// authorize parameters…) in the style of golang.org/x/oauth2/endpoints. The
// built-ins come from [Builtins]; any other provider is declared in HCL with
// the same knobs and validated by [Profile.Validate].
//
// This package is the only one that will build OAuth requests; at this stage
// it holds the profiles used for offline validation.
package providers
