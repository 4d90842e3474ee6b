package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// On-disk layout of the bbolt file.
//
//	meta         the state's meta entries (state.MetaFormat,
//	             state.MetaLineage, ...; see state.Meta), values as text
//	connections  <conn name>  the record's encoding (state.Sealer.Encode):
//	                          when encrypted, the secrets are sealed in it
const (
	bucketMeta  = "meta"
	bucketConns = "connections"
)

// dbTimeout bounds the wait for bbolt's own file lock. Another process
// holds it only for the milliseconds of one transaction, never across an
// operation (that is what the separate lock file is for).
var dbTimeout = 5 * time.Second

// Store is the bbolt implementation of state.Store.
//
// It never keeps the bbolt file open between calls: every read opens it
// read-only (a shared flock, so readers do not block each other) and every
// write opens it read-write for one transaction. The operation lock taken by
// Lock is a flock on a separate file, <path>.lock, held for as long as the
// operation lasts and released by the OS if the process dies, so a crashed
// apply never leaves a stale lock.
//
// A Store is safe for concurrent use; its writes are serialized.
type Store struct {
	path string
	// fl is fileLock(path), found once: finding it makes the path
	// absolute, which asks the system for the working directory.
	fl *sync.RWMutex

	// wmu serialises this store's writes; it is held across a write's I/O.
	// mu guards the fields below and is only held briefly, so that taking
	// or releasing a connection lock never waits for a commit's fsync.
	wmu      sync.Mutex
	mu       sync.Mutex
	opts     state.Options
	lockFile *os.File        // holds the flock on path+".lock"; nil when unlocked
	lockInfo *state.LockInfo // what this store wrote into the lock file
	// connLocks are the connection locks this store holds, by connection.
	connLocks map[string]*os.File
	backedUp  bool // a backup was taken since Lock
	// base: the passphrase, what was deleted and is not purged yet, and
	// whether the store is closed; read without mu (a Lock waiting for
	// its timeout holds mu).
	base state.Base

	// Group commit of Put: puts that arrive while one is being written are
	// queued and written together in the next transaction.
	putMu    sync.Mutex
	putQueue []*pendingPut
	flushing bool

	// gets groups the reads of Get (readRecord); reads counts their read
	// transactions, for tests.
	gets  state.Batcher[*pendingGet]
	reads atomic.Int64
	// views counts every read transaction (view), for tests.
	views atomic.Int64

	// lockEpoch counts the takings and releases of the operation lock;
	// custody is the meta this store last committed while it held that
	// lock (guarded by mu). See custodyMeta.
	lockEpoch uint64
	custody   *cachedMeta

	// The watermark (state.WriteWatermark) this store last committed and
	// has not written yet, and when it last wrote one; see noteMark.
	markMu    sync.Mutex
	mark      *state.Watermark
	markAt    time.Time
	markTimer *time.Timer
}

// cachedMeta is a meta and the lock epoch it was committed in.
type cachedMeta struct {
	epoch uint64
	meta  *state.Meta
}

// pendingPut is one Put waiting for its transaction.
type pendingPut struct {
	ctx  context.Context
	rec  *state.Record
	done chan error
}

var _ state.Backend = (*Store)(nil)

// Open returns the bbolt store at path. With opts.Create it creates the
// folder (0700) and the state file (0600, with a new lineage and serial 0)
// when they are missing; an existing file is never rewritten by Open. A
// missing state without opts.Create reads as empty and refuses writes with
// state.ErrNoState.
func Open(path string, opts state.Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening state: empty path")
	}
	s := &Store{path: path, fl: fileLock(path), opts: opts.WithDefaults()}
	s.base.Init(path, s.opts)
	s.opts.Passphrase = secret.Secret{} // s.base.Pass is the one copy that changes
	if opts.Create {
		if _, err := s.ensure(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// LockPath returns the path of the lock file, <path>.lock.
func (s *Store) LockPath() string { return s.path + ".lock" }

// BackupPath returns the path of the backup, <path>.backup.
func (s *Store) BackupPath() string { return s.path + ".backup" }

// SetLockTimeout changes Options.LockTimeout for later calls to Lock.
func (s *Store) SetLockTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.LockTimeout = d
}

// Snapshot implements state.Store.
func (s *Store) Snapshot(ctx context.Context) (*state.Snapshot, error) {
	if err := s.base.Readable(ctx, "reading state"); err != nil {
		return nil, err
	}
	return s.snapshotOf(s.path, "reading state", s.BackupPath())
}

// ReadBackup reads the backup written by Backup (or before the first write
// after Lock) as a Snapshot. A missing backup wraps fs.ErrNotExist.
func (s *Store) ReadBackup(ctx context.Context) (*state.Snapshot, error) {
	const what = "reading state backup"
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	p := s.BackupPath()
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, p, err)
	}
	return s.snapshotOf(p, what, "")
}

