package credential

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// GitRequest is what git sends a credential helper on standard input:
// `key=value` lines up to a blank line or the end of input
// (git-credential(1), "INPUT/OUTPUT FORMAT"). Keys ending in `[]` may
// repeat; other keys keep their last value. Keys oauthform does not use
// are kept and ignored, as the protocol requires.
type GitRequest struct {
	attrs map[string][]string
}

// Get returns the value of key ("" when absent).
func (r *GitRequest) Get(key string) string {
	v := r.attrs[key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// Password returns the request's password (sent with `store` and
// `erase`) as a secret.
func (r *GitRequest) Password() secret.Secret { return secret.New(r.Get("password")) }

// maxGitRequest bounds what is read: a request is a few hundred bytes.
const maxGitRequest = 64 << 10

// ReadGitRequest reads one request. A line without `=` is an error (git
// never sends one); errors never quote a line (it may hold a password).
func ReadGitRequest(r io.Reader) (*GitRequest, error) {
	req := &GitRequest{attrs: map[string][]string{}}
	sc := bufio.NewScanner(io.LimitReader(r, maxGitRequest))
	sc.Buffer(make([]byte, 0, 4096), maxGitRequest)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			break
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("reading git's credential request: line %d is not key=value", n)
		}
		if strings.HasSuffix(key, "[]") && value == "" {
			// An empty value clears a multi-valued key.
			delete(req.attrs, key)
			continue
		}
		req.attrs[key] = append(req.attrs[key], value)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading git's credential request: %w", err)
	}
	return req, nil
}

// GitCredential is a helper's answer to `get`.
type GitCredential struct {
	Username string
	Password secret.Secret
	// Expiry, when set, is sent as password_expiry_utc (Unix seconds),
	// so that git (2.41 and later) does not use the token past it.
	Expiry time.Time
}

// Write writes the answer in the protocol's format. A value holding a
// newline or NUL, which would break the format, is refused.
func (c *GitCredential) Write(w io.Writer) error {
	pass := c.Password.Reveal()
	for name, v := range map[string]string{"username": c.Username, "password": pass} {
		if strings.ContainsAny(v, "\n\x00") {
			return fmt.Errorf("answering git: the %s holds a newline or NUL, which git's credential format cannot carry", name)
		}
	}
	if pass == "" {
		return errors.New("answering git: no password")
	}
	var b strings.Builder
	b.WriteString("username=" + c.Username + "\n")
	b.WriteString("password=" + pass + "\n")
	if !c.Expiry.IsZero() {
		b.WriteString("password_expiry_utc=" + strconv.FormatInt(c.Expiry.Unix(), 10) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("answering git: %w", err)
	}
	return nil
}
