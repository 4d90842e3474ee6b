package command

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/credential"
	"github.com/oauthform/oauthform/internal/state"
)

const credentialHelp = `Usage: oauthform credential git|kubectl|curl [options] CONNECTION [ACTION]

Hand CONNECTION's access token to another program in the form it asks
for, refreshing it first (under the connection's lock: concurrent calls
make one refresh) when it expires within -min-valid. The token goes to
standard output only, in the program's format.

  git CONNECTION ACTION   git's credential helper protocol: ACTION is
                          get (answer username, password and
                          password_expiry_utc), store (nothing to do) or
                          erase (the password was refused: the token is
                          marked expired, so the next get refreshes it).
                          Other actions are ignored, as the protocol asks.
                          git config credential.https://HOST.helper \
                            '!oauthform -chdir DIR credential git CONNECTION'
  kubectl CONNECTION      an ExecCredential for kubectl's exec plugins, in
                          the apiVersion KUBERNETES_EXEC_INFO asks for
                          (client.authentication.k8s.io/v1 or v1beta1).
  curl CONNECTION         a curl config line with the Authorization header:
                          curl -K <(oauthform credential curl CONNECTION) URL

Options:
  -min-valid=D      Refresh when the token expires within D (default 1m).
  -var, -var-file   Variables, as for plan.
`

// credentialArgs are credential's arguments: the consumer, the token to
// hand out and, for git, the action.
type credentialArgs struct {
	kind   string
	action string
	token  tokenArgs
}

func parseCredentialArgs(args []string) (*credentialArgs, bool, hcl.Diagnostics) {
	var ca credentialArgs
	fs := newFlagSet("credential")
	fs.DurationVar(&ca.token.minValid, "min-valid", time.Minute, "")
	ca.token.vars.register(fs)
	help, diags := parseFlags(fs, args, credentialHelp)
	if help || diags.HasErrors() {
		return nil, help, diags
	}
	rest := fs.Args()
	if len(rest) < 2 {
		return nil, false, errDiag("Missing arguments", "Name the consumer (git, kubectl or curl) and the connection.\n\n"+credentialHelp)
	}
	ca.kind, ca.token.conn, rest = rest[0], rest[1], rest[2:]
	switch {
	case ca.kind != "git" && ca.kind != "kubectl" && ca.kind != "curl":
		return nil, false, errDiag("Unknown consumer", fmt.Sprintf("credential hands tokens to git, kubectl or curl, not %q.\n\n%s", ca.kind, credentialHelp))
	case ca.kind == "git" && len(rest) != 1:
		return nil, false, errDiag("Missing action", "git runs its helper with an action (get, store or erase) after the connection.")
	case ca.kind == "git":
		ca.action = rest[0]
	case len(rest) > 0:
		return nil, false, errDiag("Unexpected argument", fmt.Sprintf("credential %s takes one connection; %q is extra.", ca.kind, rest[0]))
	case ca.token.minValid < 0:
		return nil, false, errDiag("Invalid -min-valid", "-min-valid must not be negative.")
	}
	return &ca, false, nil
}

func runCredential(ctx context.Context, g *globals, args []string) int {
	ca, help, diags := parseCredentialArgs(args)
	if code, done := g.parsed(credentialHelp, help, diags); done {
		return code
	}
	switch ca.kind {
	case "git":
		return gitHelper(ctx, g, ca)
	case "kubectl":
		return kubeCredential(ctx, g, ca)
	}
	return curlConfig(ctx, g, ca)
}

// gitHelper answers one request of git's credential protocol.
func gitHelper(ctx context.Context, g *globals, ca *credentialArgs) int {
	req, err := credential.ReadGitRequest(g.streams.In)
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Cannot read git's request", err))
		return ExitError
	}
	switch ca.action {
	case "get":
	case "erase":
		return gitErase(ctx, g, ca, req)
	default:
		// store, and any action a later git adds: nothing to do (the
		// token already lives in the state).
		return ExitOK
	}
	tok, ok := currentToken(ctx, g, &ca.token)
	if !ok {
		return ExitError
	}
	username := config.DefaultUsername
	if tok.conn == nil {
		// The fast path answered without the configuration: load it for
		// the connection's username only.
		_, conn, ok := declaredConnection(g, ca.token.conn, ca.token.vars)
		if !ok {
			return ExitError
		}
		tok.conn = conn
	}
	if tok.conn.Username != "" {
		username = tok.conn.Username
	}
	answer := &credential.GitCredential{Username: username, Password: tok.rec.Access, Expiry: tok.rec.Expiry}
	if err := g.view.GitCredential(answer); err != nil {
		g.view.Diagnostics(nil, wrapErr("Cannot answer git", err))
		return ExitError
	}
	return ExitOK
}

// gitErase handles git's erase: the host refused the password. When it is
// the connection's current token, the token is marked expired so the next
// get refreshes it; the grant is kept.
func gitErase(ctx context.Context, g *globals, ca *credentialArgs, req *credential.GitRequest) int {
	cfg, _, ok := declaredConnection(g, ca.token.conn, ca.token.vars)
	if !ok {
		return ExitError
	}
	st, diags := g.openConfigState(ctx, cfg, state.Options{})
	if g.failed(nil, diags) {
		return ExitError
	}
	defer st.Close()
	marked, err := apply.MarkRejected(ctx, st, ca.token.conn, req.Password(), g.now())
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Cannot mark the token refused", err))
		return ExitError
	}
	if marked {
		g.log.Info("git reported the token refused; the next get refreshes it", "connection", ca.token.conn)
	}
	return ExitOK
}

// kubeCredential prints an ExecCredential for kubectl.
func kubeCredential(ctx context.Context, g *globals, ca *credentialArgs) int {
	version, err := credential.KubeAPIVersion(os.Getenv(credential.ExecInfoEnv))
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Unsupported request from kubectl", err))
		return ExitError
	}
	tok, ok := currentToken(ctx, g, &ca.token)
	if !ok {
		return ExitError
	}
	doc, err := credential.ExecCredential(version, tok.rec.Access, tok.rec.Expiry)
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Cannot answer kubectl", err))
		return ExitError
	}
	g.view.Raw(doc)
	return ExitOK
}

// curlConfig prints a curl config line carrying the token.
func curlConfig(ctx context.Context, g *globals, ca *credentialArgs) int {
	tok, ok := currentToken(ctx, g, &ca.token)
	if !ok {
		return ExitError
	}
	tokenType := tok.rec.TokenType
	if strings.EqualFold(tokenType, "bearer") {
		tokenType = "Bearer"
	}
	line, err := credential.CurlConfig(tokenType, tok.rec.Access)
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Cannot write the curl config", err))
		return ExitError
	}
	g.view.Raw([]byte(line))
	return ExitOK
}
