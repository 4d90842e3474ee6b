package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestStart checks that Start gives each call a new, empty database.
func TestStart(t *testing.T) {
	ctx := context.Background()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two Start calls returned the same database %s", a)
	}
	for _, cs := range []string{a, b} {
		c, err := pgx.Connect(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		var db string
		if err := c.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("database %s: %d tables (%v), want a new empty one", db, n, err)
		}
		if _, err := c.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
			t.Error(err)
		}
		_ = c.Close(ctx)
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5/postgres?sslmode=disable": "postgres://u:p@h:5/db_1?sslmode=disable",
		"host=h user=u dbname=postgres":               "host=h user=u dbname=postgres dbname='db_1'",
	} {
		got := withDatabase(in, "db_1")
		if got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", in, got, want)
		}
		if c, err := pgx.ParseConfig(got); err != nil || c.Database != "db_1" {
			t.Errorf("%q parses as database %q (%v)", got, c.Database, err)
		}
	}
}
