package command

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/config"
)

const completionHelp = `Usage: oauthform completion bash|zsh|fish

Print a shell completion script: it completes commands, their flags and
the connection names declared in the configuration of the current (or
-chdir) directory.

  bash:  source <(oauthform completion bash)        # in ~/.bashrc
  zsh:   source <(oauthform completion zsh)         # in ~/.zshrc
  fish:  oauthform completion fish | source         # in config.fish
`

func parseCompletionArgs(args []string) (string, bool, hcl.Diagnostics) {
	fs := newFlagSet("completion")
	help, diags := parseFlags(fs, args, completionHelp)
	if help || diags.HasErrors() {
		return "", help, diags
	}
	if fs.NArg() != 1 || views.CompletionScript(fs.Arg(0)) == "" {
		return "", false, errDiag("Unknown shell", "completion writes scripts for bash, zsh and fish.\n\n"+completionHelp)
	}
	return fs.Arg(0), false, nil
}

func runCompletion(_ context.Context, g *globals, args []string) int {
	shell, help, diags := parseCompletionArgs(args)
	if code, done := g.parsed(completionHelp, help, diags); done {
		return code
	}
	g.view.Raw([]byte(views.CompletionScript(shell)))
	return ExitOK
}

// runComplete is the hidden command the completion scripts call:
// `oauthform __complete WORD...` prints the candidates for the word after
// WORDs (the command line so far, without the program name), one per
// line. It never fails: a broken configuration completes no names.
func runComplete(_ context.Context, g *globals, words []string) int {
	for _, c := range completions(g, words) {
		fmt.Fprintln(g.streams.Out, c)
	}
	return ExitOK
}

// completions are the candidates after words.
func completions(g *globals, words []string) []string {
	chdir := ""
	i := 0
	for i < len(words) && strings.HasPrefix(words[i], "-") {
		// Global options: -chdir DIR or -chdir=DIR names the configuration.
		if w := strings.TrimLeft(words[i], "-"); w == "chdir" && i+1 < len(words) {
			chdir, i = words[i+1], i+1
		} else if v, ok := strings.CutPrefix(w, "chdir="); ok {
			chdir = v
		}
		i++
	}
	if i == len(words) {
		return append(commandNames(), "-chdir", "-no-color", "-log-level", "-help")
	}
	name, rest := words[i], words[i+1:]
	switch {
	case name == "state" && len(rest) == 0:
		var subs []string
		for _, sc := range stateSubcommands() {
			subs = append(subs, sc.name)
		}
		return subs
	case name == "credential" && len(rest) == 0:
		return []string{"git", "kubectl", "curl"}
	case name == "completion":
		return []string{"bash", "zsh", "fish"}
	}
	helpArgs := []string{name, "-help"}
	if name == "state" {
		helpArgs = []string{name, rest[0], "-help"}
	}
	return append(connectionsIn(chdir), commandFlags(g, helpArgs)...)
}

// commandFlags are the flags a command's -help lists.
func commandFlags(g *globals, helpArgs []string) []string {
	var out bytes.Buffer
	h := &globals{streams: &Streams{In: strings.NewReader(""), Out: &out, Err: &out}, version: g.version, now: g.now, log: g.log}
	h.view = h.newView()
	if cmd, ok := commands()[helpArgs[0]]; ok {
		cmd.run(context.Background(), h, helpArgs[1:])
	}
	// The flags a command's help lists, one per option line.
	flagRE := regexp.MustCompile(`(?m)^\s+(-[a-z][a-z0-9-]*)`)
	var flags []string
	for _, m := range flagRE.FindAllStringSubmatch(out.String(), -1) {
		if !slices.Contains(flags, m[1]) {
			flags = append(flags, m[1])
		}
	}
	return flags
}

// connectionsIn lists the connections declared in dir's configuration
// (the current directory when dir is empty), sorted.
func connectionsIn(dir string) []string {
	if dir == "" {
		dir = "."
	}
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	cfg, _ := config.Load(dir, config.Inputs{Validate: true})
	if cfg == nil {
		return nil
	}
	names := connectionNames(cfg)
	slices.Sort(names)
	return names
}
