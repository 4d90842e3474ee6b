// Package credential hands oauthform's tokens to other programs in the
// forms they ask for: git's credential helper protocol, kubectl's
// ExecCredential, a curl config line, and the environment of a program
// run by `oauthform exec`.
//
// It only encodes and decodes: the token itself comes from
// apply.Refresher (the same locked, single-flight refresh as `oauthform
// token`), and nothing here prints a token anywhere but the writer it is
// given.
package credential
