package credential

import (
	"fmt"
	"strings"

	"github.com/oauthform/oauthform/internal/secret"
)

// CurlConfig returns a curl config file line carrying the token as an
// Authorization header, for `curl -K <(oauthform credential curl C) URL`:
// the token is never on curl's command line. Inside double quotes curl's
// config syntax treats backslash as an escape, so `\` and `"` are escaped;
// a control character (which no token holds) is refused.
func CurlConfig(tokenType string, token secret.Secret) (string, error) {
	if tokenType == "" {
		tokenType = "Bearer"
	}
	v := "Authorization: " + tokenType + " " + token.Reveal()
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("the token holds a control character, which a header cannot carry")
	}
	v = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)
	return `header = "` + v + "\"\n", nil
}
