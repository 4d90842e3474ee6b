package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// On-disk layout of the bbolt file.
//
//	meta         format_version  decimal FormatVersion
//	             lineage         random 128-bit id (UUID form), fixed at creation
//	             serial          decimal uint64, +1 per write
//	             created         RFC 3339 time of creation
//	             written_by      oauthform version of the last writer
//	connections  <conn name>     EncodeRecord JSON
const (
	bucketMeta  = "meta"
	bucketConns = "connections"

	keyFormat    = "format_version"
	keyLineage   = "lineage"
	keySerial    = "serial"
	keyCreated   = "created"
	keyWrittenBy = "written_by"
)

// dbTimeout bounds the wait for bbolt's own file lock. Another process
// holds it only for the milliseconds of one transaction, never across an
// operation (that is what the separate lock file is for).
var dbTimeout = 5 * time.Second

// errMissing is internal: the state file does not exist.
var errMissing = errors.New("state does not exist")

// errClosed is returned by a BoltStore used after Close.
var errClosed = errors.New("state store is closed")

// BoltStore is the bbolt implementation of Store.
//
// It never keeps the bbolt file open between calls: every read opens it
// read-only (a shared flock, so readers do not block each other) and every
// write opens it read-write for one transaction. The operation lock taken by
// Lock is a flock on a separate file, <path>.lock, held for as long as the
// operation lasts and released by the OS if the process dies, so a crashed
// apply never leaves a stale lock.
//
// A BoltStore is safe for concurrent use; its writes are serialized.
type BoltStore struct {
	path string

	mu       sync.Mutex
	opts     Options
	lockFile *os.File  // holds the flock on path+".lock"; nil when unlocked
	lockInfo *LockInfo // what this store wrote into the lock file
	// connLocks are the connection locks this store holds, by connection.
	connLocks map[string]*os.File
	backedUp  bool        // a backup was taken since Lock
	closed    atomic.Bool // read without mu: a Lock waiting for its timeout holds mu
}

var _ Store = (*BoltStore)(nil)

// Open returns the bbolt store at path. With opts.Create it creates the
// folder (0700) and the state file (0600, with a new lineage and serial 0)
// when they are missing; an existing file is never rewritten by Open. A
// missing state without opts.Create reads as empty and refuses writes with
// ErrNoState.
func Open(path string, opts Options) (Store, error) {
	return OpenBolt(path, opts)
}

// OpenBolt is Open returning the concrete type, for callers that need
// BoltStore's extra methods.
func OpenBolt(path string, opts Options) (*BoltStore, error) {
	if path == "" {
		return nil, errors.New("opening state: empty path")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := &BoltStore{path: path, opts: opts}
	if opts.Create {
		if _, err := s.ensure(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Path returns the state file's path.
func (s *BoltStore) Path() string { return s.path }

// LockPath returns the path of the lock file, <path>.lock.
func (s *BoltStore) LockPath() string { return s.path + ".lock" }

// BackupPath returns the path of the backup, <path>.backup.
func (s *BoltStore) BackupPath() string { return s.path + ".backup" }

// SetLockTimeout changes Options.LockTimeout for later calls to Lock.
func (s *BoltStore) SetLockTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.LockTimeout = d
}

// Snapshot implements Store.
func (s *BoltStore) Snapshot(ctx context.Context) (*Snapshot, error) {
	if err := s.readable(ctx, "reading state"); err != nil {
		return nil, err
	}
	return s.snapshotOf(s.path, "reading state", s.BackupPath())
}

// ReadBackup reads the backup written by Backup (or before the first write
// after Lock) as a Snapshot. A missing backup wraps fs.ErrNotExist.
func (s *BoltStore) ReadBackup(ctx context.Context) (*Snapshot, error) {
	const what = "reading state backup"
	if err := s.readable(ctx, what); err != nil {
		return nil, err
	}
	p := s.BackupPath()
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, p, err)
	}
	return s.snapshotOf(p, what, "")
}

func (s *BoltStore) readable(ctx context.Context, what string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s %s: %w", what, s.path, errClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", what, s.path, err)
	}
	return nil
}

