package apply

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// custodyFailingPuts is the real bbolt store (custody journal included)
// whose writes fail from the (after+1)th on while fail is set.
type custodyFailingPuts struct {
	*bolt.Store
	fail  bool
	after int
	puts  int
	err   error // what a failing write returns; nil means ENOSPC
}

func (s *custodyFailingPuts) Put(ctx context.Context, rec *state.Record) error {
	s.puts++
	if s.fail && s.puts > s.after {
		if s.err != nil {
			return fmt.Errorf("writing state: %w", s.err)
		}
		return fmt.Errorf("writing state: %w", syscall.ENOSPC)
	}
	return s.Store.Put(ctx, rec)
}

// writeFaults are the errors a state write meets on a full or failing
// disk.
var writeFaults = []error{syscall.ENOSPC, syscall.EIO}

func custodyStore(t *testing.T, f *fixture, after int) *custodyFailingPuts {
	t.Helper()
	bs, ok := f.store(t).(*bolt.Store)
	if !ok {
		t.Fatal("the fixture's store is not a BoltStore")
	}
	return &custodyFailingPuts{Store: bs, fail: true, after: after}
}

// A state that cannot be written is found before the refresh is sent: the
// provider sees nothing and the old refresh token stays live.
func TestEnsureRefusesToSendWhenStateUnwritable(t *testing.T) {
	for _, fault := range writeFaults {
		t.Run(fault.Error(), func(t *testing.T) {
			f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
			st := custodyStore(t, f, 0)
			st.err = fault
			r := &Refresher{Store: st, Now: func() time.Time { return f.now }}
			_, err := r.Ensure(context.Background(), "c", f.client, time.Minute)
			if err == nil || !strings.Contains(err.Error(), "not sent") || !errors.Is(err, fault) {
				t.Fatalf("err = %v, want a refusal before sending that wraps %v", err, fault)
			}
			if n := f.emu.Stats().Refreshes; n != 0 {
				t.Fatalf("the provider saw %d refreshes, want 0", n)
			}
			st.fail = false
			if res, err := r.Ensure(context.Background(), "c", f.client, time.Minute); err != nil || !res.Refreshed {
				t.Fatalf("Ensure once the disk works again: %v", err)
			}
		})
	}
}

// The answer arrives and the state write fails (a full disk): the custody
// file keeps it, the error says so, and the next Ensure applies it without
// calling the provider; the provider never sees a reused refresh token.
func TestEnsureCustodyKeepsAnswerWhenStateWriteFails(t *testing.T) {
	for _, fault := range writeFaults {
		t.Run(fault.Error(), func(t *testing.T) { testCustodyKeepsAnswer(t, fault) })
	}
}

func testCustodyKeepsAnswer(t *testing.T, fault error) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
	st := custodyStore(t, f, 1)
	st.err = fault
	r := &Refresher{Store: st, Now: func() time.Time { return f.now }}
	_, err := r.Ensure(context.Background(), "c", f.client, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "custody file") {
		t.Fatalf("err = %v, want the answer kept in the custody file", err)
	}
	if f.emu.Stats().Refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1", f.emu.Stats().Refreshes)
	}
	entries, lerr := (&Journal{Dir: CustodyDir(filepath.Dir(st.Path()))}).List()
	if lerr != nil || len(entries) != 1 || !entries[0].Answered() {
		t.Fatalf("custody journal = %+v, %v; want one answered entry", entries, lerr)
	}
	if fi, err := os.Stat(entries[0].Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("custody file mode: %v %v", fi, err)
	}
	st.fail = false
	res, err := r.Ensure(context.Background(), "c", f.client, time.Minute)
	if err != nil || !res.Recovered || res.Refreshed {
		t.Fatalf("Ensure after space was freed = %+v, %v; want the kept answer applied", res, err)
	}
	if f.emu.Stats().Refreshes != 1 || f.emu.Stats().Rejections != 0 {
		t.Fatalf("stats = %+v: the kept answer was not used", f.emu.Stats())
	}
	// The applied token is the live one: a refresh with it succeeds.
	f.now = f.now.Add(2 * time.Hour)
	if res, err := r.Ensure(context.Background(), "c", f.client, time.Minute); err != nil || !res.Refreshed {
		t.Fatalf("refresh with the recovered token: %v", err)
	}
	if f.emu.Stats().Rejections != 0 {
		t.Fatalf("the provider rejected a refresh token: %+v", f.emu.Stats())
	}
}

