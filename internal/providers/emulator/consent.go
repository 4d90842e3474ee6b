package emulator

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Errors returned (wrapped) by [Consent] and [ApproveDevice].
var (
	ErrNoConsentForm = errors.New("no consent form on the page")
	ErrNoDecision    = errors.New("the consent form has no such button")
	ErrNoRedirect    = errors.New("the server did not redirect")
)

// Consent plays the browser on an emulator's consent page: it fetches
// authURL with hc, parses the page's POST form, submits it with the Approve
// (approve=true) or Deny button the way a browser would, and returns the
// redirect Location (the client's callback URL with code and state, or
// error) without following it. When the authorization request itself
// redirects (AutoApprove, or an error sent back to the client), that
// Location is returned at once. hc nil means [http.DefaultClient]; its
// redirect policy is not used.
func Consent(ctx context.Context, hc *http.Client, authURL string, approve bool) (*url.URL, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	page, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("emulator: consent: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, fmt.Errorf("emulator: consent: %w", err)
	}
	req.Header.Set("Accept", "text/html")
	body, loc, err := fetch(&c, req, page)
	if err != nil || loc != nil {
		return loc, err
	}
	form, err := parseConsentForm(body)
	if err != nil {
		return nil, fmt.Errorf("emulator: consent: %w", err)
	}
	vals, err := form.submit(approve)
	if err != nil {
		return nil, fmt.Errorf("emulator: consent: %w", err)
	}
	action, err := page.Parse(form.action)
	if err != nil {
		return nil, fmt.Errorf("emulator: consent: form action: %w", err)
	}
	post, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(vals.Encode()))
	if err != nil {
		return nil, fmt.Errorf("emulator: consent: %w", err)
	}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.Header.Set("Accept", "text/html")
	body, loc, err = fetch(&c, post, action)
	if err != nil || loc != nil {
		return loc, err
	}
	return nil, fmt.Errorf("emulator: consent: POST %s: %w (page: %q)", action.Path, ErrNoRedirect, pageText(body))
}