// snapshotOf reads the bbolt state at path; restore names the backup to
// suggest when the file is corrupt ("" for none).
func (s *Store) snapshotOf(path, what, restore string) (*state.Snapshot, error) {
	snap := &state.Snapshot{Records: map[string]*state.Record{}}
	var raw []state.Stored
	var meta *state.Meta
	err := view(path, func(tx *bbolt.Tx, m *state.Meta) error {
		meta = m
		snap.Lineage, snap.Serial, snap.Encrypted = m.Lineage, m.Serial, m.Enc != nil
		c := tx.Bucket([]byte(bucketConns))
		return c.ForEach(func(k, v []byte) error {
			if v == nil {
				return fmt.Errorf("%w: unexpected nested bucket %q in %q", state.ErrCorrupt, k, bucketConns)
			}
			// Copy out: k and v point into the mmap and die with the txn.
			raw = append(raw, state.Stored{Conn: string(k), Data: bytes.Clone(v)})
			return nil
		})
	})
	if errors.Is(err, state.ErrMissing) {
		return &state.Snapshot{Records: map[string]*state.Record{}}, nil
	}
	if err != nil {
		return nil, explainWith(what, path, restore, err)
	}
	// The key is derived after the read transaction, which must stay
	// short; it is cached for the process.
	sl, err := state.OpenSealer(s.base.Pass.For(meta), meta)
	if err != nil {
		return nil, explainWith(what, path, restore, err)
	}
	snap.UnderFallback = s.base.Pass.UnderFallback(meta)
	snap.Enforced = meta.Enc != nil && meta.Enc.Enforced
	if snap.Records, err = state.DecodeAllStored(raw, meta.Enc != nil, sl); err != nil {
		return nil, explainWith(what, path, restore, err)
	}
	return snap, nil
}

// Get implements state.Store.
func (s *Store) Get(ctx context.Context, conn string) (*state.Record, error) {
	what := fmt.Sprintf("reading %q from state", conn)
	if err := s.base.Readable(ctx, what); err != nil {
		return nil, err
	}
	data, meta, err := s.readRecord(conn)
	if err != nil && !errors.Is(err, state.ErrMissing) {
		return nil, explain(what, s.path, err)
	}
	if data == nil {
		return nil, fmt.Errorf("%s %s: %w", what, s.path, state.ErrNotFound)
	}
	// Get is for using a record's tokens: without the passphrase an
	// encrypted record is refused rather than returned without them.
	sl, err := state.ReadSealer(s.base.Pass.For(meta), meta)
	if err != nil {
		return nil, explain(what, s.path, err)
	}
	r, err := state.DecodeStored(conn, data, meta.Enc != nil, sl)
	if err != nil {
		return nil, explain(what, s.path, err)
	}
	return r, nil
}

// pendingGet is a Get's read: the record to read, and what was read.
type pendingGet struct {
	conn string
	data []byte
	meta *state.Meta
	err  error
}

// readRecord reads conn's stored record (nil when there is none) and the
// meta. Concurrent calls share a read transaction (state.Batcher): each
// state read opens, maps and unmaps the file, which was most of the
// system time of an apply refreshing at -parallelism 50. A call that
// arrives while a read is open waits for the next one, which starts after
// it arrived, so it sees every write completed before it was made.
func (s *Store) readRecord(conn string) ([]byte, *state.Meta, error) {
	g := &pendingGet{conn: conn}
	s.gets.Do(g, s.readGets)
	return g.data, g.meta, g.err
}

// readGets reads a batch of gets in one read transaction.
func (s *Store) readGets(batch []*pendingGet) {
	s.reads.Add(1)
	err := s.view(func(tx *bbolt.Tx, m *state.Meta) error {
		b := tx.Bucket([]byte(bucketConns))
		for _, g := range batch {
			g.meta = m
			if v := b.Get([]byte(g.conn)); v != nil {
				// Copy out: v points into the mmap and dies with the txn.
				g.data = bytes.Clone(v)
			}
		}
		return nil
	})
	if err != nil {
		for _, g := range batch {
			g.data, g.err = nil, err
		}
	}
}

