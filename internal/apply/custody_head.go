package apply

import "github.com/oauthform/oauthform/internal/plainjson"

// parseCustodyHead decodes head, the header of a custody entry as
// encoding/json writes CustodyEntry (its fields in order, the record left
// out, closed with `}`), and reports whether it could: anything else (a
// string with an escape, a field out of place, a number that is not
// plain, a field it does not know) is left to encoding/json, so it never
// decodes a header otherwise than encoding/json would. Every writing
// command reads the header of every custody file, and encoding/json took
// 8 µs for one, most of the time a plan of 1,000 connections spent on the
// custody journal.
func parseCustodyHead(head []byte) (*CustodyEntry, bool) {
	p := plainjson.New(head)
	var e CustodyEntry
	p.Lit(`{"format":`)
	e.Format = p.Str()
	p.Lit(`,"connection":`)
	e.Conn = p.Str()
	p.Lit(`,"lineage":`)
	e.Lineage = p.Str()
	p.Lit(`,"grant":`)
	e.Grant = p.Time()
	p.Lit(`,"generation":`)
	e.Generation = p.Uint(64)
	p.Lit(`,"phase":`)
	e.Phase = p.Str()
	p.Lit(`,"flight":{"since":`)
	e.Flight.Since = p.Time()
	p.Lit(`,"pid":`)
	e.Flight.PID = p.Int()
	p.Lit(`,"host":`)
	e.Flight.Host = p.Str()
	p.Lit(`,"generation":`)
	e.Flight.Generation = p.Uint(64)
	p.Lit(`}`)
	if p.Word(`,"answered_at":`) {
		e.AnsweredAt = p.Time()
	}
	p.Lit(`}`)
	if !p.Done() {
		return nil, false
	}
	return &e, true
}
