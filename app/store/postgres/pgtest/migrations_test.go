package pgtest_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
	"github.com/openrouter-proxy/openrouter-proxy/migrations"
)

// The tests here apply migrations/postgres to a real PostgreSQL and hold
// the schema to SQLite's, applied to a real SQLite, so that the two
// dialects stay in step: same versions, tables, columns, keys and indexes.

// postgresProvider returns goose over the PostgreSQL migrations for db.
func postgresProvider(tb testing.TB, db *sql.DB, opts ...goose.ProviderOption) *goose.Provider {
	tb.Helper()
	sub, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// migratedPostgres returns a fresh database with every migration applied.
func migratedPostgres(tb testing.TB) *sql.DB {
	tb.Helper()
	db := openDB(tb, pgtest.Start(tb).NewDatabase(tb))
	if _, err := postgresProvider(tb, db).Up(context.Background()); err != nil {
		tb.Fatalf("goose up: %v", err)
	}
	return db
}

// sqliteMigrations finds SQLite's migrations in the source tree: in
// migrations/sqlite, or in migrations itself before the dialects had a
// folder each.
func sqliteMigrations(tb testing.TB) fs.FS {
	tb.Helper()
	root := filepath.Join("..", "..", "..", "..", "migrations")
	for _, dir := range []string{filepath.Join(root, "sqlite"), root} {
		if _, err := os.Stat(filepath.Join(dir, "0001_init.sql")); err == nil {
			return os.DirFS(dir)
		}
	}
	tb.Fatalf("no SQLite migrations in %s", root)
	return nil
}

// histSum stands in for the store's hist_sum aggregate, which SQLite's
// migration 0006 calls; it runs over no row here.
type histSum struct{}

func (*histSum) Step([]byte)  {}
func (*histSum) Done() []byte { return nil }

func init() {
	sql.Register("sqlite3_pgtest", &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		return c.RegisterAggregator("hist_sum", func() *histSum { return &histSum{} }, true)
	}})
}

// migratedSQLite returns an in-memory SQLite with every SQLite migration
// applied.
func migratedSQLite(tb testing.TB) (*sql.DB, *goose.Provider) {
	tb.Helper()
	db, err := sql.Open("sqlite3_pgtest", ":memory:")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	tb.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sqliteMigrations(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.Up(context.Background()); err != nil {
		tb.Fatalf("goose up (SQLite): %v", err)
	}
	return db, p
}

// column is one column of a table, in PostgreSQL's terms.
type column struct {
	Name    string
	Type    string
	NotNull bool
}

// table is a table's columns in order and its primary key.
type table struct {
	Columns []column
	Key     []string
}

// flags are the columns that are 0/1 integers on SQLite and boolean on
// PostgreSQL.
var flags = map[string]bool{
	"body_truncated": true, "response_truncated": true, "is_stream": true, "has_usage": true,
	"admin": true, "ok": true, "stream": true,
}

// sqliteSchema returns SQLite's tables in PostgreSQL's types (INTEGER is
// bigint or, for a flag, boolean; REAL double precision; BLOB bytea), and
// its indexes as "table(columns…)" by name.
func sqliteSchema(tb testing.TB, db *sql.DB) (map[string]table, map[string]string) {
	tb.Helper()
	types := map[string]string{"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision", "BLOB": "bytea"}
	tables := map[string]table{}
	for _, name := range queryStrings(tb, db, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'goose_db_version'`) {
		rows, err := db.Query(`SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, name)
		if err != nil {
			tb.Fatal(err)
		}
		var t table
		keys := map[int]string{}
		for rows.Next() {
			var c column
			var pk int
			if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &pk); err != nil {
				tb.Fatal(err)
			}
			typ, ok := types[c.Type]
			if !ok {
				tb.Fatalf("%s.%s: SQLite type %s has no PostgreSQL counterpart here", name, c.Name, c.Type)
			}
			if typ == "bigint" && flags[c.Name] {
				typ = "boolean"
			}
			c.Type = typ
			if pk > 0 {
				keys[pk] = c.Name
				c.NotNull = true // PostgreSQL's primary keys are NOT NULL
			}
			t.Columns = append(t.Columns, c)
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
		rows.Close()
		for i := 1; i <= len(keys); i++ {
			t.Key = append(t.Key, keys[i])
		}
		tables[name] = t
	}
	indexes := map[string]string{}
	for _, name := range queryStrings(tb, db, `SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`) {
		tbl := queryString(tb, db, `SELECT tbl_name FROM sqlite_master WHERE name = ?`, name)
		cols := queryString(tb, db, `SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_index_info(?) ORDER BY seqno)`, name)
		indexes[name] = tbl + "(" + cols + ")"
	}
	return tables, indexes
}