// Put implements state.Store. With a passphrase on an unencrypted state it
// first turns encryption on (see update).
//
// Puts from many goroutines (an apply refreshing at -parallelism 50) are
// group-committed: while one transaction is being written, the puts that
// arrive queue up and go together into the next one. Every Put still
// returns only once its record is durably committed, and a record is never
// half-written; what a batch saves is one open, commit and fsync of the
// state per record, which otherwise serialises the whole apply.
func (s *Store) Put(ctx context.Context, rec *state.Record) error {
	if err := state.CheckWritable(rec); err != nil {
		return fmt.Errorf("writing state %s: %w", s.path, err)
	}
	p := &pendingPut{ctx: ctx, rec: rec, done: make(chan error, 1)}
	wait := func() error {
		err := <-p.done
		if err == nil {
			s.base.Forget.Written(rec.Conn)
		}
		return err
	}
	s.putMu.Lock()
	s.putQueue = append(s.putQueue, p)
	if s.flushing {
		s.putMu.Unlock()
		return wait()
	}
	s.flushing = true
	batch := s.putQueue // holds p
	s.putQueue = nil
	s.putMu.Unlock()
	s.writePuts(batch)
	// Puts that queued meanwhile are written by a goroutine of their own,
	// so this caller (which holds its connection's lock) returns now.
	s.putMu.Lock()
	if len(s.putQueue) > 0 {
		go s.drainPuts()
	} else {
		s.flushing = false
	}
	s.putMu.Unlock()
	return wait()
}

// drainPuts writes queued puts until the queue is empty.
func (s *Store) drainPuts() {
	for {
		s.putMu.Lock()
		batch := s.putQueue
		s.putQueue = nil
		if len(batch) == 0 {
			s.flushing = false
			s.putMu.Unlock()
			return
		}
		s.putMu.Unlock()
		s.writePuts(batch)
	}
}

