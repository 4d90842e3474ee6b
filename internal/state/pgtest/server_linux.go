package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// stop shuts the server down at once (its data is thrown away) and
// removes its folder.
func (s *server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	_ = s.log.Close()
	_ = os.RemoveAll(s.dir)
}

// binDir finds the folder holding initdb and postgres.
func binDir() (string, error) {
	var cands []string
	if p, err := exec.LookPath("initdb"); err == nil {
		cands = append(cands, filepath.Dir(p))
		if r, err := filepath.EvalSymlinks(p); err == nil {
			cands = append(cands, filepath.Dir(r))
		}
	}
	// Newest version first.
	for _, pat := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql*/bin"} {
		m, _ := filepath.Glob(pat)
		sort.Slice(m, func(i, j int) bool { return versionOf(m[i]) > versionOf(m[j]) })
		cands = append(cands, m...)
	}
	cands = append(cands, "/usr/local/bin", "/usr/local/pgsql/bin", "/usr/bin")
	for _, d := range cands {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("the PostgreSQL server programs (initdb, postgres) are not installed: looked in PATH, /usr/lib/postgresql/*/bin and /usr/local/bin. " +
		"Install PostgreSQL (Debian/Ubuntu: apt-get install -y postgresql), or set " + EnvVar + " to the connection string of a server where the role may create databases")
}

func versionOf(dir string) int {
	for _, part := range strings.Split(dir, string(filepath.Separator)) {
		part = strings.TrimPrefix(strings.TrimPrefix(part, "pgsql-"), "postgresql@")
		if v, err := strconv.Atoi(strings.SplitN(part, ".", 2)[0]); err == nil {
			return v
		}
	}
	return 0
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// runAs returns the credential to run the server with: nil unless this
// process is root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		u, err = user.Lookup(runAsUser)
	}
	if err != nil {
		out, uerr := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", runAsUser).CombinedOutput()
		if uerr != nil {
			return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: there is no postgres user, and creating one failed: useradd: %v: %s", uerr, bytes.TrimSpace(out))
		}
		if u, err = user.Lookup(runAsUser); err != nil {
			return nil, err
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Username, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// tempBase returns where to make the server's folder: /dev/shm when it
// is there with room to spare (a memory file system: initdb and CREATE
// DATABASE are several times faster there), else the temporary folder,
// unless the server's user could not reach it.
func tempBase(cred *syscall.Credential) string {
	var fs syscall.Statfs_t
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && st.Mode().Perm()&0o003 == 0o003 &&
		syscall.Statfs("/dev/shm", &fs) == nil && uint64(fs.Bavail)*uint64(fs.Bsize) > 512<<20 {
		return "/dev/shm"
	}
	base := os.TempDir()
	if cred == nil {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

func startServer() (*server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	base := tempBase(cred)
	removeStale(base)
	dir, err := os.MkdirTemp(base, "oauthform-pg-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", Superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.Env = serverEnv()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		s, err := launch(bin, dir, data, cred)
		if err == nil {
			ok = true
			return s, nil
		}
		if attempt == 2 || !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
}

// removeStale removes the folders of test servers whose test process died
// without Main's cleanup (the server itself stopped with it): those with
// no live postmaster, untouched for an hour.
func removeStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "oauthform-pg-*"))
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil || !st.IsDir() || time.Since(st.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && pid > 0 {
				if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
					continue // running
				}
			}
		}
		_ = os.RemoveAll(d)
	}
}

func serverEnv() []string {
	env := []string{"LC_ALL=C", "LANG=C", "TZ=UTC"}
	if p := os.Getenv("PATH"); p != "" {
		env = append(env, "PATH="+p)
	}
	return env
}

var errPortTaken = errors.New("the port was taken")

// launch starts postgres on a free port and waits until it accepts
// connections.
func launch(bin, dir, data string, cred *syscall.Credential) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "autovacuum=off",
		"-c", "max_parallel_workers_per_gather=0",
		"-c", "log_min_messages=warning",
		"-c", "log_min_error_statement=panic",
	)
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true,
		// If the test binary dies without Main's cleanup, the server
		// shuts down at once.
		Pdeathsig: syscall.SIGQUIT,
	}
	s := &server{dir: dir, port: port, cmd: cmd, done: make(chan struct{}), log: logf}
	// The parent-death signal goes with the thread that started the
	// child: start it from a thread that never exits.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the server
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.done)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	fail := func(err error) (*server, error) {
		_ = cmd.Process.Kill()
		<-s.done
		_ = logf.Close()
		out, _ := os.ReadFile(logPath)
		if bytes.Contains(out, []byte("could not bind")) || bytes.Contains(out, []byte("already in use")) {
			return nil, fmt.Errorf("%w: %s", errPortTaken, out)
		}
		return nil, fmt.Errorf("%v; server log:\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			return fail(errors.New("postgres exited during startup"))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.adminURL())
		if err == nil {
			_ = c.Close(ctx)
			cancel()
			return s, nil
		}
		cancel()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code != "57P03" { // cannot_connect_now: starting up
			return fail(err)
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("postgres did not accept connections within 30s: %w", err))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