// postgresSchema returns PostgreSQL's tables and the indexes made by
// CREATE INDEX, and checks that every text column collates as "C".
func postgresSchema(tb testing.TB, db *sql.DB) (map[string]table, map[string]string) {
	tb.Helper()
	tables := map[string]table{}
	for _, name := range queryStrings(tb, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'goose_db_version'`) {
		rows, err := db.Query(`SELECT column_name, data_type, is_nullable = 'NO', COALESCE(collation_name, '')
			FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1
			ORDER BY ordinal_position`, name)
		if err != nil {
			tb.Fatal(err)
		}
		var t table
		for rows.Next() {
			var c column
			var collation string
			if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &collation); err != nil {
				tb.Fatal(err)
			}
			if c.Type == "text" && collation != "C" {
				tb.Errorf(`%s.%s collates as %q, want "C" (bytewise, as SQLite)`, name, c.Name, collation)
			}
			t.Columns = append(t.Columns, c)
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
		rows.Close()
		t.Key = queryStrings(tb, db, `SELECT a.attname FROM pg_index i
			CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
			WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord`, name)
		tables[name] = t
	}
	indexes := map[string]string{}
	rows, err := db.Query(`SELECT ic.relname, t.relname || '(' || (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
			FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) || ')'
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			tb.Fatal(err)
		}
		indexes[name] = def
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return tables, indexes
}

