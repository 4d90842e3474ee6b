// Package secret holds Secret, a string that redacts itself wherever it could
// be printed, logged or marshalled. Revealing the value is an explicit call.
package secret

import (
	"crypto/subtle"
	"fmt"
)

// Redacted is what every printing path shows instead of a secret's value.
const Redacted = "(sensitive)"

// Secret is a sensitive string: a client secret, an access or refresh token,
// an authorization code, a passphrase. Its String, GoString, Format and
// MarshalJSON methods never reveal the value; Reveal does.
//
// The zero Secret is empty. Secret is comparable only through Equal, which
// runs in constant time.
type Secret struct {
	v string
}

// New wraps s.
func New(s string) Secret { return Secret{v: s} }

// Reveal returns the wrapped value. Call it only where the value must leave
// the process on purpose: on the wire to a provider, into the state file, or
// to a user who asked for it (`oauthform token`, `-show-sensitive`).
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Equal reports whether s and o hold the same value, in constant time.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.v), []byte(o.v)) == 1
}

// String implements fmt.Stringer and redacts.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer (%#v) and redacts.
func (s Secret) GoString() string { return "secret.Secret(" + s.String() + ")" }

// Format implements fmt.Formatter so that every verb (%v, %s, %q, %x, %+v…)
// prints the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			_, _ = f.Write([]byte(s.GoString()))
			return
		}
		_, _ = f.Write([]byte(s.String()))
	default:
		_, _ = f.Write([]byte(s.String()))
	}
}

// MarshalJSON implements json.Marshaler and redacts: a Secret that reaches
// JSON output by accident shows "(sensitive)". Code that must persist the
// value (the state store) reveals it explicitly into its own record type.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%q", s.String())), nil
}

// MarshalText implements encoding.TextMarshaler and redacts, so that
// loggers and encoders using TextMarshaler do not leak either.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
