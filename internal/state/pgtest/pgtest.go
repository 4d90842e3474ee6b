// Package pgtest gives tests a PostgreSQL database of their own.
//
// Start returns the connection string of a new, empty database on a test
// server. With OAUTHFORM_TEST_PG set (a connection string whose role may
// create databases), the databases are made on that server and dropped
// when the test ends. Otherwise one server is started per test process:
// initdb into a temporary folder, postgres listening on 127.0.0.1 on a
// free port (and on a unix socket in that folder only), with durability
// turned off for speed. When the tests run as root, which initdb and
// postgres refuse, the server runs as the "postgres" system user, or as a
// system user "oauthform-pg" created for it.
//
// The server is a child process of the test binary: Main stops it and
// removes its folder after the tests, so a package whose tests call Start
// must have
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and should the test binary die without running Main's end, the kernel
// signals the server to shut down (PR_SET_PDEATHSIG).
//
// Without PostgreSQL installed, Start fails the test, saying what to
// install; it never skips.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the variable that points the tests at an existing server.
const EnvVar = "OAUTHFORM_TEST_PG"

// Superuser is the role the test server is created with (trust auth).
const Superuser = "oauthform"

// runAsUser is the system user made to run the server when the tests run
// as root and there is no "postgres" user.
const runAsUser = "oauthform-pg"

var (
	mainUsed atomic.Bool
	once     sync.Once
	srv      *server
	srvErr   error
	dbSeq    atomic.Int64
	createMu sync.Mutex
)

// Main runs the tests and then stops the server Start started, if any. Call
// it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	mainUsed.Store(true)
	code := m.Run()
	if srv != nil {
		srv.stop()
	}
	return code
}

// Start returns the connection string (a URL) of a new, empty database
// owned by a superuser, for the calling test alone.
func Start(tb testing.TB) string {
	tb.Helper()
	if !mainUsed.Load() {
		tb.Fatal("pgtest.Start: this test package's TestMain must call pgtest.Main, which stops the test server: " +
			"func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }")
	}
	if env := os.Getenv(EnvVar); env != "" {
		return external(tb, env)
	}
	once.Do(func() { srv, srvErr = startServer() })
	if srvErr != nil {
		tb.Fatalf("pgtest: starting a PostgreSQL test server: %v", srvErr)
	}
	name := fmt.Sprintf("oauthform_test_%d", dbSeq.Add(1))
	if err := createDatabase(srv.adminURL(), name); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return srv.url(name)
}

// external makes a database on the server named by connStr and drops it
// when tb ends.
func external(tb testing.TB, connStr string) string {
	tb.Helper()
	if _, err := pgx.ParseConfig(connStr); err != nil {
		tb.Fatalf("pgtest: %s is not a valid connection string", EnvVar)
	}
	name := fmt.Sprintf("oauthform_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, dbSeq.Add(1))
	if err := createDatabase(connStr, name); err != nil {
		tb.Fatalf("pgtest: on the server of %s: %v", EnvVar, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, connStr)
		if err != nil {
			tb.Errorf("pgtest: dropping database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			tb.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return withDatabase(connStr, name)
}

// withDatabase returns connStr naming database name instead.
func withDatabase(connStr, name string) string {
	if strings.HasPrefix(connStr, "postgres://") || strings.HasPrefix(connStr, "postgresql://") {
		if u, err := url.Parse(connStr); err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	// A keyword/value string: a later keyword wins.
	return connStr + " dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name) + "'"
}

func createDatabase(adminConnStr, name string) error {
	createMu.Lock()
	defer createMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, adminConnStr)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	return nil
}

// server is a PostgreSQL server run by this process.
type server struct {
	dir  string // temporary folder: data/, the socket, server.log
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server has exited
	log  *os.File
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.port, db)
}

func (s *server) adminURL() string { return s.url("postgres") }