// ApproveDevice plays the person at an emulator's verification page
// (RFC 8628 §3.3): it fetches verificationURI with hc (the
// verification_uri, or the verification_uri_complete that carries the
// user code), enters userCode in the page's form when the page asks for
// it, and submits the consent page that follows with the Approve
// (approve=true) or Deny button, the way a browser would. It returns nil
// once the decision is recorded; a refused code (unknown, expired, already
// used) is an error quoting the page. hc nil means [http.DefaultClient];
// its redirect policy is not used.
func ApproveDevice(ctx context.Context, hc *http.Client, verificationURI, userCode string, approve bool) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	page, err := url.Parse(verificationURI)
	if err != nil {
		return fmt.Errorf("emulator: device: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, verificationURI, nil)
	if err != nil {
		return fmt.Errorf("emulator: device: %w", err)
	}
	req.Header.Set("Accept", "text/html")
	body, loc, err := fetch(&c, req, page)
	if err != nil {
		return err
	}
	if loc != nil {
		return fmt.Errorf("emulator: device: GET %s redirected to %s: %w", page.Path, loc, ErrNoConsentForm)
	}
	post := func(form *htmlForm, vals url.Values, base *url.URL) ([]byte, *url.URL, error) {
		action, err := base.Parse(form.action)
		if err != nil {
			return nil, nil, fmt.Errorf("emulator: device: form action: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(vals.Encode()))
		if err != nil {
			return nil, nil, fmt.Errorf("emulator: device: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		body, loc, err := fetch(&c, req, action)
		if err == nil && loc != nil {
			err = fmt.Errorf("emulator: device: POST %s redirected to %s", action.Path, loc)
		}
		return body, action, err
	}
	form, err := parseConsentForm(body)
	if err != nil {
		return fmt.Errorf("emulator: device: %w", err)
	}
	if _, err := form.submit(approve); err != nil {
		// The user code form: enter the code and continue.
		vals := url.Values{}
		for _, kv := range form.fields {
			if kv[0] != "user_code" {
				vals.Add(kv[0], kv[1])
			}
		}
		code := userCode
		if code == "" {
			for _, kv := range form.fields {
				if kv[0] == "user_code" {
					code = kv[1]
				}
			}
		}
		vals.Set("user_code", code)
		if len(form.submits) > 0 {
			vals.Add(form.submits[0][0], form.submits[0][1])
		}
		if body, page, err = post(form, vals, page); err != nil {
			return err
		}
		if form, err = parseConsentForm(body); err != nil {
			return fmt.Errorf("emulator: device: %w", err)
		}
	}
	vals, err := form.submit(approve)
	if err != nil {
		return fmt.Errorf("emulator: device: %w", err)
	}
	_, _, err = post(form, vals, page)
	return err
}

// fetch does one request. It returns the resolved Location of a redirect,
// or the body of a 200 page; any other answer is an error.
func fetch(c *http.Client, req *http.Request, base *url.URL) ([]byte, *url.URL, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: consent: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: consent: reading %s: %w", req.URL.Path, err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc := resp.Header.Get("Location")
		if loc == "" {
			return nil, nil, fmt.Errorf("emulator: consent: %s %s: %d without Location: %w", req.Method, req.URL.Path, resp.StatusCode, ErrNoRedirect)
		}
		u, err := base.Parse(loc)
		if err != nil {
			return nil, nil, fmt.Errorf("emulator: consent: bad Location: %w", err)
		}
		return nil, u, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("emulator: consent: %s %s: status %d: %q", req.Method, req.URL.Path, resp.StatusCode, pageText(body))
	}
	return body, nil, nil
}

// htmlForm is the first POST form of a page, as a browser would submit it.
type htmlForm struct {
	action  string
	fields  [][2]string // successful controls, in document order
	submits [][2]string // submit buttons: name, value
}

// submit returns the form data sent when the approve or deny button is
// clicked.
func (f *htmlForm) submit(approve bool) (url.Values, error) {
	want := "deny"
	if approve {
		want = "approve"
	}
	vals := url.Values{}
	for _, kv := range f.fields {
		vals.Add(kv[0], kv[1])
	}
	for _, b := range f.submits {
		if strings.EqualFold(b[1], want) {
			vals.Add(b[0], b[1])
			return vals, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNoDecision, want)
}

// parseConsentForm finds the first form with method="post" in an HTML page.
// It uses encoding/xml in its lenient HTML mode, which is enough for the
// emulator's own pages.
func parseConsentForm(page []byte) (*htmlForm, error) {
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var p formParser
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parsing consent page: %w", err)
		}
		if f := p.feed(tok); f != nil {
			return f, nil
		}
	}
	return nil, ErrNoConsentForm
}

// formParser walks tokens and collects a POST form's controls.
type formParser struct {
	cur *htmlForm
	sel *selectState
}

// selectState is an open <select>.
type selectState struct {
	name, first, chosen string
	hasFirst, hasChosen bool
	pendingText         bool // an <option> without value: its text is the value
	pendingSelected     bool
}

// feed handles one token; it returns the form once it is closed.
func (p *formParser) feed(tok xml.Token) *htmlForm {
	switch t := tok.(type) {
	case xml.StartElement:
		p.start(t)
	case xml.CharData:
		if p.sel != nil && p.sel.pendingText {
			p.sel.option(strings.TrimSpace(string(t)), p.sel.pendingSelected)
			p.sel.pendingText = false
		}
	case xml.EndElement:
		switch strings.ToLower(t.Name.Local) {
		case "select":
			if p.sel != nil && p.cur != nil && p.sel.name != "" && (p.sel.hasChosen || p.sel.hasFirst) {
				v := p.sel.first
				if p.sel.hasChosen {
					v = p.sel.chosen
				}
				p.cur.fields = append(p.cur.fields, [2]string{p.sel.name, v})
			}
			p.sel = nil
		case "form":
			f := p.cur
			p.cur = nil
			return f
		}
	}
	return nil
}

// start handles an opening tag.
func (p *formParser) start(t xml.StartElement) {
	name := strings.ToLower(t.Name.Local)
	if name == "form" {
		if strings.EqualFold(attr(t, "method"), "post") {
			p.cur = &htmlForm{action: attr(t, "action")}
		}
		return
	}
	if p.cur == nil {
		return
	}
	n := attr(t, "name")
	switch name {
	case "input":
		typ := strings.ToLower(attr(t, "type"))
		switch typ {
		case "submit":
			if n != "" {
				p.cur.submits = append(p.cur.submits, [2]string{n, attr(t, "value")})
			}
		case "checkbox", "radio":
			if n != "" && hasAttr(t, "checked") {
				v := attr(t, "value")
				if !hasAttr(t, "value") {
					v = "on"
				}
				p.cur.fields = append(p.cur.fields, [2]string{n, v})
			}
		case "button", "reset", "file", "image":
		default:
			if n != "" {
				p.cur.fields = append(p.cur.fields, [2]string{n, attr(t, "value")})
			}
		}
	case "button":
		typ := strings.ToLower(attr(t, "type"))
		if (typ == "" || typ == "submit") && n != "" {
			p.cur.submits = append(p.cur.submits, [2]string{n, attr(t, "value")})
		}
	case "select":
		p.sel = &selectState{name: n}
	case "option":
		if p.sel != nil {
			if hasAttr(t, "value") {
				p.sel.option(attr(t, "value"), hasAttr(t, "selected"))
			} else {
				p.sel.pendingText, p.sel.pendingSelected = true, hasAttr(t, "selected")
			}
		}
	}
}

// option records one <option>.
func (s *selectState) option(v string, selected bool) {
	if !s.hasFirst {
		s.first, s.hasFirst = v, true
	}
	if selected && !s.hasChosen {
		s.chosen, s.hasChosen = v, true
	}
}

// attr returns an attribute's value (names compared case-insensitively).
func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if strings.EqualFold(a.Name.Local, name) {
			return a.Value
		}
	}
	return ""
}

// hasAttr reports whether an attribute is present.
func hasAttr(t xml.StartElement, name string) bool {
	for _, a := range t.Attr {
		if strings.EqualFold(a.Name.Local, name) {
			return true
		}
	}
	return false
}

// pageText extracts a page's text, for error messages (at most 200 bytes).
func pageText(page []byte) string {
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var b strings.Builder
	for b.Len() < 200 {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if cd, ok := tok.(xml.CharData); ok {
			if s := strings.TrimSpace(string(cd)); s != "" {
				if b.Len() > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(s)
			}
		}
	}
	out := b.String()
	if out == "" {
		out = strings.TrimSpace(string(page))
	}
	if len(out) > 200 {
		out = out[:200]
	}
	return out
}
