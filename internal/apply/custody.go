package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauthform/oauthform/internal/state"
)

// The custody journal keeps each rotating connection's refresh outside the
// state, in one small file per connection (0600, in a 0700 folder next to
// the state), so that an answer is never lost between the provider and the
// state:
//
//   - Before a refresh is sent, the file is written with the flight (phase
//     "sent": when, which process, the generation the answer will have)
//     and padded to a size that holds an answer. This is done
//     after the record's own intent was committed to the state, so both
//     write paths are proven and the space for the answer is taken before
//     the provider can rotate anything.
//   - When the answer arrives, it is first written over that file in place
//     (phase "answered", the new record encoded as the store writes it:
//     sealed when the state is encrypted), then written to the state. A
//     full disk cannot fail the first write: its blocks are already
//     allocated.
//   - The file stays after the state write: its generation then equals the
//     record's. A record behind its custody file means either that the
//     state write failed (the record still carries the intent: the answer
//     is applied by the next command) or that the state went back in time
//     (a restored backup, a rolled-back file: the refresh is refused and
//     `oauthform state restore FILE` replays the newer tokens).
//
// Writing it by hand (not bbolt, not the emergency file) is the point: it
// is a second, independent write path whose space is reserved in advance.

// custodyFormat tags a custody file.
const custodyFormat = "oauthform-custody/v1"

// custodyMinSize is the least a custody file reserves for an answer.
const custodyMinSize = 8 << 10

// Custody phases.
const (
	phaseSent     = "sent"
	phaseAnswered = "answered"
)

// CustodyEntry is one connection's custody file.
type CustodyEntry struct {
	Format string `json:"format"`
	Conn   string `json:"connection"`
	// Lineage is the state's, recorded with the answer; an answer of
	// another state is ignored.
	Lineage string `json:"lineage"`
	// Grant is the Created time of the record the refresh belongs to: a
	// new grant of the connection starts over.
	Grant      time.Time    `json:"grant"`
	Generation uint64       `json:"generation"`
	Phase      string       `json:"phase"`
	Flight     state.Flight `json:"flight"`
	AnsweredAt time.Time    `json:"answered_at,omitzero"`
	// Record is the answer's record as the store encodes it (base64 in
	// JSON); only in phase "answered". List leaves it out.
	Record []byte `json:"record,omitempty"`
	// HasRecord says whether the file holds a record (List's entries
	// too).
	HasRecord bool `json:"-"`

	// Path is the file it was read from.
	Path string `json:"-"`
}

// Answered reports whether the entry holds an answer.
func (e *CustodyEntry) Answered() bool {
	return e.Phase == phaseAnswered && (len(e.Record) > 0 || e.HasRecord)
}

// Journal is a state's custody folder.
type Journal struct {
	Dir string
}

// CustodyDir is the custody folder of a state whose files live in dir.
func CustodyDir(dir string) string { return filepath.Join(dir, "custody") }

// custodySuffix ends every custody file's name.
const custodySuffix = ".custody"

// path is conn's custody file: a readable part and a hash, so that two
// names that differ only in characters a file name cannot hold never
// share a file.
func (j *Journal) path(conn string) string {
	h := sha256.Sum256([]byte(conn))
	return filepath.Join(j.Dir, safeName(conn)+"-"+hex.EncodeToString(h[:4])+custodySuffix)
}

// Read returns conn's custody entry, nil when there is none.
func (j *Journal) Read(conn string) (*CustodyEntry, error) {
	return j.read(conn, false)
}

// readHead is Read without decoding the record (as List gives it): every
// refresh looks at its connection's file, and only one the state is
// behind needs its record.
func (j *Journal) readHead(conn string) (*CustodyEntry, error) {
	return j.read(conn, true)
}

func (j *Journal) read(conn string, headOnly bool) (*CustodyEntry, error) {
	var e *CustodyEntry
	var err error
	if headOnly {
		var buf [custodyHeadSize]byte
		e, err = readCustodyHead(j.path(conn), buf[:])
	} else {
		e, err = readCustody(j.path(conn))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil && e.Conn != conn {
		return nil, fmt.Errorf("custody file %s names connection %q, not %q: move it away", e.Path, e.Conn, conn)
	}
	return e, err
}

// ReadCustodyFile reads a custody file.
func ReadCustodyFile(path string) (*CustodyEntry, error) { return readCustody(path) }

func readCustody(path string) (*CustodyEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the custody file: %w", err)
	}
	return decodeCustody(path, trimPadding(b), false)
}

