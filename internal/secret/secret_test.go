package secret

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const raw = "tok-very-secret-123"
	s := New(raw)
	type wrapper struct {
		Name  string
		Token Secret
		Ptr   *Secret
	}
	w := wrapper{Name: "x", Token: s, Ptr: &s}
	outs := []string{
		s.String(), s.GoString(),
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %X %d", s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", w, w, w),
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(b))
	tb, _ := s.MarshalText()
	outs = append(outs, string(tb))
	for _, o := range outs {
		if strings.Contains(o, raw) {
			t.Errorf("secret leaked in %q", o)
		}
	}
	if !strings.Contains(fmt.Sprint(s), Redacted) {
		t.Errorf("fmt.Sprint(secret) = %q, want %q", fmt.Sprint(s), Redacted)
	}
	if s.Reveal() != raw {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
}

func TestSecretZeroAndEqual(t *testing.T) {
	var z Secret
	if !z.IsZero() || z.String() != "" {
		t.Errorf("zero secret: IsZero=%v String=%q", z.IsZero(), z.String())
	}
	if !New("a").Equal(New("a")) || New("a").Equal(New("b")) {
		t.Error("Equal is wrong")
	}
}
