package pg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/pgtest"
)

// TestPGPurgeClearsTheFiles: after Delete and Purge, no file of the
// database on the server's disk holds the forgotten connection's tokens,
// nor (encrypted) its sealed secrets, although they were there after the
// Delete (the dead row version, the backup): Purge removes the record from
// the backup and VACUUM FULLs the tables. The write-ahead log, which keeps
// them until it is recycled, is outside the database's folder and out of
// reach (documented). It reads the server's files, so it runs against the
// test server pgtest starts, not one named by OAUTHFORM_TEST_PG.
func TestPGPurgeClearsTheFiles(t *testing.T) {
	if os.Getenv(pgtest.EnvVar) != "" {
		t.Skip("reads the server's data files, which a server named by " + pgtest.EnvVar + " may keep elsewhere")
	}
	connStr := pgtest.Start(t)
	ctx := context.Background()
	c := sqlConn(t, connStr)
	var dataDir string
	var dbOID uint32
	if err := c.QueryRow(ctx, `SELECT current_setting('data_directory'), (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&dataDir, &dbOID); err != nil {
		t.Fatal(err)
	}
	dbDir := filepath.Join(dataDir, "base", strconv.FormatUint(uint64(dbOID), 10))
	if _, err := os.ReadDir(dbDir); err != nil {
		t.Fatalf("the test server's files must be readable here: %v", err)
	}
	for _, tc := range []struct {
		name string
		pass secret.Secret
	}{
		{"plain", secret.Secret{}},
		{"encrypted", secret.New("purge passphrase")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema := newSchema()
			keep, gone := "AT-keep-"+tc.name+"-9d1e77", "AT-gone-"+tc.name+"-4b20c5"
			st := openPG(t, connStr, schema, state.Options{Create: true, Passphrase: tc.pass})
			if _, err := st.Lock(ctx, "apply"); err != nil {
				t.Fatal(err)
			}
			for _, r := range []*state.Record{rec("keep", keep), rec("gone", gone)} {
				if err := st.Put(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			secrets := [][]byte{[]byte(gone), []byte("refresh-" + gone)}
			if !tc.pass.IsZero() {
				secrets = append(secrets, sealedOf(t, c, schema, "gone")...)
			}

			if _, err := st.Lock(ctx, "destroy"); err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(ctx, "gone"); err != nil {
				t.Fatal(err)
			}
			mustExec(t, c, `CHECKPOINT`)
			if n := filesHolding(t, dbDir, secrets); n == 0 {
				t.Fatal("after Delete no file holds the deleted record: the test cannot see what Purge clears")
			}
			if err := st.Purge(ctx); err != nil {
				t.Fatalf("Purge: %v", err)
			}
			mustExec(t, c, `CHECKPOINT`)
			if n := filesHolding(t, dbDir, secrets); n != 0 {
				t.Errorf("after Purge %d file(s) of the database still hold the forgotten record's secrets", n)
			}
			if tc.pass.IsZero() && filesHolding(t, dbDir, [][]byte{[]byte(keep)}) == 0 {
				t.Error("no file holds the kept record's token: the scan does not see the tables")
			}
			bk, err := st.ReadBackup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(bk.Records) != 1 || bk.Records["keep"] == nil {
				t.Errorf("backup holds %d records, want only keep", len(bk.Records))
			}
			r, err := st.Get(ctx, "keep")
			if err != nil || r.Access.Reveal() != keep {
				t.Errorf("keep after Purge: %v", err)
			}
		})
	}
}

// sealedOf returns the stored text of conn's sealed secrets (base64 in
// the record's JSON), whole and its first and last 24 characters.
func sealedOf(t *testing.T, c *pgx.Conn, schema, conn string) [][]byte {
	t.Helper()
	var data []byte
	if err := c.QueryRow(context.Background(), `SELECT data FROM `+pgx.Identifier{schema, "connections"}.Sanitize()+` WHERE name = $1`, conn).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Sealed json.RawMessage `json:"sealed"`
	}
	var text string
	if err := json.Unmarshal(data, &r); err != nil || json.Unmarshal(r.Sealed, &text) != nil || len(text) < 48 {
		t.Fatalf("record %q has no sealed secrets", conn)
	}
	return [][]byte{[]byte(text), []byte(text[:24]), []byte(text[len(text)-24:])}
}

// filesHolding counts the files under dir that hold any of secrets.
func filesHolding(t *testing.T, dir string, secrets [][]byte) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a file the server removed meanwhile
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				n++
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPGPurgeWithoutTheRightToVacuum: a role that may write the state but
// not VACUUM its tables (it does not own them) gets a PurgeError saying
// what may remain and what to do; the records are deleted all the same and
// the backup no longer holds them.
func TestPGPurgeWithoutTheRightToVacuum(t *testing.T) {
	if os.Getenv(pgtest.EnvVar) != "" {
		t.Skip("creates a role on the server")
	}
	connStr := pgtest.Start(t)
	ctx := context.Background()
	c := sqlConn(t, connStr)
	schema := newSchema()
	owner := openPG(t, connStr, schema, state.Options{Create: true})
	if _, err := owner.Lock(ctx, "apply"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*state.Record{rec("keep", "AT-keep-norights"), rec("gone", "AT-gone-norights")} {
		if err := owner.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := owner.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	role := "writer_" + schema
	sc := pgx.Identifier{schema}.Sanitize()
	mustExec(t, c, `CREATE ROLE `+pgx.Identifier{role}.Sanitize()+` LOGIN`)
	mustExec(t, c, `GRANT USAGE ON SCHEMA `+sc+` TO `+pgx.Identifier{role}.Sanitize())
	mustExec(t, c, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+sc+` TO `+pgx.Identifier{role}.Sanitize())
	cfg, err := pgx.ParseConfig(connStr)
	if err != nil {
		t.Fatal(err)
	}
	u := "postgres://" + role + "@" + cfg.Host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database + "?sslmode=disable"
	st := openPG(t, u, schema, state.Options{})
	if _, err := st.Lock(ctx, "state rm"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	err = st.Purge(ctx)
	var pe *state.PurgeError
	if !errors.As(err, &pe) {
		t.Fatalf("Purge by a role that may not VACUUM = %v, want a PurgeError", err)
	}
	for _, want := range []string{"VACUUM FULL", "skipped", "owns them", "connections", "may remain"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "AT-gone") {
		t.Error("the error holds a token")
	}
	if len(pe.Conns) != 1 || pe.Conns[0] != "gone" {
		t.Errorf("PurgeError.Conns = %q", pe.Conns)
	}
	bk, err := st.ReadBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bk.Records) != 1 || bk.Records["keep"] == nil {
		t.Errorf("backup holds %d records, want only keep", len(bk.Records))
	}
}