// custodyHeadSize is how much of a custody file readCustodyHead reads:
// the header, and the start of the record, fit in it.
const custodyHeadSize = 4096

// readCustodyHead reads a custody file's entry without its record (Record
// stays nil, HasRecord says whether there is one), from the start of the
// file only, into buf (at least custodyHeadSize bytes). Every writing
// command reads the header of every custody file, and every refresh its
// own: the record, encoded, is most of an entry, and the padding after it
// most of the file.
//
// The entry is JSON written by encoding/json in CustodyEntry's field
// order, the record last: the header is what comes before `,"record":"`
// (which cannot occur inside a JSON string, where a quote is escaped),
// closed with `}`, provided the record's string (base64: no quote in it)
// is followed by the entry's end. Anything else is decoded in full.
func readCustodyHead(path string, buf []byte) (*CustodyEntry, error) {
	n, err := readPrefix(path, buf)
	if err != nil {
		return nil, fmt.Errorf("reading the custody file: %w", err)
	}
	b := buf[:n]
	const key = `,"record":"`
	if i := bytes.Index(b, []byte(key)); i > 0 {
		rest := b[i+len(key):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 && j+1 < len(rest) && rest[j+1] == '}' {
			head := append(b[:i:i], '}')
			e, ok := parseCustodyHead(head)
			var err error
			if !ok || e.Format != custodyFormat || e.Conn == "" {
				e, err = decodeCustody(path, head, false)
			}
			if err == nil {
				e.HasRecord = j > 0
				e.Path = path
			}
			return e, err
		}
	}
	if n < len(buf) {
		// The whole file: an entry without a record, or one written
		// otherwise.
		return decodeCustody(path, trimPadding(b), true)
	}
	b, err = os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the custody file: %w", err)
	}
	return decodeCustody(path, trimPadding(b), true)
}

// decodeCustody decodes an entry (b: the file's content without its
// padding). With headOnly the record is not decoded (Record stays nil,
// HasRecord says whether there is one).
func decodeCustody(path string, b []byte, headOnly bool) (*CustodyEntry, error) {
	var e CustodyEntry
	var err error
	if headOnly {
		var h struct {
			CustodyEntry
			Record json.RawMessage `json:"record,omitempty"`
		}
		err = json.Unmarshal(b, &h)
		e = h.CustodyEntry
		e.HasRecord = len(h.Record) > 2 // more than "" or null
	} else {
		err = json.Unmarshal(b, &e)
		e.HasRecord = len(e.Record) > 0
	}
	if err != nil || e.Format != custodyFormat || e.Conn == "" {
		// Never quote the content: it may hold tokens.
		return nil, fmt.Errorf("%s is not a readable oauthform custody file; if a refresh was being written when it broke, the connection may need `oauthform apply`", path)
	}
	e.Path = path
	return &e, nil
}

// trimPadding cuts the padding (spaces, newlines) after an entry. An
// entry is one line (JSON escapes newlines in strings) followed by spaces:
// that is checked with the vectorised IndexByte and Count first, the byte
// loop being for anything else.
func trimPadding(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 && bytes.Count(b[i+1:], []byte{' '}) == len(b)-i-1 {
		return b[:i]
	}
	n := len(b)
	for n > 0 && (b[n-1] == ' ' || b[n-1] == '\n') {
		n--
	}
	return b[:n]
}

// listReaders bounds the custody files List reads at once.
const listReaders = 8

// List returns every custody entry in the folder, by connection name,
// without its record (Record is nil, HasRecord set; Read gives an entry
// with its record). An unreadable file is returned as an error, never
// skipped. Every writing
// command lists the folder before it plans (one file per rotating
// connection), so the files are read by a few goroutines at once.
func (j *Journal) List() ([]*CustodyEntry, error) {
	names, err := filepath.Glob(filepath.Join(j.Dir, "*"+custodySuffix))
	if err != nil {
		return nil, fmt.Errorf("listing the custody folder: %w", err)
	}
	entries := make([]*CustodyEntry, len(names))
	errs := make([]error, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(names), listReaders) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [custodyHeadSize]byte
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) {
					return
				}
				entries[i], errs[i] = readCustodyHead(names[i], buf[:])
			}
		}()
	}
	wg.Wait()
	out := make([]*CustodyEntry, 0, len(entries))
	for _, e := range entries {
		if e != nil {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Conn < out[b].Conn })
	return out, errors.Join(errs...)
}