// snapshotOf reads the bbolt state at path; restore names the backup to
// suggest when the file is corrupt ("" for none).
func (s *BoltStore) snapshotOf(path, what, restore string) (*Snapshot, error) {
	type kv struct {
		k string
		v []byte
	}
	snap := &Snapshot{Records: map[string]*Record{}}
	var raw []kv
	err := view(path, func(tx *bolt.Tx, m *metaInfo) error {
		snap.Lineage, snap.Serial = m.lineage, m.serial
		c := tx.Bucket([]byte(bucketConns))
		return c.ForEach(func(k, v []byte) error {
			if v == nil {
				return fmt.Errorf("%w: unexpected nested bucket %q in %q", ErrCorrupt, k, bucketConns)
			}
			// Copy out: k and v point into the mmap and die with the txn.
			raw = append(raw, kv{string(k), bytes.Clone(v)})
			return nil
		})
	})
	if errors.Is(err, errMissing) {
		return &Snapshot{Records: map[string]*Record{}}, nil
	}
	if err != nil {
		return nil, explainWith(what, path, restore, err)
	}
	for _, e := range raw {
		r, err := DecodeRecord(e.k, e.v)
		if err != nil {
			return nil, explainWith(what, path, restore, err)
		}
		snap.Records[e.k] = r
	}
	return snap, nil
}

// Get implements Store.
func (s *BoltStore) Get(ctx context.Context, conn string) (*Record, error) {
	what := fmt.Sprintf("reading %q from state", conn)
	if err := s.readable(ctx, what); err != nil {
		return nil, err
	}
	var data []byte
	err := view(s.path, func(tx *bolt.Tx, _ *metaInfo) error {
		if v := tx.Bucket([]byte(bucketConns)).Get([]byte(conn)); v != nil {
			data = bytes.Clone(v)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errMissing) {
		return nil, explain(what, s.path, err)
	}
	if data == nil {
		return nil, fmt.Errorf("%s %s: %w", what, s.path, ErrNotFound)
	}
	r, err := DecodeRecord(conn, data)
	if err != nil {
		return nil, explain(what, s.path, err)
	}
	return r, nil
}

// Put implements Store.
func (s *BoltStore) Put(ctx context.Context, rec *Record) error {
	data, err := EncodeRecord(rec)
	if err != nil {
		return fmt.Errorf("writing state %s: %w", s.path, err)
	}
	return s.update(ctx, rec.Conn, fmt.Sprintf("writing %q to state", rec.Conn), func(c *bolt.Bucket) error {
		return c.Put([]byte(rec.Conn), data)
	})
}

// Delete implements Store.
func (s *BoltStore) Delete(ctx context.Context, conn string) error {
	return s.update(ctx, conn, fmt.Sprintf("removing %q from state", conn), func(c *bolt.Bucket) error {
		if c.Get([]byte(conn)) == nil {
			return ErrNotFound
		}
		return c.Delete([]byte(conn))
	})
}

// update runs fn in one read-write transaction and increments the serial.
// It needs the operation lock or the lock of conn. The file is validated read-only first (a read-write
// open of a file bbolt does not recognise would write to it), and the first
// write after Lock is preceded by a backup taken in that same read, unless
// the state was never written.
func (s *BoltStore) update(ctx context.Context, conn, what string, fn func(conns *bolt.Bucket) error) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed.Load():
		return fmt.Errorf("%s %s: %w", what, s.path, errClosed)
	case s.lockFile == nil && s.connLocks[conn] == nil:
		return fmt.Errorf("%s %s: %w (take it with Lock or LockConn first)", what, s.path, ErrNotLocked)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", what, s.path, err)
	}

	check := func(tx *bolt.Tx, m *metaInfo) error {
		// A state never written (serial 0) holds nothing to keep, and
		// copying it would replace an older backup that may be the only
		// copy of a state the user lost.
		if s.backedUp || m.serial == 0 {
			return nil
		}
		if err := backupFrom(tx, s.BackupPath()); err != nil {
			return fmt.Errorf("taking the backup before the first write: %w", err)
		}
		return nil
	}
	err = view(s.path, check)
	if errors.Is(err, errMissing) {
		if !s.opts.Create {
			return fmt.Errorf("%s %s: %w", what, s.path, ErrNoState)
		}
		if _, err := s.ensure(); err != nil {
			return err
		}
		err = view(s.path, check)
	}
	if err != nil {
		return explain(what, s.path, err)
	}
	s.backedUp = true

	defer func() {
		if r := recover(); r != nil {
			err = explain(what, s.path, fmt.Errorf("%w: bbolt failed on it: %v", ErrCorrupt, r))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: dbTimeout})
	if err != nil {
		return explain(what, s.path, openError(s.path, err))
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		m, err := readMeta(tx, -1) // again, under bbolt's exclusive lock
		if err != nil {
			return err
		}
		if err := fn(tx.Bucket([]byte(bucketConns))); err != nil {
			return err
		}
		mb := tx.Bucket([]byte(bucketMeta))
		if err := mb.Put([]byte(keySerial), []byte(strconv.FormatUint(m.serial+1, 10))); err != nil {
			return err
		}
		return mb.Put([]byte(keyWrittenBy), []byte(s.opts.Version))
	})
	if err != nil {
		return explain(what, s.path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("%s %s: closing: %w", what, s.path, err)
	}
	return nil
}

