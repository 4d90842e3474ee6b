package plainjson

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The scanner reads the plain values, and gives up at anything else.
func TestScanner(t *testing.T) {
	p := New([]byte(`{"s":"a b","n":42,"b":true,"l":["x","y"],"e":[],"z":null,"m":{"k":"v"},"r":{"a":[1,{"b":"\\\"}"}],"c":null},"t":"2026-12-03T10:00:00.5Z"}`))
	p.Lit(`{"s":`)
	if got := p.Str(); got != "a b" {
		t.Errorf("Str = %q", got)
	}
	p.Lit(`,"n":`)
	if got := p.Int(); got != 42 {
		t.Errorf("Int = %d", got)
	}
	p.Lit(`,"b":`)
	if !p.Bool() {
		t.Error("Bool = false")
	}
	p.Lit(`,"l":`)
	if got := p.Strs(); !reflect.DeepEqual(got, []string{"x", "y"}) {
		t.Errorf("Strs = %q", got)
	}
	p.Lit(`,"e":`)
	if got := p.Strs(); got == nil || len(got) != 0 {
		t.Errorf("Strs of [] = %#v, want an empty list (as encoding/json)", got)
	}
	p.Lit(`,"z":`)
	if got := p.Strs(); got != nil {
		t.Errorf("Strs of null = %#v, want nil", got)
	}
	p.Lit(`,"m":`)
	if got := p.StrMap(); !reflect.DeepEqual(got, map[string]string{"k": "v"}) {
		t.Errorf("StrMap = %v", got)
	}
	p.Lit(`,"r":`)
	want := map[string]json.RawMessage{"a": json.RawMessage(`[1,{"b":"\\\"}"}]`), "c": json.RawMessage(`null`)}
	if got := p.RawMap(); !reflect.DeepEqual(got, want) {
		t.Errorf("RawMap = %s", got)
	}
	p.Lit(`,"t":`)
	if got := p.Time(); !got.Equal(time.Date(2026, 12, 3, 10, 0, 0, 5e8, time.UTC)) {
		t.Errorf("Time = %v", got)
	}
	p.Lit(`}`)
	if !p.Done() {
		t.Fatalf("not done: OK %v, %q left", p.OK, p.B)
	}

	for name, give := range map[string]func(*Scanner){
		"escape":       func(p *Scanner) { p.Str() },
		"non-ASCII":    func(p *Scanner) { p.Str() },
		"leading zero": func(p *Scanner) { p.Uint(64) },
		"fraction":     func(p *Scanner) { p.Uint(64) },
		"too big":      func(p *Scanner) { p.Uint(8) },
		"not a bool":   func(p *Scanner) { p.Bool() },
		"spaced value": func(p *Scanner) { p.RawMap() },
		"bad raw":      func(p *Scanner) { p.RawMap() },
		"bad time":     func(p *Scanner) { p.Time() },
	} {
		in := map[string]string{
			"escape": `"a\nb"`, "non-ASCII": `"hôte"`, "leading zero": `012`, "fraction": `1.5`,
			"too big": `256`, "not a bool": `yes`, "spaced value": `{"a":1 }`, "bad raw": `{"a":tru}`,
			"bad time": `"2026-13-01T00:00:00Z"`,
		}[name]
		p := New([]byte(in))
		give(p)
		if p.OK {
			t.Errorf("%s: %s read, want the scanner to give up", name, in)
		}
	}
}
