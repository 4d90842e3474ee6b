// Package providers knows every OAuth 2.0 provider oauthform can talk to,
// and is the only package that speaks OAuth on the wire.
//
// A provider is a [Profile]: plain data (endpoints, scope separator, client
// authentication, parameter aliases, expiry source, known scopes, extra
// authorize parameters…) in the style of golang.org/x/oauth2/endpoints. The
// built-ins come from [Builtins]; any other provider is declared in HCL with
// the same knobs and validated by [Profile.Validate].
//
// A [Client] drives one registered app at one provider: [Client.AuthCodeURL],
// [Client.ParseCallback], [Client.Exchange], [Client.Refresh],
// [Client.Revoke], [Client.Check] and RFC 8414 [Client.Discover]; without a
// browser on this machine, the RFC 8628 device flow ([Client.DeviceAuth],
// [Client.DeviceAccessToken]) and the client credentials grant
// ([Client.ClientCredentials]), for the grant types a profile offers
// ([Profile.GrantProblem]). Every failure is an [*Error] whose [Kind] says
// what to do about it.
package providers