// Init implements Store. It creates the state when it is missing, whatever
// Options.Create says, and needs no lock: the new file is built aside and
// linked into place, so concurrent Inits agree on one lineage. An existing
// file is only read.
func (s *BoltStore) Init(ctx context.Context) (string, error) {
	const what = "initializing state"
	if err := s.readable(ctx, what); err != nil {
		return "", err
	}
	if _, err := s.ensure(); err != nil {
		return "", err
	}
	var lineage string
	err := view(s.path, func(_ *bolt.Tx, m *metaInfo) error {
		lineage = m.lineage
		return nil
	})
	if err != nil {
		return "", explain(what, s.path, err)
	}
	return lineage, nil
}

// Backup implements Store: it writes a consistent copy of the state to
// BackupPath (0600), atomically replacing the previous one. A corrupt state
// is never copied over a good backup. A missing state gives ErrNoState.
func (s *BoltStore) Backup(ctx context.Context) error {
	const what = "backing up state"
	if err := s.readable(ctx, what); err != nil {
		return err
	}
	err := view(s.path, func(tx *bolt.Tx, _ *metaInfo) error {
		return backupFrom(tx, s.BackupPath())
	})
	if errors.Is(err, errMissing) {
		return fmt.Errorf("%s %s: %w", what, s.path, ErrNoState)
	}
	if err != nil {
		return explain(what, s.path, err)
	}
	return nil
}

// Close implements Store: it releases the lock if this store holds it.
// Closing twice is harmless.
func (s *BoltStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed.Store(true)
	for conn, f := range s.connLocks {
		_ = f.Truncate(0)
		_ = f.Close() // closing drops the flock
		delete(s.connLocks, conn)
	}
	if s.lockFile == nil {
		return nil
	}
	if err := s.release(); err != nil {
		return fmt.Errorf("closing state %s: %w", s.path, err)
	}
	return nil
}

// ensure creates the folder and the state file when missing. The file is
// built under a temporary name and hard-linked into place, which fails if
// the name exists: a reader never sees a half-made state, two creators
// never overwrite each other, and an existing file is never touched.
func (s *BoltStore) ensure() (created bool, err error) {
	dir := filepath.Dir(s.path)
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("creating state %s: %w", s.path, err)
	}
	if _, err := os.Stat(s.path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(s.path)+".new-*") // 0600
	if err != nil {
		return fail(err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: dbTimeout})
	if err != nil {
		return fail(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return s.initMeta(tx) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := os.Link(name, s.path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil // someone else created it first
		}
		// A file system without hard links: rename, after checking again.
		if _, serr := os.Stat(s.path); serr == nil {
			return false, nil
		}
		if rerr := os.Rename(name, s.path); rerr != nil {
			return fail(rerr)
		}
	}
	syncDir(dir)
	return true, nil
}

func (s *BoltStore) initMeta(tx *bolt.Tx) error {
	mb, err := tx.CreateBucket([]byte(bucketMeta))
	if err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{keyFormat, strconv.Itoa(FormatVersion)},
		{keyLineage, newID()},
		{keySerial, "0"},
		{keyCreated, s.opts.Now().UTC().Format(time.RFC3339Nano)},
		{keyWrittenBy, s.opts.Version},
	} {
		if err := mb.Put([]byte(kv[0]), []byte(kv[1])); err != nil {
			return err
		}
	}
	_, err = tx.CreateBucket([]byte(bucketConns))
	return err
}

// metaInfo is the decoded meta bucket.
type metaInfo struct {
	format    int
	lineage   string
	serial    uint64
	writtenBy string
}