func queryStrings(tb testing.TB, db *sql.DB, query string, args ...any) []string {
	tb.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			tb.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	pg := migratedPostgres(t)
	lite, liteProvider := migratedSQLite(t)

	t.Run("SameVersions", func(t *testing.T) {
		versions := func(p *goose.Provider) []int64 {
			var vs []int64
			for _, s := range p.ListSources() {
				vs = append(vs, s.Version)
			}
			return vs
		}
		pgVersions := versions(postgresProvider(t, pg))
		if want := []int64{1, 2, 3, 4, 5, 6}; !slices.Equal(pgVersions[:min(6, len(pgVersions))], want) {
			t.Fatalf("PostgreSQL versions %v, want %v first", pgVersions, want)
		}
		if liteVersions := versions(liteProvider); !slices.Equal(pgVersions, liteVersions) {
			t.Fatalf("PostgreSQL versions %v, SQLite %v", pgVersions, liteVersions)
		}
		if v, err := postgresProvider(t, pg).GetDBVersion(ctx); err != nil || v != pgVersions[len(pgVersions)-1] {
			t.Fatalf("database at version %d (%v), want %d", v, err, pgVersions[len(pgVersions)-1])
		}
	})

	pgTables, pgIndexes := postgresSchema(t, pg)
	liteTables, liteIndexes := sqliteSchema(t, lite)

	t.Run("SameTables", func(t *testing.T) {
		for name, want := range liteTables {
			got, ok := pgTables[name]
			if !ok {
				t.Errorf("table %s missing on PostgreSQL", name)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("table %s:\nPostgreSQL %+v\nSQLite     %+v", name, got, want)
			}
		}
		var extra []string
		for name := range pgTables {
			if _, ok := liteTables[name]; !ok {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		if want := []string{"request_seq_counter"}; !slices.Equal(extra, want) {
			t.Errorf("tables only on PostgreSQL: %v, want %v", extra, want)
		}
	})

	t.Run("RequestsColumns", func(t *testing.T) {
		// The old system's names, which its data is imported by.
		want := []string{"id", "timestamp", "method", "url", "path", "query", "headers", "body", "body_size",
			"body_truncated", "key_hash", "key_mask", "client_addr", "response_status", "response_headers",
			"response_body", "response_size", "response_truncated", "is_stream", "model_requested", "model",
			"content", "reasoning", "tool_calls", "finish_reason", "generation_id", "prompt_tokens",
			"completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens", "cost", "upstream_cost",
			"has_usage", "duration_ms", "ttfb_ms", "ttft_ms", "attempts", "outcome", "error", "provider"}
		var got []string
		for _, c := range pgTables["requests"].Columns {
			got = append(got, c.Name)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("requests columns\n got %v\nwant %v", got, want)
		}
	})

	t.Run("SameIndexes", func(t *testing.T) {
		if len(liteIndexes) == 0 {
			t.Fatal("no index read from SQLite")
		}
		if !reflect.DeepEqual(pgIndexes, liteIndexes) {
			t.Fatalf("indexes\nPostgreSQL %v\nSQLite     %v", pgIndexes, liteIndexes)
		}
	})

	t.Run("NewDatabaseIsBuilt", func(t *testing.T) {
		got := queryStrings(t, pg, `SELECT name || '=' || value FROM rollup_state ORDER BY name`)
		if want := []string{"built=1"}; !slices.Equal(got, want) {
			t.Fatalf("rollup_state %v, want %v", got, want)
		}
		if got := queryString(t, pg, `SELECT seq::text FROM request_seq_counter`); got != "0" {
			t.Fatalf("request_seq_counter at %s, want 0", got)
		}
	})

	t.Run("DownAndUpAgain", func(t *testing.T) {
		db := migratedPostgres(t)
		p := postgresProvider(t, db)
		if _, err := p.DownTo(ctx, 0); err != nil {
			t.Fatalf("goose down: %v", err)
		}
		if got := queryStrings(t, db, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`); !slices.Equal(got, []string{"goose_db_version"}) {
			t.Fatalf("tables after down: %v", got)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("goose up again: %v", err)
		}
	})
}

// TestMigrationsConcurrentReplicas migrates one database from two
// replicas starting at once: with goose's PostgreSQL session lock (an
// advisory lock), one migrates and the other waits and finds nothing to do.
func TestMigrationsConcurrentReplicas(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	errs := make(chan error, 2)
	for range 2 {
		db := openDB(t, url)
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			t.Fatal(err)
		}
		p := postgresProvider(t, db, goose.WithSessionLocker(locker))
		go func() {
			_, err := p.Up(context.Background())
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("goose up: %v", err)
		}
	}
	db := openDB(t, url)
	files, err := fs.Glob(migrations.Postgres, "postgres/*.sql")
	if err != nil || len(files) < 7 {
		t.Fatalf("migration files %v, %v", files, err)
	}
	if got, want := queryString(t, db, `SELECT COUNT(*)::text FROM goose_db_version WHERE version_id > 0`), strconv.Itoa(len(files)); got != want {
		t.Fatalf("%s migrations recorded, want %s, once each", got, want)
	}
}

// TestCommitSeqCounter follows the protocol migration 0003 describes with
// two writers: the second cannot take seqs while the first has taken them
// and not committed, so seqs follow commit order, and a rolled back batch
// leaves no gap.
func TestCommitSeqCounter(t *testing.T) {
	db := migratedPostgres(t)
	ctx := context.Background()
	insert := func(tx *sql.Tx, id string) {
		t.Helper()
		if _, err := tx.Exec(`INSERT INTO requests (id, timestamp, method, url, path, headers, outcome)
			VALUES ($1, '2026-12-01T20:00:00.000000Z', 'POST', '/api/v1/chat/completions', 'chat/completions', '{}', 'ok')`, id); err != nil {
			t.Fatal(err)
		}
	}
	takeSeq := func(tx *sql.Tx, id string) error {
		t.Helper()
		var seq int64
		if err := tx.QueryRow(`UPDATE request_seq_counter SET seq = seq + 1 RETURNING seq`).Scan(&seq); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO request_seq (seq, id) VALUES ($1, $2)`, seq, id)
		return err
	}
	begin := func() *sql.Tx {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}

	first, second := begin(), begin()
	insert(second, "b") // the second writer starts first
	insert(first, "a")
	if err := takeSeq(first, "a"); err != nil {
		t.Fatal(err)
	}
	// While the first holds the counter, the second cannot take a seq.
	if _, err := second.Exec(`SET LOCAL lock_timeout = '50ms'; SAVEPOINT before_seq`); err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	if err := takeSeq(second, "b"); !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Fatalf("second writer took a seq while the first held the counter: %v", err)
	}
	if _, err := second.Exec(`ROLLBACK TO SAVEPOINT before_seq; SET LOCAL lock_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := takeSeq(second, "b"); err != nil {
		t.Fatal(err)
	}
	if err := second.Commit(); err != nil {
		t.Fatal(err)
	}

	aborted := begin()
	insert(aborted, "c")
	if err := takeSeq(aborted, "c"); err != nil {
		t.Fatal(err)
	}
	if err := aborted.Rollback(); err != nil {
		t.Fatal(err)
	}
	last := begin()
	insert(last, "d")
	if err := takeSeq(last, "d"); err != nil {
		t.Fatal(err)
	}
	if err := last.Commit(); err != nil {
		t.Fatal(err)
	}

	got := queryStrings(t, db, `SELECT seq || ' ' || id FROM request_seq ORDER BY seq`)
	if want := []string{"1 a", "2 b", "3 d"}; !slices.Equal(got, want) {
		t.Fatalf("request_seq %v, want %v", got, want)
	}

	// Deleting a record deletes its seq, never the counter's value.
	if _, err := db.Exec(`DELETE FROM requests WHERE id = 'd'`); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, db, `SELECT (SELECT seq FROM request_seq_counter) || ' ' || (SELECT COUNT(*) FROM request_seq)`); got != "3 2" {
		t.Fatalf("counter and seq rows after a delete: %s, want 3 2", got)
	}
}
