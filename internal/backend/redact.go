package backend

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/oauthform/oauthform/internal/secret"
)

// RedactConnErr keeps a connection string's password out of an error
// message: the driver may quote the string it could not parse or use.
func RedactConnErr(err error, connStr secret.Secret) error {
	if err == nil || connStr.IsZero() {
		return err
	}
	msg := err.Error()
	red := redactSecrets(msg, connStr.Reveal())
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// redactSecrets replaces, in msg, the connection string cs and the
// password it carries (URL user info or a password keyword/parameter).
func redactSecrets(msg, cs string) string {
	var secrets []string
	if cs = strings.TrimSpace(cs); cs != "" {
		secrets = append(secrets, cs)
	}
	if u, err := url.Parse(cs); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
		if pw := u.Query().Get("password"); pw != "" {
			secrets = append(secrets, pw)
		}
	}
	for _, m := range pgPasswordRE.FindAllStringSubmatch(cs, -1) {
		if pw := strings.Trim(m[2], "'"); pw != "" {
			secrets = append(secrets, pw)
		}
	}
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	return msg
}

// pgPasswordRE finds the password of a keyword/value connection string or
// a URL's query.
var pgPasswordRE = regexp.MustCompile(`(^|[\s?&])password\s*=\s*('[^']*'|[^\s&]+)`)

// redactedError is an error whose message had a secret removed; errors.Is
// and errors.As still see the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