// readMeta validates the file's layout and decodes meta. fileSize, when not
// negative, is checked against the size the file's header claims.
func readMeta(tx *bolt.Tx, fileSize int64) (*metaInfo, error) {
	if fileSize >= 0 && tx.Size() > fileSize {
		return nil, fmt.Errorf("%w: the file is truncated (%d bytes, its header says %d)", ErrCorrupt, fileSize, tx.Size())
	}
	mb := tx.Bucket([]byte(bucketMeta))
	if mb == nil {
		return nil, fmt.Errorf("%w: it is a bbolt file without a %q bucket, so not an oauthform state", ErrCorrupt, bucketMeta)
	}
	m := &metaInfo{
		lineage:   string(mb.Get([]byte(keyLineage))),
		writtenBy: string(mb.Get([]byte(keyWrittenBy))),
	}
	fv, err := strconv.Atoi(string(mb.Get([]byte(keyFormat))))
	if err != nil || fv < 1 {
		return nil, fmt.Errorf("%w: missing or invalid %s", ErrCorrupt, keyFormat)
	}
	m.format = fv
	if fv > FormatVersion {
		by := m.writtenBy
		if by == "" {
			by = "unknown"
		}
		return nil, fmt.Errorf("%w: it has format %d (written by oauthform %s), this oauthform reads up to format %d", ErrNewerFormat, fv, by, FormatVersion)
	}
	if m.lineage == "" {
		return nil, fmt.Errorf("%w: missing %s", ErrCorrupt, keyLineage)
	}
	if m.serial, err = strconv.ParseUint(string(mb.Get([]byte(keySerial))), 10, 64); err != nil {
		return nil, fmt.Errorf("%w: missing or invalid %s", ErrCorrupt, keySerial)
	}
	if tx.Bucket([]byte(bucketConns)) == nil {
		return nil, fmt.Errorf("%w: missing %q bucket", ErrCorrupt, bucketConns)
	}
	return m, nil
}

// view opens path read-only, validates it and runs fn in one read
// transaction. It returns errMissing when the file does not exist. bbolt
// may panic, or fault on a truncated mmap, when reading a damaged file:
// both are turned into ErrCorrupt.
func view(path string, fn func(*bolt.Tx, *metaInfo) error) (err error) {
	var f *os.File
	opened := false
	defer func() {
		if r := recover(); r != nil {
			if f != nil && !opened {
				_ = f.Close() // bbolt panicked inside Open and kept the file
			}
			err = fmt.Errorf("%w: bbolt failed reading it: %v", ErrCorrupt, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	db, err := bolt.Open(path, 0o600, &bolt.Options{
		ReadOnly: true,
		Timeout:  dbTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			ff, err := os.OpenFile(name, flag, perm)
			f = ff
			return ff, err
		},
	})
	if err != nil {
		return openError(path, err)
	}
	opened = true
	defer db.Close()
	size := int64(-1)
	if f != nil {
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
	}
	return db.View(func(tx *bolt.Tx) error {
		m, err := readMeta(tx, size)
		if err != nil {
			return err
		}
		return fn(tx, m)
	})
}

// openError classifies an error from bolt.Open.
func openError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errMissing
	}
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("another process kept the file busy for more than %s: %w", dbTimeout, err)
	}
	if st, serr := os.Stat(path); serr == nil {
		switch {
		case st.IsDir():
			return fmt.Errorf("%w: it is a directory", ErrCorrupt)
		case st.Size() == 0:
			return fmt.Errorf("%w: the file is empty", ErrCorrupt)
		}
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) ||
		errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrInvalidMapping) {
		return fmt.Errorf("%w: not a bbolt database (%v)", ErrCorrupt, err)
	}
	// bbolt has no sentinel for a file shorter than its two meta pages.
	if strings.HasPrefix(err.Error(), "file size too small") {
		return fmt.Errorf("%w: the file is truncated (%v)", ErrCorrupt, err)
	}
	return err
}

// explain prefixes err with what was being done to which file, and adds
// advice for a file oauthform refuses to use.
func explain(what, path string, err error) error {
	return explainWith(what, path, path+".backup", err)
}

// explainWith is explain with the backup to suggest restoring ("" for none).
func explainWith(what, path, restore string, err error) error {
	switch {
	case errors.Is(err, ErrCorrupt):
		advice := "oauthform did not modify it"
		if restore != "" {
			advice += fmt.Sprintf("; restore %s if that holds a good copy, or move the file aside", restore)
		}
		return fmt.Errorf("%s %s: %w; %s", what, path, err, advice)
	case errors.Is(err, ErrNewerFormat):
		return fmt.Errorf("%s %s: %w; upgrade oauthform to use it (this version will not modify it)", what, path, err)
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}

// backupFrom writes the database as seen by tx to dst atomically: a
// temporary file beside it, fsync, rename.
func backupFrom(tx *bolt.Tx, dst string) (err error) {
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, filepath.Base(dst)+".tmp-*") // 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tx.WriteTo(tmp); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename or link in dir durable; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// newID returns a random 128-bit id in UUID (version 4) form.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
