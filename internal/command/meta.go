package command

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/go-hclog"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/keys"
)

// Streams are the process's standard streams; tests substitute buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// InTerminal, OutTerminal and ErrTerminal say whether the streams are
	// terminals (confirmation prompts, colour, widths, live progress).
	InTerminal, OutTerminal, ErrTerminal bool
	// Width is the terminal width, or 0.
	Width int
}

// globals are the options that come before the command.
type globals struct {
	chdir   string
	noColor bool
	streams *Streams
	log     hclog.Logger
	// view renders the command's output on the streams.
	view *views.View
	// version, revision and now are Meta's.
	version, revision string
	now               func() time.Time
	// emus are the in-process emulators of providers declared with
	// `emulator = true`, started on first use and stopped when the
	// command ends.
	emus   *localEmulators
	emusMu sync.Mutex
	// secrets are the connection strings of the states this command
	// opened, redacted from its messages.
	secrets backend.Secrets
	// indexAfter, when set, is a configuration loaded in full whose
	// index (writeConfigIndex) is written when the command ends.
	indexAfter *config.Config
	// cacheAfter, when set, is the configuration cache to write when the
	// command ends.
	cacheAfter *config.PendingCache
	// keyring is Meta's Keyring (nil: the OS keyring).
	keyring keys.Keyring
}

// newView returns the view of the streams, once the -no-color flags are
// known.
func (g *globals) newView() *views.View {
	s := g.streams
	return &views.View{Out: s.Out, Err: s.Err, Color: g.color(), ErrColor: g.errColor(), OutTerminal: s.OutTerminal, Width: s.Width}
}

// color reports whether output to stdout may use colour: only on a
// terminal, never with -no-color or NO_COLOR.
func (g *globals) color() bool {
	return g.streams.OutTerminal && !g.noColor && os.Getenv("NO_COLOR") == ""
}

// errColor is color() for stderr.
func (g *globals) errColor() bool {
	return g.streams.ErrTerminal && !g.noColor && os.Getenv("NO_COLOR") == ""
}

func parseGlobals(args []string, s *Streams, meta Meta) (*globals, []string, error) {
	g := &globals{streams: s, version: meta.Version, revision: meta.Revision, now: meta.Now, keyring: meta.Keyring}
	if g.now == nil {
		g.now = time.Now
	}
	fs := flag.NewFlagSet("oauthform", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.chdir, "chdir", "", "")
	fs.BoolVar(&g.noColor, "no-color", false, "")
	level := fs.String("log-level", os.Getenv("OAUTHFORM_LOG"), "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return g, []string{"help"}, nil
		}
		return nil, nil, err
	}
	lg, err := newLogger(*level, s.Err)
	if err != nil {
		return nil, nil, err
	}
	g.log = lg
	return g, fs.Args(), nil
}

// newLogger returns an hclog logger writing to w at level; "" and "off"
// give a logger that discards everything.
func newLogger(level string, w io.Writer) (hclog.Logger, error) {
	level = strings.TrimSpace(strings.ToLower(level))
	if level == "" || level == "off" {
		return hclog.NewNullLogger(), nil
	}
	l := hclog.LevelFromString(level)
	if l == hclog.NoLevel {
		return nil, errors.New("-log-level: want one of trace, debug, info, warn, error, off, got " + level)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:   "oauthform",
		Level:  l,
		Output: w,
	}), nil
}

// suggest returns the candidate closest to given when it is close enough to
// be a likely typo, else "".
func suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