// writePuts writes a batch of puts in one transaction and answers each.
// When that transaction fails, each put is written on its own, so one bad
// put (its lock not held, its context ended) fails alone.
func (s *Store) writePuts(batch []*pendingPut) {
	putOne := func(p *pendingPut) error {
		return s.update(p.ctx, p.rec.Conn, fmt.Sprintf("writing %q to state", p.rec.Conn), true, func(w *writer) error {
			return w.put(p.rec)
		})
	}
	if len(batch) == 1 {
		batch[0].done <- putOne(batch[0])
		return
	}
	first := batch[0]
	err := s.update(context.WithoutCancel(first.ctx), first.rec.Conn, fmt.Sprintf("writing %d records to state", len(batch)), true, func(w *writer) error {
		for _, p := range batch {
			// The same checks write makes for its own connection.
			if p.ctx.Err() != nil {
				return p.ctx.Err()
			}
			s.mu.Lock()
			locked := s.lockFile != nil || s.connLocks[p.rec.Conn] != nil
			s.mu.Unlock()
			if !locked {
				return state.ErrNotLocked
			}
			if err := w.put(p.rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, p := range batch {
			p.done <- nil
		}
		return
	}
	for _, p := range batch {
		p.done <- putOne(p)
	}
}

// Delete implements state.Store. It needs no passphrase: removing a record
// seals nothing. The record's bytes stay in the pages bbolt freed, and in the
// backup, until Purge (or Unlock) clears them.
func (s *Store) Delete(ctx context.Context, conn string) error {
	err := s.update(ctx, conn, fmt.Sprintf("removing %q from state", conn), false, func(w *writer) error {
		if w.conns.Get([]byte(conn)) == nil {
			return state.ErrNotFound
		}
		return w.conns.Delete([]byte(conn))
	})
	if err == nil {
		s.base.Forget.Deleted(conn)
	}
	return err
}

// writer is what an update's fn writes with: the connections bucket and
// the state's sealer (nil when it is not encrypted).
type writer struct {
	conns *bbolt.Bucket
	sl    *state.Sealer
	// sealed: the state is encrypted, so a record cannot be written
	// without sl (the store has no passphrase).
	sealed bool
}

func (w *writer) put(rec *state.Record) error {
	data, err := state.EncodeStored(rec, w.sl, w.sealed)
	if err != nil {
		return err
	}
	return w.conns.Put([]byte(rec.Conn), data)
}

// update runs fn in one read-write transaction (see write), with records
// sealed as the state and the passphrase say (state.PlanWrite); sealing
// says fn writes records, which on an encrypted state needs the
// passphrase.
//
// When the store has a passphrase, the state is not encrypted and the
// store holds the operation lock, update first turns encryption on
// (state.Base.Write takes every connection lock, lockAllConns): one
// transaction seals every record and records the encryption in meta, the
// file is compacted and the backup taken of the result (so no unsealed
// copy is left behind), Options.Notify is told, and then fn runs in a
// transaction of its own. A write under a connection lock only (`token`)
// cannot replace the file: it writes unsealed, and Notify says the state
// is not encrypted yet.
func (s *Store) update(ctx context.Context, conn, what string, sealing bool, fn func(w *writer) error) error {
	return s.base.Write(ctx, what, s.holdsOpLock(), s.meta, s.explain, s.lockAllConns, func(mayEnable bool) (int, bool, error) {
		return s.updateOnce(ctx, conn, what, sealing, mayEnable, fn)
	})
}

// explain is explain for this store's state.
func (s *Store) explain(what string, err error) error {
	return explain(what, s.path, err)
}

// meta reads and validates the state's meta.
func (s *Store) meta() (*state.Meta, error) {
	var meta *state.Meta
	err := s.view(func(_ *bbolt.Tx, m *state.Meta) error {
		meta = m
		return nil
	})
	return meta, err
}

// PrepareWrite implements state.WritePreparer: the backup the first write
// of this lock period would take first is taken now. A change of
// encryption that first write makes still takes its own backup after it
// (write), replacing this one.
func (s *Store) PrepareWrite(ctx context.Context) error {
	return s.write(ctx, "", "preparing to write to", nil, nil)
}

// updateOnce is update's write: sealed is the number of records sealed
// when it turned encryption on (-1 when it did not), postponed says it
// wrote unsealed although the store has a passphrase.
func (s *Store) updateOnce(ctx context.Context, conn, what string, sealing, mayEnable bool, fn func(w *writer) error) (sealed int, postponed bool, err error) {
	var plan *state.WritePlan
	sealed = -1
	err = s.write(ctx, conn, what, func(m *state.Meta) (func(*bbolt.Tx, *state.Meta) error, error) {
		var err error
		plan, err = state.PlanWrite(s.base.Pass.For(m), m, sealing, mayEnable, s.base.Pass.Enforced())
		if err != nil || plan.Enable == nil {
			return nil, err
		}
		return func(tx *bbolt.Tx, m *state.Meta) error {
			if m.Enc != nil {
				return nil // turned on by another process meanwhile: fn replans
			}
			n, err := rewriteAll(tx.Bucket([]byte(bucketConns)), nil, plan.Sealer, false)
			if err != nil {
				return state.EnableFailed(err)
			}
			sealed = n
			return setEncryption(tx.Bucket([]byte(bucketMeta)), plan.Enable)
		}, nil
	}, func(tx *bbolt.Tx, m *state.Meta) error {
		// Another process may have turned encryption on or rekeyed since
		// the first read.
		p, err := plan.Replan(s.base.Pass.For(m), m, sealing)
		if err != nil {
			return err
		}
		postponed = p.Postponed
		return fn(&writer{conns: tx.Bucket([]byte(bucketConns)), sl: p.Sealer, sealed: m.Enc != nil})
	})
	return sealed, postponed, err
}

// write changes the state in one read-write transaction running fn (nil:
// none), which increments the serial. It needs the operation lock or the
// lock of conn.
//
// Before any write, write reads meta and calls prep with it outside any
// transaction: prep derives keys and refuses early (when it fails, nothing
// has been written, not even the backup). prep may return reseal, a change
// of how the state is sealed: it is committed in a transaction of its own
// first, and the backup is then taken of its result, replacing the
// previous one, so that no copy in the old encoding is left. Otherwise the
// first write after Lock is preceded by a backup, unless the state was
// never written. The file is validated read-only first (a read-write open
// of a file bbolt does not recognise would write to it). Transactions get
// meta read again under bbolt's exclusive lock.
func (s *Store) write(ctx context.Context, conn, what string,
	prep func(*state.Meta) (reseal func(*bbolt.Tx, *state.Meta) error, err error),
	fn func(*bbolt.Tx, *state.Meta) error,
) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	locked := s.lockFile != nil || (conn != "" && s.connLocks[conn] != nil)
	// Only a command that holds the operation lock takes the backup: a
	// writer with only a connection's lock (token's refresh) changes one
	// record, whose answer the custody journal keeps first, and copying
	// the whole state for it would make every refresh cost as much as
	// the state is large.
	backedUp := s.backedUp || s.lockFile == nil
	s.mu.Unlock()
	switch {
	case s.base.Closed.Load():
		return fmt.Errorf("%s %s: %w", what, s.path, state.ErrClosed)
	case !locked:
		return fmt.Errorf("%s %s: %w (take it with Lock or LockConn first)", what, s.path, state.ErrNotLocked)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", what, s.path, err)
	}

	// Under the operation lock, once this lock period's backup is taken,
	// the meta this store's last commit left (committedMeta) stands in
	// for reading it again: what prep and the backup need of it (the
	// encryption, the lineage) changes only under that lock, and the
	// transaction reads it again anyway (fn replans). That read opened
	// and mapped the file once more for every commit of an apply. The
	// file must then still exist: a commit never creates it again.
	var meta *state.Meta
	if backedUp && fn != nil {
		meta = s.committedMeta()
	}
	known := meta != nil
	read := func() error {
		return s.view(func(_ *bbolt.Tx, m *state.Meta) error { meta = m; return nil })
	}
	var err error
	if !known {
		err = read()
	}
	if errors.Is(err, state.ErrMissing) {
		if !s.opts.Create {
			return fmt.Errorf("%s %s: %w", what, s.path, state.ErrNoState)
		}
		if _, err := s.ensure(); err != nil {
			return err
		}
		err = read()
	}
	if err != nil {
		return explain(what, s.path, err)
	}
	var reseal func(*bbolt.Tx, *state.Meta) error
	if prep != nil {
		if reseal, err = prep(meta); err != nil {
			return explain(what, s.path, err)
		}
	}
	// A state never written (serial 0) holds nothing to keep, and copying
	// it would replace an older backup that may be the only copy of a
	// state the user lost.
	backup := func(when string) error {
		err := s.view(func(tx *bbolt.Tx, _ *state.Meta) error {
			if err := backupFrom(tx, s.BackupPath()); err != nil {
				return fmt.Errorf("taking the backup %s: %w", when, err)
			}
			return nil
		})
		if err != nil {
			return explain(what, s.path, err)
		}
		return nil
	}
	if reseal != nil {
		if err := s.commit(what, known, reseal); err != nil {
			return err
		}
		if err := s.compact(nil); err != nil && s.opts.Notify != nil {
			// The change is committed and correct; only the old
			// encoding may linger in freed pages.
			s.opts.Notify(fmt.Sprintf("Warning: the state %s was re-encrypted, but rewriting the file to clear its freed pages failed (%v): "+
				"they may still hold secrets in their old form until bbolt reuses them.", s.path, err))
		}
		if meta.Serial > 0 {
			if err := backup("after changing the encryption"); err != nil {
				return err
			}
		}
		backedUp = true
		s.setBackedUp()
	}
	if !backedUp {
		if meta.Serial > 0 {
			if err := backup("before the first write"); err != nil {
				return err
			}
		}
		s.setBackedUp()
	}
	if fn == nil {
		return nil
	}
	return s.commit(what, known, fn)
}

// setBackedUp notes that this lock period's backup was taken. A Lock or
// Unlock resets it.
func (s *Store) setBackedUp() {
	s.mu.Lock()
	s.backedUp = true
	s.mu.Unlock()
}

// commit runs fn in one read-write transaction and increments the serial.
// With mustExist, a missing file is an error rather than created.
func (s *Store) commit(what string, mustExist bool, fn func(*bbolt.Tx, *state.Meta) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = explain(what, s.path, fmt.Errorf("%w: bbolt failed on it: %v", state.ErrCorrupt, r))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	fl := s.fl
	fl.Lock()
	defer fl.Unlock()
	var db *bbolt.DB
	for attempt := 0; ; attempt++ {
		var f *os.File
		db, err = bbolt.Open(s.path, 0o600, &bbolt.Options{
			Timeout: dbTimeout,
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				if mustExist {
					flag &^= os.O_CREATE
				}
				ff, err := os.OpenFile(name, flag, perm)
				f = ff
				return ff, err
			},
		})
		if err != nil {
			return explain(what, s.path, openError(s.path, err))
		}
		if replaced(s.path, f) {
			_ = db.Close()
			if attempt == maxReopen {
				return explain(what, s.path, errReplacedTooOften)
			}
			continue
		}
		break
	}
	defer db.Close()
	var mark state.Watermark
	epoch, held := s.opEpoch()
	var after *state.Meta
	err = db.Update(func(tx *bbolt.Tx) error {
		m, err := readMeta(tx, -1)
		if err != nil {
			return err
		}
		if err := fn(tx, m); err != nil {
			return err
		}
		mark = state.Watermark{Lineage: m.Lineage, Serial: m.Serial + 1}
		mb := tx.Bucket([]byte(bucketMeta))
		if err := mb.Put([]byte(state.MetaSerial), []byte(strconv.FormatUint(m.Serial+1, 10))); err != nil {
			return err
		}
		if err := mb.Put([]byte(state.MetaWrittenBy), []byte(s.opts.Version)); err != nil {
			return err
		}
		if held {
			// The meta as this transaction leaves it (fn may have
			// changed the encryption), for custodyMeta.
			after, err = readMeta(tx, -1)
		}
		return err
	})
	if err != nil {
		s.forgetCustodyMeta()
		return explain(what, s.path, err)
	}
	if after != nil {
		s.keepCustodyMeta(epoch, after)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("%s %s: closing: %w", what, s.path, err)
	}
	mark.Written = s.opts.Now().UTC()
	s.noteMark(&mark)
	return nil
}

// markEvery is how often, at most, a store rewrites its watermark. An
// apply commits hundreds of times a second, and each rewrite (a file
// renamed into place) costs about what a small commit does.
const markEvery = 100 * time.Millisecond

// noteMark records m, the watermark of a commit: written at once when the
// last one was written markEvery ago, otherwise by a timer then (with the
// newest), and by Unlock and Close in any case. A watermark written late,
// or lost with a crash, is behind the state, which CheckWatermark never
// mistakes for a state gone back in time.
func (s *Store) noteMark(m *state.Watermark) {
	s.markMu.Lock()
	defer s.markMu.Unlock()
	s.mark = m
	if s.markTimer != nil {
		return
	}
	if wait := markEvery - time.Since(s.markAt); wait > 0 {
		s.markTimer = time.AfterFunc(wait, s.flushMark)
		return
	}
	s.writeMark()
}

// flushMark writes the watermark noted last, if it is not written yet.
func (s *Store) flushMark() {
	s.markMu.Lock()
	defer s.markMu.Unlock()
	if s.markTimer != nil {
		s.markTimer.Stop()
		s.markTimer = nil
	}
	if s.mark != nil {
		s.writeMark()
	}
}

// writeMark writes s.mark; markMu is held.
func (s *Store) writeMark() {
	state.WriteWatermark(s.path, s.mark)
	s.mark, s.markAt = nil, time.Now()
}

// Init implements state.Store. It creates the state when it is missing,
// whatever Options.Create says, and needs no lock: the new file is built aside
// and linked into place, so concurrent Inits agree on one lineage. An existing
// file is only read.
func (s *Store) Init(ctx context.Context) (string, error) {
	const what = "initializing state"
	if err := s.base.Readable(ctx, what); err != nil {
		return "", err
	}
	if _, err := s.ensure(); err != nil {
		return "", err
	}
	m, err := s.meta()
	if err != nil {
		return "", explain(what, s.path, err)
	}
	return m.Lineage, nil
}

// Backup implements state.Store: it writes a consistent copy of the state to
// BackupPath (0600), atomically replacing the previous one. A corrupt state
// is never copied over a good backup. A missing state gives ErrNoState.
func (s *Store) Backup(ctx context.Context) error {
	const what = "backing up state"
	if err := s.base.Readable(ctx, what); err != nil {
		return err
	}
	err := s.view(func(tx *bbolt.Tx, _ *state.Meta) error {
		return backupFrom(tx, s.BackupPath())
	})
	if errors.Is(err, state.ErrMissing) {
		return fmt.Errorf("%s %s: %w", what, s.path, state.ErrNoState)
	}
	if err != nil {
		return explain(what, s.path, err)
	}
	return nil
}

// Close implements state.Store: it releases the lock if this store holds it,
// purging first what it deleted (see Unlock). Closing twice is harmless.
func (s *Store) Close() error {
	perr := s.purgeBeforeRelease(context.Background())
	s.base.Closed.Store(true) // no write starts after this
	s.wmu.Lock()              // and the one in progress finishes first
	defer s.wmu.Unlock()
	s.flushMark()
	s.mu.Lock()
	defer s.mu.Unlock()
	for conn, f := range s.connLocks {
		_ = f.Truncate(0)
		_ = f.Close() // closing drops the flock
		delete(s.connLocks, conn)
	}
	if s.lockFile == nil {
		return perr
	}
	if err := s.release(); err != nil {
		return errors.Join(perr, fmt.Errorf("closing state %s: %w", s.path, err))
	}
	return perr
}

// ensure creates the folder (MakeDir: git ignores it) and the state file
// when missing. The file is built under a temporary name and hard-linked
// into place, which fails if the name exists: a reader never sees a
// half-made state, two creators never overwrite each other, and an
// existing file is never touched.
func (s *Store) ensure() (created bool, err error) {
	dir := filepath.Dir(s.path)
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("creating state %s: %w", s.path, err)
	}
	if _, err := os.Stat(s.path); err == nil {
		// A state made before oauthform wrote the .gitignore of its
		// folder gets it now (MakeDir); best effort, so that a state
		// in a folder this process cannot write to can still be read.
		_ = state.MakeDir(dir)
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fail(err)
	}
	if err := state.MakeDir(dir); err != nil {
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
	// With a passphrase the state is encrypted from the start.
	lineage := state.NewLineage()
	var enc *state.Encryption
	if pass := s.base.Pass.Load(); !pass.IsZero() {
		if enc, _, err = state.NewEncryption(pass, lineage, s.base.Pass.Enforced()); err != nil {
			return fail(err)
		}
	}
	db, err := bbolt.Open(name, 0o600, &bbolt.Options{Timeout: dbTimeout})
	if err != nil {
		return fail(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error { return s.initMeta(tx, lineage, enc) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := os.Link(name, s.path); err != nil {
		if errors.Is(err, os.ErrExist) {
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

func (s *Store) initMeta(tx *bbolt.Tx, lineage string, enc *state.Encryption) error {
	kv, err := state.InitialMeta(lineage, s.opts.Now(), s.opts.Version, enc)
	if err != nil {
		return err
	}
	mb, err := tx.CreateBucket([]byte(bucketMeta))
	if err != nil {
		return err
	}
	for _, e := range kv {
		if err := mb.Put([]byte(e[0]), []byte(e[1])); err != nil {
			return err
		}
	}
	_, err = tx.CreateBucket([]byte(bucketConns))
	return err
}

// readMeta validates the file's layout and decodes meta. fileSize, when not
// negative, is checked against the size the file's header claims.
func readMeta(tx *bbolt.Tx, fileSize int64) (*state.Meta, error) {
	if fileSize >= 0 && tx.Size() > fileSize {
		return nil, fmt.Errorf("%w: the file is truncated (%d bytes, its header says %d)", state.ErrCorrupt, fileSize, tx.Size())
	}
	mb := tx.Bucket([]byte(bucketMeta))
	if mb == nil {
		return nil, fmt.Errorf("%w: it is a bbolt file without a %q bucket, so not an oauthform state", state.ErrCorrupt, bucketMeta)
	}
	if tx.Bucket([]byte(bucketConns)) == nil {
		return nil, fmt.Errorf("%w: missing %q bucket", state.ErrCorrupt, bucketConns)
	}
	return state.ParseMeta(func(key string) (string, bool) {
		v := mb.Get([]byte(key))
		return string(v), v != nil
	})
}

// view opens path read-only, validates it and runs fn in one read
// transaction. It returns state.ErrMissing when the file does not exist. bbolt
// may panic, or fault on a truncated mmap, when reading a damaged file:
// both are turned into ErrCorrupt.
func view(path string, fn func(*bbolt.Tx, *state.Meta) error) error {
	return viewLocked(path, fileLock(path), fn)
}

// view is view of the store's state file.
func (s *Store) view(fn func(*bbolt.Tx, *state.Meta) error) error {
	s.views.Add(1)
	return viewLocked(s.path, s.fl, fn)
}

// viewLocked is view with path's fileLock, fl.
func viewLocked(path string, fl *sync.RWMutex, fn func(*bbolt.Tx, *state.Meta) error) (err error) {
	var f *os.File
	opened := false
	defer func() {
		if r := recover(); r != nil {
			if f != nil && !opened {
				_ = f.Close() // bbolt panicked inside Open and kept the file
			}
			err = fmt.Errorf("%w: bbolt failed reading it: %v", state.ErrCorrupt, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	fl.RLock()
	defer fl.RUnlock()

	var db *bbolt.DB
	for attempt := 0; ; attempt++ {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{
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
		if replaced(path, f) {
			_ = db.Close()
			if attempt == maxReopen {
				return errReplacedTooOften
			}
			continue
		}
		break
	}
	opened = true
	defer db.Close()
	size := int64(-1)
	if f != nil {
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
	}
	return db.View(func(tx *bbolt.Tx) error {
		m, err := readMeta(tx, size)
		if err != nil {
			return err
		}
		return fn(tx, m)
	})
}

// maxReopen bounds how often view and commit open the state again because
// it was replaced between their open and bbolt's lock (replaced). Past
// it they fail rather than use the replaced file: a write to it would be
// lost (a refreshed token with it), a read of it would be stale (a
// rotated refresh token already used). Each replacement is another
// process's compaction, so the bound is only reached while compactions
// follow each other without a pause.
const maxReopen = 100

// errReplacedTooOften is the failure past maxReopen.
var errReplacedTooOften = fmt.Errorf("the state file was replaced %d times while waiting for its lock (other processes compacting it); try again", maxReopen)

// replaced reports whether path no longer names the file f, which bbolt
// opened and then waited to lock: compact replaces the state file while
// holding bbolt's exclusive lock on the old one, so a reader or writer
// that opened the old file meanwhile gets its lock only once the new file
// is in place, and must use that one (a write to the old file would be
// lost with it, a backup of it would copy the pages compact cleared).
// A path that does not exist any more (a state set aside by `state
// migrate`) is not a replacement: the open file is read as it is.
func replaced(path string, f *os.File) bool {
	if f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Stat(path)
	return err == nil && !os.SameFile(fi, pi)
}

// fileLocks order this process's own readers and writers of a state file.
// bbolt takes a flock for each open and, when it is held, retries every
// 50 ms: with an apply's many goroutines reading and writing one file,
// those sleeps would be most of the time a refresh spends outside the
// network. Within the process, a RWMutex hands the file over without
// sleeping; bbolt's flock still guards it from other processes.
var fileLocks sync.Map // cleaned path -> *sync.RWMutex

func fileLock(path string) *sync.RWMutex {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	l, _ := fileLocks.LoadOrStore(path, new(sync.RWMutex))
	return l.(*sync.RWMutex)
}

// openError classifies an error from bbolt.Open.
func openError(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return state.ErrMissing
	}
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("another process kept the file busy for more than %s: %w", dbTimeout, err)
	}
	if st, serr := os.Stat(path); serr == nil {
		switch {
		case st.IsDir():
			return fmt.Errorf("%w: it is a directory", state.ErrCorrupt)
		case st.Size() == 0:
			return fmt.Errorf("%w: the file is empty", state.ErrCorrupt)
		}
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) ||
		errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrInvalidMapping) {
		return fmt.Errorf("%w: not a bbolt database (%v)", state.ErrCorrupt, err)
	}
	// bbolt has no sentinel for a file shorter than its two meta pages.
	if strings.HasPrefix(err.Error(), "file size too small") {
		return fmt.Errorf("%w: the file is truncated (%v)", state.ErrCorrupt, err)
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
	advice := "oauthform did not modify it"
	if restore != "" {
		advice += fmt.Sprintf("; restore %s if that holds a good copy, or move the file aside. "+
			"A backup holds the refresh tokens of when it was taken: a provider that rotates refresh tokens has spent those since, "+
			"and oauthform refuses to present them; the newer ones are in the custody folder beside the state "+
			"(oauthform show lists them; oauthform state restore FILE puts them back)", restore)
	}
	return state.Explain(what, path, err, advice)
}

// backupFrom writes the database as seen by tx to dst atomically: a
// temporary file beside it, fsync, rename.
func backupFrom(tx *bbolt.Tx, dst string) (err error) {
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
