package state

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/seal"
	"github.com/oauthform/oauthform/internal/secret"
)

func TestRecordEncoding(t *testing.T) {
	r := &Record{Conn: "a", Version: 7, Access: secret.New("AT"), Refresh: secret.New("RT"), RefreshBefore: 90 * time.Second}
	b, err := EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, `{"version":1,`) {
		t.Errorf("encoding does not start with the version: %s", s)
	}
	for _, want := range []string{`"access_token":"AT"`, `"refresh_token":"RT"`, `"refresh_before":"1m30s"`} {
		if !strings.Contains(s, want) {
			t.Errorf("encoding lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, "expiry") || strings.Contains(s, "created") {
		t.Errorf("zero times are written: %s", s)
	}
	got, err := DecodeRecord("b", b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Conn != "b" || got.Access.Reveal() != "AT" || got.RefreshBefore != 90*time.Second || !got.Expiry.IsZero() {
		t.Errorf("decoded %+v", got)
	}
}

func TestLockErrorWithoutInfo(t *testing.T) {
	err := &LockError{Err: ErrLocked}
	if !strings.Contains(err.Error(), "locked") || !errors.Is(err, ErrLocked) {
		t.Errorf("LockError{} = %q", err)
	}
}

// testKDFParams are cheap Argon2id parameters, so that the tests derive
// keys in microseconds.
func testKDFParams() seal.Params {
	p := seal.NewParams()
	p.Time, p.MemoryKiB, p.Threads = 1, 64, 1
	return p
}

// TestSealBoundToLineageAndName: the same key in two states (or a record
// renamed) does not open a sealed value (the stores' part is bolt's
// TestSwappedSeals).
func TestSealBoundToLineageAndName(t *testing.T) {
	passA := secret.New("correct horse battery staple")
	key, err := seal.Derive(passA, testKDFParams())
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{Conn: "c", Access: secret.New("TOKEN-c")}
	data, err := encodeRecord(rec, &Sealer{key: key, lineage: "lineage-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeStored("c", data, true, &Sealer{key: key, lineage: "lineage-1"}); err != nil {
		t.Errorf("same lineage and name: %v", err)
	}
	if _, err := DecodeStored("c", data, true, &Sealer{key: key, lineage: "lineage-2"}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("another lineage = %v, want ErrCorrupt", err)
	}
	if _, err := DecodeStored("d", data, true, &Sealer{key: key, lineage: "lineage-1"}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("another name = %v, want ErrCorrupt", err)
	}
}

// DecodeAll decodes every record in order, across goroutines, and fails
// with the first bad record's error, in order.
func TestDecodeAll(t *testing.T) {
	const n = 1000
	conns := make([]string, n)
	data := make([][]byte, n)
	for i := range n {
		conns[i] = fmt.Sprintf("c%04d", i)
		b, err := EncodeRecord(&Record{Conn: conns[i], Provider: "sms77", Access: secret.New("AT-" + conns[i]), Status: StatusActive})
		if err != nil {
			t.Fatal(err)
		}
		data[i] = b
	}
	at := func(i int) (string, []byte) { return conns[i], data[i] }
	recs, err := DecodeAll(n, at, false, nil)
	if err != nil || len(recs) != n {
		t.Fatalf("DecodeAll = %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if r.Conn != conns[i] || r.Access.Reveal() != "AT-"+conns[i] {
			t.Fatalf("record %d = %s with %q", i, r.Conn, r.Access.Reveal())
		}
	}
	if recs, err := DecodeAll(0, at, false, nil); err != nil || len(recs) != 0 {
		t.Errorf("DecodeAll of none = %v, %v", recs, err)
	}
	data[700], data[300] = []byte("not json"), []byte(`{"version":99}`)
	if _, err := DecodeAll(n, at, false, nil); !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), "c0300") {
		t.Errorf("DecodeAll with records 300 and 700 bad: err = %v, want record c0300's ErrNewerFormat", err)
	}
}
