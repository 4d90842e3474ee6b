package bolt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/statetest"
)

// helperEnv makes the test binary act as a second oauthform process that
// holds the lock on the state named by the variable's value.
const helperEnv = "OAUTHFORM_STATE_TEST_LOCK_HOLDER"

func TestMain(m *testing.M) {
	// Cheap key derivation for tests, in the helper processes too;
	// TestDefaultKDF checks the real one.
	state.SetKDFParams(statetest.CheapKDF)
	if p := os.Getenv(helperEnv); p != "" {
		os.Exit(lockHolder(p))
	}
	if p := os.Getenv(purgerEnv); p != "" {
		os.Exit(purger(p))
	}
	if p := os.Getenv(writerEnv); p != "" {
		os.Exit(refresher(p))
	}
	os.Exit(statetest.Main(m))
}

// lockHolder opens the state, takes the lock for "apply", writes a record,
// prints "locked" and holds the lock until its stdin closes.
func lockHolder(path string) int {
	ctx := context.Background()
	s, err := Open(path, state.Options{Create: true, Version: "test-child"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := s.Put(ctx, &state.Record{Conn: "from-child", Provider: "burner", Access: secret.New("child-token")}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// holder is a child process holding the lock.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startHolder(t *testing.T, path string) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("lock holder said %q (%v); stderr: %s", line, err, stderr.String())
	}
	return h
}

func statePath(t *testing.T) string {
	return filepath.Join(t.TempDir(), ".oauthform", "state.db")
}

func mustOpen(t *testing.T, path string, opts state.Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestLockBetweenProcesses(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	h := startHolder(t, path)
	pid := h.cmd.Process.Pid

	s := mustOpen(t, path, state.Options{})
	_, err := s.Lock(ctx, "plan")
	var le *state.LockError
	if !errors.As(err, &le) || !errors.Is(err, state.ErrLocked) {
		t.Fatalf("Lock while another process holds it = %v, want a LockError", err)
	}
	msg := err.Error()
	for _, want := range []string{`"apply"`, "pid " + strconv.Itoa(pid), le.Info.Host, path} {
		if !strings.Contains(msg, want) {
			t.Errorf("lock error %q does not mention %q", msg, want)
		}
	}
	if le.Info.PID != pid || le.Info.Operation != "apply" || le.Info.Version != "test-child" || le.Info.Path != path {
		t.Errorf("holder info = %+v, want pid %d, apply, test-child, %s", le.Info, pid, path)
	}

	// Reads do not wait for the holder.
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot while another process holds the lock: %v", err)
	}
	if r := snap.Records["from-child"]; r == nil || r.Access.Reveal() != "child-token" {
		t.Errorf("Snapshot does not show the holder's write: %v", snap.Records)
	}

	// A crash (kill -9) leaves no stale lock: the OS drops the flock.
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait()
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	if err := s.Put(ctx, &state.Record{Conn: "after-crash"}); err != nil {
		t.Fatalf("Put after taking over: %v", err)
	}
}

func TestLockWaitsForOtherProcess(t *testing.T) {
	path := statePath(t)
	h := startHolder(t, path)
	s := mustOpen(t, path, state.Options{LockTimeout: 20 * time.Second})
	go func() {
		time.Sleep(100 * time.Millisecond) // let Lock start waiting
		_ = h.stdin.Close()                // the holder finishes and unlocks
	}()
	info, err := s.Lock(context.Background(), "apply")
	if err != nil {
		t.Fatalf("Lock waiting for the other process: %v", err)
	}
	if info.PID != os.Getpid() {
		t.Errorf("LockInfo.PID = %d, want %d", info.PID, os.Getpid())
	}
	if err := h.cmd.Wait(); err != nil {
		t.Errorf("lock holder: %v", err)
	}
	// The holder cleared its info on unlock; ours is in the file now.
	if got := ReadLockInfo(s.LockPath()); got == nil || got.ID != info.ID {
		t.Errorf("lock file holds %+v, want ours (%s)", got, info.ID)
	}
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestFileModes(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := mustOpen(t, path, state.Options{Create: true})
	for _, conn := range []string{"a", "b"} { // the second command backs up the first's work
		if _, err := s.Lock(ctx, "apply"); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, &state.Record{Conn: conn}); err != nil {
			t.Fatal(err)
		}
		if err := s.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for p, want := range map[string]fs.FileMode{
		filepath.Dir(path): 0o700,
		path:               0o600,
		s.LockPath():       0o600,
		s.BackupPath():     0o600,
		path + ".serial":   0o600,
		filepath.Join(filepath.Dir(path), state.GitignoreName): 0o600,
	} {
		if got := mode(t, p); got != want {
			t.Errorf("mode of %s = %o, want %o", p, got, want)
		}
	}
	// No temporary files are left behind.
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), ".gitignore state.db state.db.backup state.db.lock state.db.serial"; got != want {
		t.Errorf("state folder holds %q, want %q", got, want)
	}
}

// TestFreshStateKeepsOldBackup: when the state is lost and a new one is
// created, its first write must not replace the old backup (possibly the
// only copy left) with a copy of an empty state.
func TestFreshStateKeepsOldBackup(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	old := []byte("the user's previous state")
	writeFile(old)(t, path+".backup")
	s := mustOpen(t, path, state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, &state.Record{Conn: "a"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(s.BackupPath()); err != nil || !bytes.Equal(b, old) {
		t.Errorf("the first write of a fresh state replaced the old backup (%v)", err)
	}
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	// Once the state holds something, the next command backs it up.
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, &state.Record{Conn: "b"}); err != nil {
		t.Fatal(err)
	}
	bk, err := s.ReadBackup(ctx)
	if err != nil || bk.Serial != 1 || bk.Records["a"] == nil {
		t.Errorf("backup = %+v, %v; want serial 1 with record a", bk, err)
	}
}

// PrepareWrite takes the backup the first write would take, and the
// first write then takes none: the backup is the state before the lock
// period's writes. Without the operation lock it refuses, as a write does.
func TestPrepareWriteTakesTheBackup(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := mustOpen(t, path, state.Options{Create: true})
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, &state.Record{Conn: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.PrepareWrite(ctx); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("PrepareWrite without the lock = %v, want ErrNotLocked", err)
	}
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.PrepareWrite(ctx); err != nil {
		t.Fatal(err)
	}
	bk, err := s.ReadBackup(ctx)
	if err != nil || bk.Serial != 1 || bk.Records["a"] == nil {
		t.Fatalf("backup after PrepareWrite = %+v, %v; want serial 1 with record a", bk, err)
	}
	before := readBytes(t, s.BackupPath())
	if err := s.Put(ctx, &state.Record{Conn: "b"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBytes(t, s.BackupPath()), before) {
		t.Error("the first write after PrepareWrite took the backup again")
	}
	snap, err := s.Snapshot(ctx)
	if err != nil || snap.Serial != 2 {
		t.Errorf("PrepareWrite changed the serial: %+v, %v; want 2 after one write", snap, err)
	}
}

// Writes made while PrepareWrite runs wait for it, whichever starts
// first: the backup is the state before all of them, taken once.
func TestPrepareWriteAlongsideWrites(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		path := statePath(t)
		s := mustOpen(t, path, state.Options{Create: true})
		if _, err := s.Lock(ctx, "apply"); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, &state.Record{Conn: "a"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lock(ctx, "apply"); err != nil {
			t.Fatal(err)
		}
		prepared := make(chan error, 1)
		go func() { prepared <- s.PrepareWrite(ctx) }()
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Put(ctx, &state.Record{Conn: fmt.Sprintf("new%d", i)}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if err := <-prepared; err != nil {
			t.Fatal(err)
		}
		bk, err := s.ReadBackup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bk.Serial != 1 || len(bk.Records) != 1 || bk.Records["a"] == nil {
			t.Fatalf("round %d: backup = serial %d, %d records; want the state before the writes: serial 1, record a",
				round, bk.Serial, len(bk.Records))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMissingState(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := mustOpen(t, path, state.Options{})
	snap, err := s.Snapshot(ctx)
	if err != nil || !snap.Empty() || snap.Records == nil || len(snap.Records) != 0 || snap.Serial != 0 {
		t.Errorf("Snapshot of a missing state = %+v, %v; want an empty snapshot", snap, err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	if _, err := s.Lock(ctx, "apply"); !errors.Is(err, state.ErrNoState) {
		t.Errorf("Lock = %v, want ErrNoState", err)
	}
	if err := s.Put(ctx, &state.Record{Conn: "a"}); !errors.Is(err, state.ErrNotLocked) {
		t.Errorf("Put = %v, want ErrNotLocked", err)
	}
	if err := s.Backup(ctx); !errors.Is(err, state.ErrNoState) {
		t.Errorf("Backup = %v, want ErrNoState", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading a missing state created %s (%v)", filepath.Dir(path), err)
	}

	// Init creates it, with serial 0.
	lineage, err := s.Init(ctx)
	if err != nil || lineage == "" {
		t.Fatalf("Init = %q, %v", lineage, err)
	}
	if snap, err := s.Snapshot(ctx); err != nil || snap.Lineage != lineage || snap.Serial != 0 {
		t.Errorf("after Init: %+v, %v", snap, err)
	}

	// The state vanishes while locked: a store without Create refuses to
	// write rather than making a new lineage.
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, &state.Record{Conn: "a"}); !errors.Is(err, state.ErrNoState) {
		t.Errorf("Put after the state vanished = %v, want ErrNoState", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused Put created the state (%v)", err)
	}
}

func TestMeta(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := mustOpen(t, path, state.Options{Create: true, Version: "v1.2.3", Now: func() time.Time { return now }})
	info, err := s.Lock(ctx, "apply")
	if err != nil {
		t.Fatal(err)
	}
	if !info.Created.Equal(now) || info.Version != "v1.2.3" || !strings.Contains(info.Who, "@") {
		t.Errorf("LockInfo = %+v", info)
	}
	if err := s.Put(ctx, &state.Record{Conn: "a"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	})
	if got[state.MetaFormat] != "1" || got[state.MetaSerial] != "1" || got[state.MetaWrittenBy] != "v1.2.3" ||
		got[state.MetaCreated] != "2030-01-02T03:04:05Z" || len(got[state.MetaLineage]) != 36 {
		t.Errorf("meta = %v", got)
	}
}

// writeBolt builds a bbolt file at path with fn.
func writeBolt(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// validState creates a state with n records holding the token "TOKEN-i".
func validState(t *testing.T, path string, n int) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	if err := s.putMany(statetest.RecordsN(n)); err != nil {
		t.Fatal(err)
	}
}

// putMany writes recs in one transaction (serial +1), for test setup.
func (s *Store) putMany(recs []*state.Record) error {
	enc := make([][]byte, len(recs))
	for i, r := range recs {
		b, err := state.EncodeRecord(r)
		if err != nil {
			return err
		}
		enc[i] = b
	}
	return s.update(context.Background(), "", "loading", true, func(w *writer) error {
		for i, r := range recs {
			if w.sl != nil {
				if err := w.put(r); err != nil {
					return err
				}
				continue
			}
			if err := w.conns.Put([]byte(r.Conn), enc[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// setMeta rewrites one meta key of a valid state.
func setMeta(key, val string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		validState(t, path, 3)
		writeBolt(t, path, func(tx *bbolt.Tx) error {
			mb := tx.Bucket([]byte(bucketMeta))
			if val == "" {
				return mb.Delete([]byte(key))
			}
			return mb.Put([]byte(key), []byte(val))
		})
	}
}

func setRecord(conn, raw string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		validState(t, path, 3)
		writeBolt(t, path, func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketConns)).Put([]byte(conn), []byte(raw))
		})
	}
}

// truncateTo cuts a valid state to size(n) bytes, where n is the size its
// header claims (the file itself may be longer: bbolt grows it ahead).
func truncateTo(size func(int64) int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		validState(t, path, 200)
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		_ = db.View(func(tx *bbolt.Tx) error { n = tx.Size(); return nil })
		_ = db.Close()
		if err := os.Truncate(path, size(n)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(b []byte) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// scramble overwrites every page after the two meta pages of a valid
// state with a repeating pattern that bbolt cannot parse.
func scramble(t *testing.T, path string) {
	validState(t, path, 200)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	for i := 2 * ps; i < len(b); i++ {
		b[i] = byte(i*7 + 3)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUnusableFiles checks that a file oauthform cannot use gives a clear
// error from every operation and is never modified.
func TestUnusableFiles(t *testing.T) {
	garbage := bytes.Repeat([]byte("this is not a bbolt database\n"), 1000)
	cases := []struct {
		name  string
		setup func(*testing.T, string)
		want  error
		say   string // in the error message
	}{
		{"garbage", writeFile(garbage), state.ErrCorrupt, "not a bbolt database"},
		{"short garbage", writeFile([]byte("hello")), state.ErrCorrupt, "not a bbolt database"},
		{"empty", writeFile(nil), state.ErrCorrupt, "empty"},
		{"truncated to one page", truncateTo(func(int64) int64 { return int64(os.Getpagesize()) }), state.ErrCorrupt, "truncated"},
		{"truncated to half", truncateTo(func(n int64) int64 { return n / 2 }), state.ErrCorrupt, "truncated"},
		{"truncated by one page", truncateTo(func(n int64) int64 { return n - int64(os.Getpagesize()) }), state.ErrCorrupt, "truncated"},
		{"scrambled pages", scramble, state.ErrCorrupt, ""},
		{"foreign bbolt", func(t *testing.T, p string) {
			writeBolt(t, p, func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("widgets"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			})
		}, state.ErrCorrupt, `without a "meta" bucket`},
		{"empty bbolt", func(t *testing.T, p string) {
			writeBolt(t, p, func(*bbolt.Tx) error { return nil })
		}, state.ErrCorrupt, "not an oauthform state"},
		{"no lineage", setMeta(state.MetaLineage, ""), state.ErrCorrupt, "lineage"},
		{"bad serial", setMeta(state.MetaSerial, "x"), state.ErrCorrupt, "serial"},
		{"newer format", setMeta(state.MetaFormat, "3"), state.ErrNewerFormat, "format 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			path := statePath(t)
			c.setup(t, path)
			_ = os.Remove(path + ".backup") // setup may have made one
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, c.want) {
					t.Errorf("%s = %v, want %v", op, err, c.want)
					return
				}
				msg := err.Error()
				if !strings.Contains(msg, path) || !strings.Contains(msg, c.say) {
					t.Errorf("%s: %q does not name the file and %q", op, msg, c.say)
				}
				if c.want == state.ErrCorrupt && !strings.Contains(msg, path+".backup") {
					t.Errorf("%s: %q does not suggest the backup", op, msg)
				}
				if strings.Contains(msg, "TOKEN-") {
					t.Errorf("%s: error leaks a token: %q", op, msg)
				}
				now, rerr := os.ReadFile(path)
				if rerr != nil || !bytes.Equal(now, orig) {
					t.Fatalf("%s modified the file (%v)", op, rerr)
				}
				if _, serr := os.Stat(path + ".backup"); !errors.Is(serr, fs.ErrNotExist) {
					t.Errorf("%s wrote a backup of an unusable file", op)
				}
			}
			// Open with Create must not touch an existing file.
			s := mustOpen(t, path, state.Options{Create: true})
			_, err = s.Snapshot(ctx)
			check("Snapshot", err)
			_, err = s.Get(ctx, "conn-00002")
			check("Get", err)
			_, err = s.Init(ctx)
			check("Init", err)
			check("Backup", s.Backup(ctx))
			if _, err := s.Lock(ctx, "apply"); err != nil {
				t.Fatalf("Lock: %v", err)
			}
			check("Put", s.Put(ctx, &state.Record{Conn: "new"}))
			check("Delete", s.Delete(ctx, "conn-00001"))
			if err := s.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBrokenRecord: a record that cannot be decoded fails the reads that
// reach it with a clear error that leaks no token. The file itself is
// sound, so other records still read, and the broken one can be removed
// (`oauthform state rm`).
func TestBrokenRecord(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*testing.T, string)
		want  error
		say   string
	}{
		{"newer record", setRecord("conn-00001", `{"version":2,"access_token":"TOKEN-1"}`), state.ErrNewerFormat, "version 2"},
		{"record not JSON", setRecord("conn-00001", `{"version":1,"access_token":"TOKEN-1`), state.ErrCorrupt, `"conn-00001"`},
		{"record without version", setRecord("conn-00001", `{"access_token":"TOKEN-1"}`), state.ErrCorrupt, "version"},
		{"record bad field", setRecord("conn-00001", `{"version":1,"access_token":"TOKEN-1","scopes":"TOKEN-1"}`), state.ErrCorrupt, "scopes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			path := statePath(t)
			c.setup(t, path)
			s := mustOpen(t, path, state.Options{})
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, c.want) {
					t.Fatalf("%s = %v, want %v", op, err, c.want)
				}
				msg := err.Error()
				if !strings.Contains(msg, path) || !strings.Contains(msg, c.say) {
					t.Errorf("%s: %q does not name the file and %q", op, msg, c.say)
				}
				if strings.Contains(msg, "TOKEN-") {
					t.Errorf("%s: error leaks a token: %q", op, msg)
				}
			}
			_, err := s.Snapshot(ctx)
			check("Snapshot", err)
			_, err = s.Get(ctx, "conn-00001")
			check("Get", err)
			if r, err := s.Get(ctx, "conn-00002"); err != nil || r.Access.Reveal() != "TOKEN-2" {
				t.Errorf("Get of an intact record = %v, %v", r, err)
			}
			if _, err := s.Lock(ctx, "state rm"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "conn-00001"); err != nil {
				t.Fatalf("Delete of the broken record: %v", err)
			}
			if snap, err := s.Snapshot(ctx); err != nil || len(snap.Records) != 2 {
				t.Errorf("after removing the broken record: %v", err)
			}
		})
	}
}

func TestDirectoryInsteadOfState(t *testing.T) {
	path := statePath(t)
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path, state.Options{Create: true})
	if _, err := s.Snapshot(context.Background()); !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), "directory") {
		t.Errorf("Snapshot of a directory = %v, want ErrCorrupt naming a directory", err)
	}
}

func TestErrorsNameTheOperation(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := mustOpen(t, path, state.Options{Create: true})
	_, err := s.Get(ctx, "nope")
	if want := `reading "nope" from state ` + path; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Get error %q does not say %q", err, want)
	}
	err = s.Put(ctx, &state.Record{Conn: "a"})
	if want := `writing "a" to state ` + path; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Put error %q does not say %q", err, want)
	}
	if err := s.Put(ctx, nil); err == nil {
		t.Error("Put(nil) succeeded")
	}
	if err := s.Put(ctx, &state.Record{}); err == nil {
		t.Error("Put of a record without a name succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(ctx); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Snapshot after Close = %v", err)
	}
}
