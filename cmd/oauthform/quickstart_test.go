package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// quickstartCommand is README's first command; the test below runs what it
// runs, so the README cannot promise a quickstart that does not work.
const quickstartCommand = "go run ./cmd/oauthform -chdir examples/quickstart apply -auto-approve"

// TestQuickstart runs examples/quickstart through its whole cycle with the
// in-process emulators (emulator = true), each command a separate process
// as a user would run it: apply connects all four seed providers and a
// generic one by the device and the client credentials grants, token
// works, a forced early refresh rotates the token, refresh and plan find
// nothing to do, destroy disconnects everything.
func TestQuickstart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte(quickstartCommand)) {
		t.Errorf("README.md does not give the quickstart command %q", quickstartCommand)
	}
	src, err := os.ReadFile("../../examples/quickstart/main.oauth.hcl")
	if err != nil {
		t.Fatal(err)
	}
	// Free ports instead of the example's fixed ones, so a quickstart a
	// person runs at the same time cannot collide with the test.
	cfg := regexp.MustCompile(`127\.0\.0\.1:\d+/callback`).ReplaceAllStringFunc(string(src), func(string) string {
		return fmt.Sprintf("127.0.0.1:%d/callback", freePort(t))
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command("oauthform", append([]string{"-chdir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "OAUTHFORM_BROWSER=false", "NO_COLOR=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("oauthform %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &stdout, &stderr)
		}
		return stdout.String(), stderr.String()
	}

	out, _ := run("apply", "-auto-approve")
	for _, want := range []string{
		"Grant 1 of 5: buffer_posts (buffer)", "Grant 4 of 5: sms_main (sms77)", "Grant 5 of 5: tv_device (oauth2)",
		"and enter the code: ", "ci_robot: Connected",
		"Apply complete! 6 connected, 0 refreshed, 0 reconnected, 0 updated, 0 disconnected.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "quickstart-sms77-secret") {
		t.Error("apply printed a client secret")
	}
	for _, conn := range []string{"burner_contacts", "sms_main", "buffer_posts", "dialer_user", "tv_device", "ci_robot"} {
		if tok, _ := run("token", conn); strings.TrimSpace(tok) == "" {
			t.Errorf("token %s printed nothing", conn)
		}
	}
	// A later process refreshes with the refresh token an earlier one got:
	// the emulator's grants persist next to the state.
	before, _ := run("token", "sms_main")
	after, _ := run("token", "-min-valid=2h", "sms_main")
	if before == after {
		t.Errorf("token -min-valid=2h did not refresh: %q both times", before)
	}
	if again, _ := run("token", "sms_main"); again != after {
		t.Errorf("token after the refresh = %q, want the refreshed %q", again, after)
	}
	// The client credentials connection gets a new token the same way,
	// without a refresh token.
	robot, _ := run("token", "ci_robot")
	if renewed, _ := run("token", "-min-valid=2h", "ci_robot"); renewed == robot {
		t.Errorf("token -min-valid=2h ci_robot did not obtain a new token")
	}
	if out, _ := run("refresh"); !strings.Contains(out, "Refresh complete! 0 refreshed.") {
		t.Errorf("refresh output:\n%s", out)
	}
	if out, _ := run("plan", "-detailed-exitcode"); !strings.Contains(out, "No changes.") {
		t.Errorf("plan after apply:\n%s", out)
	}
	out, errOut := run("destroy", "-auto-approve")
	if !strings.Contains(out, "Destroy complete! 6 disconnected.") {
		t.Errorf("destroy output:\n%s", out)
	}
	if !strings.Contains(errOut, "burner_contacts (burner)") || !strings.Contains(errOut, "dialer_user (phoneburner)") {
		t.Errorf("destroy does not tell to revoke Burner and PhoneBurner at the provider:\n%s", errOut)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
