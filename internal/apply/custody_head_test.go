package apply

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/state"
)

// headOf is the header of an encoded entry, as readCustodyHead cuts it.
func headOf(t testing.TB, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(`,"record":"`))
	if i < 0 {
		return b
	}
	return append(b[:i:i], '}')
}

// parseCustodyHead decodes the headers encoding/json writes as it does,
// and leaves to it every header it does not write that way.
func TestParseCustodyHead(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	full := CustodyEntry{Format: custodyFormat, Conn: "sms77_00001", Lineage: "7985e7bc-5b83-48ef-adc5-fa5efc621f73",
		Grant: at.Add(-time.Hour), Generation: 26, Phase: phaseAnswered,
		Flight:     state.Flight{Since: at.Add(-time.Second), PID: 17595, Host: "vm", Generation: 26},
		AnsweredAt: at, Record: []byte("record")}
	sent := full
	sent.Phase, sent.AnsweredAt, sent.Record = phaseSent, time.Time{}, nil
	zero := CustodyEntry{Format: custodyFormat, Conn: "c"}
	offset := full
	offset.Grant = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	for name, e := range map[string]CustodyEntry{"answered": full, "sent": sent, "zero times": zero, "offset": offset} {
		b, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		head := headOf(t, b)
		got, ok := parseCustodyHead(head)
		if !ok {
			t.Errorf("%s: not parsed: %s", name, head)
			continue
		}
		var want CustodyEntry
		if err := json.Unmarshal(head, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s: parsed %+v, encoding/json %+v", name, *got, want)
		}
	}
	escaped := full
	escaped.Flight.Host = "a<b"
	unicode := full
	unicode.Flight.Host = "hôte"
	for name, e := range map[string]CustodyEntry{"escape": escaped, "non-ASCII": unicode} {
		b, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseCustodyHead(headOf(t, b)); ok {
			t.Errorf("%s: parsed, want it left to encoding/json", name)
		}
	}
	b, _ := json.Marshal(&full)
	for name, head := range map[string]string{
		"extra field":    strings.Replace(string(headOf(t, b)), `,"phase"`, `,"x":1,"phase"`, 1),
		"float":          strings.Replace(string(headOf(t, b)), `"generation":26,"phase"`, `"generation":26.0,"phase"`, 1),
		"leading zero":   strings.Replace(string(headOf(t, b)), `"generation":26,"phase"`, `"generation":026,"phase"`, 1),
		"bad time":       strings.Replace(string(headOf(t, b)), `"grant":"2026-12-03T09`, `"grant":"2026-13-03T09`, 1),
		"trailing bytes": string(headOf(t, b)) + " ",
		"cut":            string(headOf(t, b)[:50]),
		"huge number":    strings.Replace(string(headOf(t, b)), `"generation":26,"phase"`, `"generation":99999999999999999999,"phase"`, 1),
	} {
		if _, ok := parseCustodyHead([]byte(head)); ok {
			t.Errorf("%s: parsed %s, want it left to encoding/json", name, head)
		}
	}
}

// Whatever parseCustodyHead accepts, encoding/json decodes the same.
func FuzzParseCustodyHead(f *testing.F) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	e := CustodyEntry{Format: custodyFormat, Conn: "c", Lineage: "l", Grant: at, Generation: 2, Phase: phaseAnswered,
		Flight: state.Flight{Since: at, PID: 1, Host: "h", Generation: 2}, AnsweredAt: at}
	b, err := json.Marshal(&e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	e.AnsweredAt = time.Time{}
	b, _ = json.Marshal(&e)
	f.Add(b)
	f.Fuzz(func(t *testing.T, head []byte) {
		got, ok := parseCustodyHead(head)
		if !ok {
			return
		}
		var want CustodyEntry
		if err := json.Unmarshal(head, &want); err != nil {
			t.Fatalf("parsed %q, which encoding/json refuses: %v", head, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("%q: parsed %+v, encoding/json %+v", head, *got, want)
		}
	})
}