// A state that goes back in time (a restored backup) is noticed: its
// refresh token was rotated out, so Ensure refuses to present it and
// names the custody file to restore; restoring it makes the connection
// work again.
func TestEnsureRefusesStateBehindCustody(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
	st := custodyStore(t, f, 1<<30)
	before, err := st.Get(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	r := &Refresher{Store: st, Now: func() time.Time { return f.now }}
	if _, err := r.Ensure(context.Background(), "c", f.client, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Put the old record back, as a restored backup would.
	release, err := st.LockConn(context.Background(), "c", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Store.Put(context.Background(), before); err != nil {
		t.Fatal(err)
	}
	_ = release()
	f.now = f.now.Add(2 * time.Hour)
	_, err = r.Ensure(context.Background(), "c", f.client, time.Minute)
	if !errors.Is(err, ErrStateBehind) || !strings.Contains(err.Error(), "oauthform state restore") {
		t.Fatalf("err = %v, want ErrStateBehind with restore advice", err)
	}
	if f.emu.Stats().Refreshes != 1 || f.emu.Stats().Rejections != 0 {
		t.Fatalf("stats = %+v: the spent token was presented", f.emu.Stats())
	}
	entries, _ := (&Journal{Dir: CustodyDir(filepath.Dir(st.Path()))}).List()
	if len(entries) != 1 {
		t.Fatalf("custody entries = %d", len(entries))
	}
	if _, err := Restore(context.Background(), st, entries[0].Path, false); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if res, err := r.Ensure(context.Background(), "c", f.client, time.Minute); err != nil || !res.Refreshed {
		t.Fatalf("refresh after restoring: %v", err)
	}
	if f.emu.Stats().Rejections != 0 {
		t.Fatalf("stats = %+v", f.emu.Stats())
	}
}

// A refresh whose process died between sending and the answer leaves its
// intent in the record. The next refresh tries the old token once; when
// the provider had rotated it, the connection needs a person and the
// reason says the refresh was interrupted.
func TestEnsureExplainsInterruptedRefresh(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
	st := custodyStore(t, f, 1<<30)
	rec, err := st.Get(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	// The killed process: intent written, request answered by the
	// provider, answer never read.
	release, _ := st.LockConn(context.Background(), "c", time.Second)
	rec.InFlight = &state.Flight{Since: f.now, PID: 4242, Host: "laptop", Generation: 1}
	if err := st.Store.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	_ = release()
	if _, err := f.client.Refresh(context.Background(), rec.Refresh); err != nil {
		t.Fatal(err)
	}
	r := &Refresher{Store: st, Now: func() time.Time { return f.now }}
	_, err = r.Ensure(context.Background(), "c", f.client, time.Minute)
	if !errors.Is(err, ErrNeedsPerson) || !errors.Is(err, ErrInterruptedRefresh) ||
		!strings.Contains(err.Error(), "process 4242") {
		t.Fatalf("err = %v, want needs-person explaining the interrupted refresh by process 4242", err)
	}
	after, _ := st.Get(context.Background(), "c")
	if after.Status != state.StatusNeedsReconnect || after.LastError == nil || after.LastError.Kind != "refresh_interrupted" {
		t.Fatalf("record = %+v / %+v", after.Status, after.LastError)
	}
	// The next call says so too, without calling the provider.
	n := f.emu.Stats().Refreshes
	if _, err := r.Ensure(context.Background(), "c", f.client, time.Minute); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("second Ensure: %v", err)
	}
	if f.emu.Stats().Refreshes != n {
		t.Fatal("a needs-reconnect connection called the provider")
	}
}

// A refresh interrupted before its request reached the provider loses
// nothing: the old token works on the next try.
func TestEnsureInterruptedBeforeReachingProvider(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
	st := custodyStore(t, f, 1<<30)
	rec, _ := st.Get(context.Background(), "c")
	release, _ := st.LockConn(context.Background(), "c", time.Second)
	rec.InFlight = &state.Flight{Since: f.now, PID: 4242, Host: "laptop", Generation: 1}
	if err := st.Store.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	_ = release()
	r := &Refresher{Store: st, Now: func() time.Time { return f.now }}
	res, err := r.Ensure(context.Background(), "c", f.client, time.Minute)
	if err != nil || !res.Refreshed || res.Record.InFlight != nil {
		t.Fatalf("Ensure = %+v, %v", res, err)
	}
}

// A cancelled context (the first Ctrl-C) does not abandon a request on the
// wire: its answer is read and stored. Abandon (the second) does, and the
// record keeps the intent.
func TestEnsureWaitsForAnswerOnCancel(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
	st := custodyStore(t, f, 1<<30)
	f.emu.SetFaults(emulator.Faults{Latency: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	flights := &Flights{}
	r := &Refresher{Store: st, Now: func() time.Time { return f.now }, Flights: flights}
	go func() {
		for len(flights.Names()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	res, err := r.Ensure(ctx, "c", f.client, time.Minute)
	if err != nil || !res.Refreshed {
		t.Fatalf("Ensure cancelled mid-flight = %v; want the answer stored", err)
	}
	stored, _ := st.Get(context.Background(), "c")
	if !stored.Refresh.Equal(res.Record.Refresh) || stored.InFlight != nil {
		t.Fatal("the answer was not stored")
	}

	f.now = f.now.Add(2 * time.Hour)
	abandon := make(chan struct{})
	r = &Refresher{Store: st, Now: func() time.Time { return f.now }, Flights: flights, Abandon: abandon}
	sent := f.emu.Stats().Requests
	go func() {
		// Abandon once the request reached the provider (it is then on
		// the wire, not merely about to be sent).
		for f.emu.Stats().Requests == sent {
			time.Sleep(time.Millisecond)
		}
		close(abandon)
	}()
	_, err = r.Ensure(context.Background(), "c", f.client, time.Minute)
	if !errors.Is(err, ErrInterruptedRefresh) || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("abandoned Ensure: %v", err)
	}
	if after, _ := st.Get(context.Background(), "c"); after.InFlight == nil {
		t.Fatal("an abandoned refresh left no intent in the record")
	}
}

// The custody folder ignores itself in git wherever the state lives (a
// state_path outside .oauthform too): it holds tokens.
func TestCustodyFolderIgnoresItself(t *testing.T) {
	dir := t.TempDir()
	j := &Journal{Dir: CustodyDir(dir)}
	cf, err := j.prepare(CustodyEntry{Conn: "c", Generation: 1}, 100)
	if err != nil {
		t.Fatal(err)
	}
	cf.close()
	b, err := os.ReadFile(filepath.Join(j.Dir, ".gitignore"))
	if err != nil || !strings.Contains(string(b), "*") {
		t.Fatalf(".gitignore of the custody folder = %q, %v", b, err)
	}
	entries, err := j.List()
	if err != nil || len(entries) != 1 || entries[0].Conn != "c" {
		t.Fatalf("List = %+v, %v", entries, err)
	}
}

// The custody folder is made once per process; one removed while the
// process runs (a cleanup, a user's rm) is made again, ignoring itself,
// by the next refresh instead of failing it.
func TestCustodyFolderRemovedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	j := &Journal{Dir: CustodyDir(dir)}
	for gen := uint64(1); gen <= 2; gen++ {
		cf, err := j.prepare(CustodyEntry{Conn: "c", Generation: gen}, 100)
		if err != nil {
			t.Fatalf("refresh %d: %v", gen, err)
		}
		cf.close()
		if _, err := os.Stat(filepath.Join(j.Dir, ".gitignore")); err != nil {
			t.Fatalf("refresh %d: the custody folder does not ignore itself: %v", gen, err)
		}
		if err := os.RemoveAll(j.Dir); err != nil {
			t.Fatal(err)
		}
	}
}

// A custody file keeps its room from one refresh to the next, and each
// entry is written over it in place: a later, smaller entry leaves no
// byte of a larger one behind, and the file always reads back as the
// entry written last.
func TestCustodyFileKeepsItsRoom(t *testing.T) {
	j := &Journal{Dir: CustodyDir(t.TempDir())}
	entry := func(gen uint64) CustodyEntry {
		return CustodyEntry{Conn: "c", Lineage: "l", Generation: gen, Flight: state.Flight{PID: 1, Generation: gen}}
	}
	check := func(what string, gen uint64, record []byte, gone ...string) {
		t.Helper()
		e, err := j.Read("c")
		if err != nil || e == nil || e.Generation != gen || string(e.Record) != string(record) {
			t.Fatalf("%s: Read = %+v, %v; want generation %d holding %q", what, e, err, gen, record)
		}
		b, err := os.ReadFile(e.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gone {
			if strings.Contains(string(b), g) {
				t.Errorf("%s: the file still holds %q of an earlier entry", what, g)
			}
		}
	}
	big := []byte(strings.Repeat("OLD-ANSWER-", 2000)) // larger than the least room
	cf, err := j.prepare(entry(1), 2*len(big))
	if err != nil {
		t.Fatal(err)
	}
	check("prepared", 1, nil)
	if err := cf.answer(big, time.Now()); err != nil {
		t.Fatal(err)
	}
	cf.close()
	check("answered", 1, big)
	fi, err := os.Stat(j.path("c"))
	if err != nil {
		t.Fatal(err)
	}
	room := fi.Size()
	if room < int64(len(big)) {
		t.Fatalf("the file holds %d bytes for an answer of %d", room, len(big))
	}

	// The next refresh estimates a small answer: the room stays, and the
	// sent entry replaces the old answer whole.
	cf, err = j.prepare(entry(2), 10)
	if err != nil {
		t.Fatal(err)
	}
	old := base64.StdEncoding.EncodeToString(big)
	old = old[len(old)-60:] // the end of the old answer, as the file holds it
	check("prepared again", 2, nil, old)
	if err := cf.answer([]byte("new"), time.Now()); err != nil {
		t.Fatal(err)
	}
	cf.close()
	check("answered again", 2, []byte("new"), old)
	if fi, err := os.Stat(j.path("c")); err != nil || fi.Size() != room {
		t.Errorf("the file's room went from %d to %v (%v): it should keep it", room, fi.Size(), err)
	}
}

// List reads every custody file (several at once), returns the entries by
// connection name, and an unreadable file as an error, never skipped.
func TestCustodyList(t *testing.T) {
	j := &Journal{Dir: CustodyDir(t.TempDir())}
	const n = 40
	for i := range n {
		conn := fmt.Sprintf("c%02d", (i*7)%n)
		cf, err := j.prepare(CustodyEntry{Conn: conn, Lineage: "l", Generation: uint64(i + 1)}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := cf.answer([]byte("answer-"+conn), time.Now()); err != nil {
			t.Fatal(err)
		}
		cf.close()
	}
	bad := filepath.Join(j.Dir, "broken-00000000"+custodySuffix)
	if err := os.WriteFile(bad, []byte(`{"format":`), 0o600); err != nil {
		t.Fatal(err)
	}
	entries, err := j.List()
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("List with an unreadable file: err = %v, want one naming %s", err, bad)
	}
	if len(entries) != n {
		t.Fatalf("List = %d entries, want %d", len(entries), n)
	}
	for i, e := range entries {
		// List leaves the records out; Read gives them.
		if want := fmt.Sprintf("c%02d", i); e.Conn != want || e.Record != nil || !e.HasRecord || !e.Answered() || e.Path != j.path(want) {
			t.Errorf("entry %d = %s (record %q, has record %v, %s), want %s, answered, without its record", i, e.Conn, e.Record, e.HasRecord, e.Path, want)
		}
		full, err := j.Read(e.Conn)
		if err != nil || string(full.Record) != "answer-"+e.Conn || full.Generation != e.Generation || !full.AnsweredAt.Equal(e.AnsweredAt) {
			t.Errorf("Read(%s) = %+v, %v; want its answer and List's header", e.Conn, full, err)
		}
	}
	// A file prepared but never answered has no record.
	cf, err := j.prepare(CustodyEntry{Conn: "sent", Lineage: "l", Generation: 1}, 10)
	if err != nil {
		t.Fatal(err)
	}
	cf.close()
	entries, _ = j.List()
	for _, e := range entries {
		if e.Conn == "sent" && (e.HasRecord || e.Answered()) {
			t.Errorf("a sent entry: has record %v, answered %v", e.HasRecord, e.Answered())
		}
	}
}

// trimPadding cuts an entry's padding whether it is the usual newline and
// spaces, or anything else of spaces and newlines, and keeps what is not
// padding for the decoder to refuse.
func TestTrimPadding(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}` + "\n    ":            `{"a":1}`,
		`{"a":1}` + "\n":                `{"a":1}`,
		`{"a":1}`:                       `{"a":1}`,
		`{"a":1}` + "  \n \n  ":         `{"a":1}`,
		`{"a":1}` + "\n  x  ":           `{"a":1}` + "\n  x",
		`{"a":1}` + "\n" + `{"b"` + " ": `{"a":1}` + "\n" + `{"b"`,
		"":                              "",
	} {
		if got := string(trimPadding([]byte(in))); got != want {
			t.Errorf("trimPadding(%q) = %q, want %q", in, got, want)
		}
	}
}

// readCustodyHead reads a header equal to the full decode's, from the
// start of the file when the record comes last as encoding/json writes
// it, and from the whole file otherwise: a record longer than what it
// reads, a header longer than that, fields in another order, no record.
func TestReadCustodyHead(t *testing.T) {
	dir := t.TempDir()
	answered := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	base := CustodyEntry{Format: custodyFormat, Conn: "c", Lineage: "l", Grant: answered.Add(-time.Hour), Generation: 7,
		Phase: phaseAnswered, Flight: state.Flight{Since: answered.Add(-time.Second), PID: 42, Host: "h", Generation: 7}, AnsweredAt: answered}
	encode := func(e CustodyEntry) []byte {
		b, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}
	withRecord := func(n int) []byte {
		e := base
		e.Record = []byte(strings.Repeat("r", n))
		return encode(e)
	}
	longHost := base
	longHost.Flight.Host = strings.Repeat("h", 2*custodyHeadSize)
	longHost.Record = []byte("rec")
	sent := base
	sent.Phase, sent.AnsweredAt = phaseSent, time.Time{}
	recordFirst := []byte(`{"record":"cmVj","format":"` + custodyFormat + `","connection":"c","lineage":"l","generation":7,"phase":"answered"}`)
	recordBetween := []byte(`{"format":"` + custodyFormat + `","connection":"c","record":"cmVj","lineage":"l","generation":7,"phase":"answered"}`)
	for name, content := range map[string][]byte{
		"small record":           withRecord(100),
		"record past the prefix": withRecord(3 * custodyHeadSize),
		"record ends at the cut": withRecord(custodyHeadSize - 300),
		"long header":            encode(longHost),
		"no record":              encode(sent),
		"record first":           recordFirst,
		"record not last":        recordBetween,
		"padded":                 append(withRecord(50), []byte(strings.Repeat(" ", 3*custodyHeadSize))...),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+custodySuffix)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		want, err := decodeCustody(path, trimPadding(content), true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var buf [custodyHeadSize]byte
		got, err := readCustodyHead(path, buf[:])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.Record != nil || got.Conn != want.Conn || got.Generation != want.Generation || got.Phase != want.Phase ||
			!got.AnsweredAt.Equal(want.AnsweredAt) || got.Flight.Host != want.Flight.Host || got.HasRecord != want.HasRecord || got.Lineage != want.Lineage {
			t.Errorf("%s: head = %+v, want %+v", name, got, want)
		}
	}
	// Not a custody file; no file.
	bad := filepath.Join(dir, "bad"+custodySuffix)
	if err := os.WriteFile(bad, []byte(`{"format":"x","record":"abc"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf [custodyHeadSize]byte
	if _, err := readCustodyHead(bad, buf[:]); err == nil || strings.Contains(err.Error(), "abc") {
		t.Errorf("a foreign file: err = %v, want an error that quotes nothing of it", err)
	}
	if _, err := readCustodyHead(filepath.Join(dir, "missing"), buf[:]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: err = %v, want ErrNotExist", err)
	}
}