// Remove deletes conn's custody file (a forgotten connection keeps no
// token anywhere): its content is overwritten with zeros first.
func (j *Journal) Remove(conn string) error {
	p := j.path(conn)
	if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
		if st, err := f.Stat(); err == nil {
			_, _ = f.WriteAt(make([]byte, st.Size()), 0)
			_ = f.Sync()
		}
		_ = f.Close()
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the custody file of %s: %w", conn, err)
	}
	return nil
}

// madeDirs are the custody folders this process made sure of (with their
// .gitignore): each refresh would otherwise look again.
var madeDirs sync.Map

// spaces pads custody files (without allocating the padding each time).
var spaces = []byte(strings.Repeat(" ", 16<<10))

// custodyFile is a custody file held open between the send and the answer.
type custodyFile struct {
	f     *os.File
	entry CustodyEntry
	size  int64 // reserved
	used  int64 // by the last entry written
}

// prepare writes e (phase "sent") to conn's custody file, reserving room
// for an answer of about answerSize bytes, and syncs it. The file stays
// open for answer.
func (j *Journal) prepare(e CustodyEntry, answerSize int) (*custodyFile, error) {
	// A custody folder ignores itself in git (it holds tokens), wherever
	// state_path put the state.
	if _, made := madeDirs.Load(j.Dir); !made {
		if err := state.MakeDir(j.Dir); err != nil {
			return nil, fmt.Errorf("creating the custody folder: %w", err)
		}
		madeDirs.Store(j.Dir, true)
	}
	p := j.path(e.Conn)
	fi, statErr := os.Stat(p)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// The folder went away since this process made it.
		if err = state.MakeDir(j.Dir); err == nil {
			f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening the custody file: %w", err)
	}
	// Room for the encoded answer in base64, the header and slack; the
	// file keeps the room of its last refresh (see refresh), and is
	// overwritten whole, so no byte of an older entry is left after this
	// one.
	size := int64(max(custodyMinSize, 2*answerSize+2048))
	size = (size + 4095) &^ 4095
	if statErr == nil {
		size = max(size, fi.Size())
	}
	e.Format, e.Phase, e.Record, e.AnsweredAt = custodyFormat, phaseSent, nil, time.Time{}
	cf := &custodyFile{f: f, entry: e, size: size}
	// Not synced: what this write must settle is the room (file systems
	// allocate, or reserve, blocks when they are written, and a full disk
	// fails here, before anything is sent); the intent's durability is
	// the record's.
	if err := cf.write(false); err != nil {
		_ = f.Close()
		return nil, err
	}
	if statErr != nil {
		syncDir(j.Dir)
	}
	return cf, nil
}

// answer writes the answer's encoded record over the file, in place, and
// syncs it: only the bytes the entry needs (and those of the entry before
// it), since the rest of the reserved room already holds padding.
func (cf *custodyFile) answer(record []byte, at time.Time) error {
	cf.entry.Phase, cf.entry.Record, cf.entry.AnsweredAt = phaseAnswered, record, at.UTC()
	return cf.write(true)
}

// write writes the entry at the start of the file, padded with spaces
// (JSON whitespace), and syncs its data when sync is set. The first write
// (prepare) pads to the reserved size, which settles the room; a later
// one pads only over what the previous entry used. An entry larger than
// the reservation is written whole: the file grows.
//
// The sync is a data sync where the system has one (fdatasync): the
// entry is written in place over blocks prepare allocated, so what must
// reach the disk is the data (and the size, when the file grew, which
// fdatasync also writes), not the modification time, whose journal commit
// would make each refresh of an apply wait for the others'.
func (cf *custodyFile) write(sync bool) error {
	b, err := json.Marshal(&cf.entry)
	if err != nil {
		return fmt.Errorf("encoding the custody file: %w", err)
	}
	b = append(b, '\n')
	end := cf.size
	if cf.used > 0 {
		end = cf.used
	}
	cf.used = int64(len(b))
	if pad := end - int64(len(b)); pad > 0 {
		b = slices.Grow(b, int(pad))
		for pad > 0 {
			n := min(pad, int64(len(spaces)))
			b = append(b, spaces[:n]...)
			pad -= n
		}
	}
	if _, err := cf.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("writing the custody file %s: %w", cf.f.Name(), err)
	}
	if !sync {
		return nil
	}
	if err := datasync(cf.f); err != nil {
		return fmt.Errorf("syncing the custody file %s: %w", cf.f.Name(), err)
	}
	return nil
}

func (cf *custodyFile) close() { _ = cf.f.Close() }

// syncDir makes a new file's name durable (best effort: not on Windows).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
