package state

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

func TestDecodeAllStored(t *testing.T) {
	const n = 3000 // several goroutines' worth
	stored := make([]Stored, n)
	want := map[string]*Record{}
	for i := range stored {
		r := &Record{Conn: fmt.Sprintf("c%05d", i), Provider: "burner", ClientID: "client", Scopes: []string{"a"},
			Params: map[string]string{}, RefreshBefore: time.Minute, Access: secret.New(fmt.Sprintf("AT-%d", i)),
			TokenType: "Bearer", Status: StatusActive, Version: RecordVersion}
		data, err := EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		stored[i] = Stored{Conn: r.Conn, Data: data}
		if want[r.Conn], err = DecodeStored(r.Conn, data, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := DecodeAllStored(stored, false, nil)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeAllStored: %d records, %v; want the %d DecodeStored gives one by one", len(got), err, len(want))
	}
	// Two corrupt records in different goroutines' shares: the first in
	// the order given is reported, whichever goroutine finishes first.
	stored[2900].Data = []byte("{not json")
	stored[100].Data = []byte(`{"version":99}`)
	for range 20 {
		_, err := DecodeAllStored(stored, false, nil)
		if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), `"c00100"`) {
			t.Fatalf("error %v, want c00100's", err)
		}
	}
}
