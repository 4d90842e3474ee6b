package grant

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
)

// maxPasteTries is how often the person may paste something unusable
// (another authorization's URL, text that is neither a URL nor a code)
// before the grant fails.
const maxPasteTries = 3

// pastePrompt asks for the redirect the browser landed on.
const pastePrompt = "Paste the full URL your browser landed on (or just the code): "

// pasteProblem is a pasted line that cannot be used; the person is asked
// again.
type pasteProblem string

func (p pasteProblem) Error() string { return string(p) }

// paste runs the grant for a non-loopback redirect_uri: the person pastes
// the URL the browser landed on, or the bare code.
func (s *session) paste() (*providers.Token, error) {
	s.printURL()
	browserErr, waitBrowser := s.startBrowser()
	defer func() {
		s.cancel()
		waitBrowser()
	}()
	lines := s.r.lineReader()
	var problem error
	for range maxPasteTries {
		fmt.Fprint(s.out, pastePrompt)
		line, err := s.readLine(lines, &browserErr)
		if err != nil {
			return nil, err
		}
		code, err := s.parseCallback(line)
		if errors.As(err, new(pasteProblem)) {
			problem = err
			fmt.Fprintf(s.out, "That cannot be used: %s.\n", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		tok, err := s.req.Client.Exchange(s.ctx, s.ar, code)
		if err != nil && s.ctx.Err() != nil {
			return nil, s.doneErr()
		}
		return tok, err
	}
	return nil, fmt.Errorf("no usable callback for %s after %d tries: %w", s.req.Conn, maxPasteTries, problem)
}

// parseCallback turns a pasted line into the authorization code. A
// [pasteProblem] means the person should paste again; any other error
// (the provider's refusal, access_denied…) ends the grant.
func (s *session) parseCallback(line string) (secret.Secret, error) {
	q, bare, err := parsePasted(line)
	if err != nil {
		return secret.Secret{}, err
	}
	if bare != "" {
		fmt.Fprintln(s.out, "Warning: a bare code cannot be checked against the state of this authorization; paste the full URL when you can.")
		return secret.New(bare), nil
	}
	code, err := s.req.Client.ParseCallback(q, s.ar)
	if errors.Is(err, providers.ErrStateMismatch) {
		s.log.Warn("ignored a pasted callback whose state does not match the authorization in progress")
		return secret.Secret{}, pasteProblem("that URL belongs to another authorization (its state does not match this one); paste the URL from the authorization just opened")
	}
	return code, err
}

// parsePasted reads what a person pasted: the URL the browser landed on
// (its query, or its fragment when the query has no callback parameters),
// a bare query string ("code=…&state=…"), or a bare code, returned in
// bare. A code is anything without whitespace that is not one of the
// others, so codes containing "/" (Buffer's "1/…") or ending in "="
// (base64 padding) are accepted.
func parsePasted(line string) (q url.Values, bare string, err error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return nil, "", pasteProblem("nothing was pasted")
	}
	if strings.Contains(line, "://") || strings.ContainsAny(line, "?#") {
		u, err := url.Parse(line)
		if err != nil {
			return nil, "", pasteProblem("that is not a URL")
		}
		q := u.Query()
		if !hasCallbackParams(q) && u.Fragment != "" {
			if fq, err := url.ParseQuery(u.Fragment); err == nil {
				q = fq
			}
		}
		if !hasCallbackParams(q) {
			return nil, "", pasteProblem("that URL has no code, state or error in it")
		}
		return q, "", nil
	}
	if q, err := url.ParseQuery(line); err == nil && hasCallbackParams(q) {
		return q, "", nil
	}
	if strings.ContainsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' }) {
		return nil, "", pasteProblem("that is neither a URL nor a code")
	}
	return nil, line, nil
}

// hasCallbackParams reports whether q looks like an authorization
// response.
func hasCallbackParams(q url.Values) bool {
	return q.Has("code") || q.Has("state") || q.Has("error")
}

// readLine waits for the next line of In, while reporting a browser that
// could not be opened. The wait ends with the grant's context; the read
// itself cannot be interrupted (an os.Stdin read blocks until a line or
// EOF), so it stays pending and the next grant takes its line, unless the
// line was complete before that grant's prompt: a line typed for an ended
// grant is dropped.
func (s *session) readLine(lines *lineReader, browserErr *<-chan error) (string, error) {
	since := time.Now()
	for {
		select {
		case res := <-lines.next():
			lines.consumed()
			if res.at.Before(since) && res.err == nil {
				s.log.Debug("dropped a line typed before the prompt")
				continue
			}
			switch {
			case res.err == nil:
				return res.line, nil
			case errors.Is(res.err, io.EOF):
				if res.line != "" {
					return res.line, nil
				}
				return "", fmt.Errorf("%w: the input ended before the URL the browser landed on was pasted for %s", ErrNoTerminal, s.req.Conn)
			default:
				return "", fmt.Errorf("reading the pasted URL for %s: %w", s.req.Conn, res.err)
			}
		case err := <-*browserErr:
			*browserErr = nil
			if err != nil {
				fmt.Fprintln(s.out)
				s.browserFailed(err)
				fmt.Fprint(s.out, pastePrompt)
			}
		case <-s.ctx.Done():
			return "", s.doneErr()
		}
	}
}

// lineReader reads In one line at a time, at most one read in flight. The
// read runs in its own goroutine so that a grant can stop waiting for it;
// that goroutine ends when the read returns, which for os.Stdin may be
// only when the person presses Enter or the process exits. Its result is
// kept for the next call of next.
type lineReader struct {
	br *bufio.Reader

	mu      sync.Mutex
	pending chan lineResult // the read in flight or its unconsumed result; nil when none
}

// lineResult is one read of a line.
type lineResult struct {
	line string // without the line ending
	err  error
	at   time.Time // when the read returned
}

// lineReader returns the Runner's reader of In, created on first use.
func (r *Runner) lineReader() *lineReader {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stdin == nil {
		r.stdin = &lineReader{br: bufio.NewReader(r.In)}
	}
	return r.stdin
}

// next returns the channel on which the next line arrives: the pending
// read's, or a new read's. Call consumed after receiving from it.
func (l *lineReader) next() <-chan lineResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		c := make(chan lineResult, 1)
		l.pending = c
		go func() {
			s, err := l.br.ReadString('\n')
			c <- lineResult{line: strings.TrimRight(s, "\r\n"), err: err, at: time.Now()}
		}()
	}
	return l.pending
}

// consumed forgets the read whose result was received.
func (l *lineReader) consumed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = nil
}
