package grant

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestBrowserArgv(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		goos string
		want []string
	}{
		"oauthform first": {env: map[string]string{"OAUTHFORM_BROWSER": "fakebrowser -approve", "BROWSER": "firefox"}, goos: "linux",
			want: []string{"fakebrowser", "-approve"}},
		"BROWSER":              {env: map[string]string{"BROWSER": "  firefox   --new-tab "}, goos: "linux", want: []string{"firefox", "--new-tab"}},
		"blank falls through":  {env: map[string]string{"OAUTHFORM_BROWSER": "  ", "BROWSER": "w3m"}, goos: "linux", want: []string{"w3m"}},
		"linux":                {goos: "linux", want: []string{"xdg-open"}},
		"freebsd":              {goos: "freebsd", want: []string{"xdg-open"}},
		"darwin":               {goos: "darwin", want: []string{"open"}},
		"windows":              {goos: "windows", want: []string{"rundll32", "url.dll,FileProtocolHandler"}},
		"env beats platform":   {env: map[string]string{"BROWSER": "lynx"}, goos: "darwin", want: []string{"lynx"}},
		"substitution is kept": {env: map[string]string{"BROWSER": "chrome --app=%s"}, goos: "linux", want: []string{"chrome", "--app=%s"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := browserArgv(func(k string) string { return c.env[k] }, c.goos)
			if !slices.Equal(got, c.want) {
				t.Errorf("browserArgv = %q, want %q", got, c.want)
			}
		})
	}
}

func TestSystemBrowser(t *testing.T) {
	b := SystemBrowser(func(k string) string {
		if k == "OAUTHFORM_BROWSER" {
			return "my-opener --flag"
		}
		return ""
	})
	cb, ok := b.(CommandBrowser)
	if !ok || !slices.Equal(cb.Argv, []string{"my-opener", "--flag"}) {
		t.Errorf("SystemBrowser = %#v", b)
	}
	t.Setenv("OAUTHFORM_BROWSER", "from-env")
	if cb, _ := SystemBrowser(nil).(CommandBrowser); !slices.Equal(cb.Argv, []string{"from-env"}) {
		t.Errorf("SystemBrowser(nil) = %#v, want the process environment", cb)
	}
}

func TestCommandLine(t *testing.T) {
	const u = "https://example.test/authorize?a=1&b=2"
	cases := map[string]struct {
		argv, want []string
	}{
		"append":     {[]string{"xdg-open"}, []string{"xdg-open", u}},
		"substitute": {[]string{"chrome", "--app=%s", "--x"}, []string{"chrome", "--app=" + u, "--x"}},
		"twice":      {[]string{"b", "%s", "%s"}, []string{"b", u, u}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := commandLine(c.argv, u); !slices.Equal(got, c.want) {
				t.Errorf("commandLine = %q, want %q", got, c.want)
			}
		})
	}
}

func TestCommandBrowser(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	ctx := context.Background()
	const u = "https://example.test/authorize?state=s&x=%20y"

	t.Run("appended", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "url")
		// sh -c SCRIPT URL: the URL is the script's $0.
		b := CommandBrowser{Argv: []string{sh, "-c", `echo "$0" > "` + out + `"`}}
		if err := b.Open(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil || string(got) != u+"\n" {
			t.Errorf("the command got %q (%v), want %q", got, err, u)
		}
	})
	t.Run("substituted", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "url")
		b := CommandBrowser{Argv: []string{sh, "-c", `echo "$1" > "$0"`, out, "url=%s"}}
		if err := b.Open(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil || string(got) != "url="+u+"\n" {
			t.Errorf("the command got %q (%v), want %q", got, err, "url="+u)
		}
	})
	t.Run("fails", func(t *testing.T) {
		err := CommandBrowser{Argv: []string{sh, "-c", "exit 3"}}.Open(ctx, u)
		if err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("Open = %v, want exit status 3", err)
		}
		if strings.Contains(err.Error(), "state=s") {
			t.Errorf("the error carries the URL: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		err := CommandBrowser{Argv: []string{filepath.Join(t.TempDir(), "no-such-opener")}}.Open(ctx, u)
		if err == nil || !strings.Contains(err.Error(), "starting") {
			t.Errorf("Open = %v, want a start failure", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if err := (CommandBrowser{}).Open(ctx, u); err == nil {
			t.Error("Open without a command succeeded")
		}
	})
	t.Run("still running", func(t *testing.T) {
		// A browser started directly keeps running; Open returns when the
		// grant's context ends.
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := (CommandBrowser{Argv: []string{sh, "-c", "sleep 2"}}).Open(ctx, u); err != nil {
			t.Errorf("Open = %v", err)
		}
	})
}
