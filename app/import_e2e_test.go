package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed/seedtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// The keys of the old system's users, stored there in the clear.
const (
	seedAlice = "sk-or-v1-seedalice0123456789abcdef0123456789abcdef0123456789abcd"
	seedBob   = "sk-or-v1-seedbob00123456789abcdef0123456789abcdef0123456789abcd"
)

// seedRows are the old system's rows the import test brings in: a
// streamed answer with usage and cost, a whole answer, an error, a keyless
// request and a malformed row.
func seedRows() (stream, whole, failed, keyless, malformed seed.Row) {
	stream = seed.Row{
		ID:        "0b7e6a52-1111-4c3e-9a57-0a1b2c3d4e5f",
		Timestamp: "2024-06-01T12:34:56.789012",
		Method:    "POST",
		URL:       "http://127.0.0.1:8080/v1/chat/completions",
		Headers:   `{"Host": "127.0.0.1:8080", "Content-Type": "application/json", "Authorization": "Bearer ` + seedAlice + `"}`,
		Body:      []byte(`{"model":"openai/gpt-4o","stream":true,"messages":[{"role":"user","content":"Greet the keeper"}]}`),
		Bearer:    seedAlice,
		Status:    "200",
		RespHeaders: `{"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", ` +
			`"Content-Encoding": "gzip"}`, // aiohttp had decoded the body
		RespBody: []byte(": OPENROUTER PROCESSING\n\n" +
			`data: {"id":"gen-s1","model":"openai/gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello from the "}}]}` + "\n\n" +
			`data: {"id":"gen-s1","model":"openai/gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"lighthouse"},"finish_reason":"stop"}]}` + "\n\n" +
			`data: {"id":"gen-s1","model":"openai/gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"cost":0.00042,"prompt_tokens_details":{"cached_tokens":4}}}` + "\n\n" +
			"data: [DONE]\n\n"),
		DurationMS: "1234.5",
	}
	whole = seed.Row{
		ID:          "0b7e6a52-2222-4c3e-9a57-0a1b2c3d4e5f",
		Timestamp:   "2024-06-01T12:40:00.5",
		Method:      "POST",
		URL:         "/v1/chat/completions",
		Headers:     `{"Content-Type": "application/json", "Authorization": "Bearer ` + seedBob + `"}`, // no authorization_bearer
		Body:        []byte(`{"model":"anthropic/claude-3.5-sonnet","messages":[{"role":"user","content":"Say hello in French"}]}`),
		Status:      "200",
		RespHeaders: `{"Content-Type": "application/json"}`,
		RespBody:    []byte(`{"id":"gen-w1","model":"anthropic/claude-3.5-sonnet","choices":[{"message":{"role":"assistant","content":"Bonjour"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"cost":0.001}}`),
		DurationMS:  "800",
	}
	failed = seed.Row{
		ID:         "0b7e6a52-3333-4c3e-9a57-0a1b2c3d4e5f",
		Timestamp:  "2024-06-01T12:41:00",
		Method:     "POST",
		URL:        "/v1/chat/completions",
		Headers:    `{"Content-Type": "application/json", "Authorization": "Bearer ` + seedAlice + `"}`,
		Body:       []byte(`{"model":"openai/gpt-4o","messages":[{"role":"user","content":"Are you there?"}]}`),
		Bearer:     seedAlice,
		DurationMS: "30000",
		Error:      "Cannot connect to host openrouter.ai:443 ssl:default",
	}
	keyless = seed.Row{
		ID:          "0b7e6a52-4444-4c3e-9a57-0a1b2c3d4e5f",
		Timestamp:   "2024-06-01T12:42:00",
		Method:      "GET",
		URL:         "/v1/models",
		Headers:     `{"Accept": "application/json"}`,
		Status:      "200",
		RespHeaders: `{"Content-Type": "application/json"}`,
		RespBody:    []byte(`{"data":[]}`),
		DurationMS:  "45.25",
	}
	malformed = seed.Row{
		ID:        "0b7e6a52-5555-4c3e-9a57-0a1b2c3d4e5f",
		Timestamp: "yesterday",
		Method:    "POST",
		URL:       "/v1/chat/completions",
		Headers:   `{}`,
		Bearer:    seedAlice,
	}
	return
}

// importedRow is what the test reads back of an imported record.
type importedRow struct {
	ID, Timestamp, Method, URL, Path, KeyHash, KeyMask, Outcome, Error, Content string
	Model, ModelRequested, Headers, RespHeaders                                 string
	Status, PromptTokens, CompletionTokens, CachedTokens                        int64
	Stream                                                                      bool
	Cost, Duration                                                              float64
}

// TestImportSeedSubcommand: `openrouter-proxy import-seed PATH` brings in a
// database of the original system through the store's writer, with exact
// values, never stores a plaintext key, changes nothing when run again,
// its records reach the search index and the statistics, and it refuses
// to run beside the service.
func TestImportSeedSubcommand(t *testing.T) {
	stream, whole, failed, keyless, malformed := seedRows()
	seedPath := filepath.Join(t.TempDir(), "proxy_requests.db")
	if err := seedtest.WriteFile(context.Background(), seedPath, slices.Values([]seed.Row{stream, whole, failed, keyless, malformed})); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	const admin = "sk-or-v1-seed-admin-0123456789abcdef0123456789abcdef01234567"
	vars := map[string]string{"DATA_DIR": dataDir, "LOG_LEVEL": "warn", "SUPER_ADMIN_APIKEY": admin}
	env := func(k string) string { return vars[k] }
	importSeed := func() string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), []string{"import-seed", seedPath}, env, &out, &out); err != nil {
			t.Fatalf("import-seed: %v\n%s", err, out.String())
		}
		return out.String()
	}

	out := importSeed()
	for _, want := range []string{"importing", "100%", "imported 4, skipped 0 already present, failed 1 (bad timestamp: 1) in ",
		`msg="seed: row skipped" id=` + malformed.ID + ` reason="bad timestamp"`} {
		if !strings.Contains(out, want) {
			t.Errorf("first run's output lacks %q:\n%s", want, out)
		}
	}

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, "proxy_requests.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]importedRow{}
	q, err := db.Query(`SELECT id, timestamp, method, url, path, key_hash, key_mask, outcome, coalesce(error, ''),
		coalesce(content, ''), coalesce(model, ''), coalesce(model_requested, ''), headers, coalesce(response_headers, ''),
		coalesce(response_status, 0), coalesce(prompt_tokens, 0), coalesce(completion_tokens, 0), coalesce(cached_tokens, 0),
		coalesce(is_stream, 0), coalesce(cost, 0), coalesce(duration_ms, 0) FROM requests`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var r importedRow
		if err := q.Scan(&r.ID, &r.Timestamp, &r.Method, &r.URL, &r.Path, &r.KeyHash, &r.KeyMask, &r.Outcome, &r.Error,
			&r.Content, &r.Model, &r.ModelRequested, &r.Headers, &r.RespHeaders, &r.Status, &r.PromptTokens,
			&r.CompletionTokens, &r.CachedTokens, &r.Stream, &r.Cost, &r.Duration); err != nil {
			t.Fatal(err)
		}
		got[r.ID] = r
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if len(got) != 4 {
		t.Fatalf("%d records stored, want 4", len(got))
	}
	id := func(r seed.Row) string {
		t.Helper()
		v, err := seed.ID(r, seed.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	alice, bob := capture.Fingerprint(seedAlice), capture.Fingerprint(seedBob)
	want := map[string]importedRow{
		id(stream): {ID: id(stream), Timestamp: "2024-06-01T12:34:56.789012Z", Method: "POST", URL: "/v1/chat/completions",
			Path: "/chat/completions", KeyHash: alice, KeyMask: "sk-or-v1…abcd", Outcome: "ok", Content: "Hello from the lighthouse",
			Model: "openai/gpt-4o-2024-08-06", ModelRequested: "openai/gpt-4o",
			Headers:     `{"Authorization":"Bearer sk-or-v1…abcd","Content-Type":"application/json","Host":"127.0.0.1:8080"}`,
			RespHeaders: `{"Cache-Control":"no-cache","Content-Type":"text/event-stream; charset=utf-8"}`,
			Status:      200, PromptTokens: 12, CompletionTokens: 3, CachedTokens: 4, Stream: true, Cost: 0.00042, Duration: 1234.5},
		id(whole): {ID: id(whole), Timestamp: "2024-06-01T12:40:00.500000Z", Method: "POST", URL: "/v1/chat/completions",
			Path: "/chat/completions", KeyHash: bob, KeyMask: "sk-or-v1…abcd", Outcome: "ok", Content: "Bonjour",
			Model: "anthropic/claude-3.5-sonnet", ModelRequested: "anthropic/claude-3.5-sonnet",
			Headers:     `{"Authorization":"Bearer sk-or-v1…abcd","Content-Type":"application/json"}`,
			RespHeaders: `{"Content-Type":"application/json"}`,
			Status:      200, PromptTokens: 7, CompletionTokens: 2, Cost: 0.001, Duration: 800},
		id(failed): {ID: id(failed), Timestamp: "2024-06-01T12:41:00.000000Z", Method: "POST", URL: "/v1/chat/completions",
			Path: "/chat/completions", KeyHash: alice, KeyMask: "sk-or-v1…abcd", Outcome: "proxy_error",
			Error: "Cannot connect to host openrouter.ai:443 ssl:default", ModelRequested: "openai/gpt-4o",
			Headers: `{"Authorization":"Bearer sk-or-v1…abcd","Content-Type":"application/json"}`, RespHeaders: `{}`, Duration: 30000},
		id(keyless): {ID: id(keyless), Timestamp: "2024-06-01T12:42:00.000000Z", Method: "GET", URL: "/v1/models",
			Path: "/models", Outcome: "ok", Headers: `{"Accept":"application/json"}`, RespHeaders: `{"Content-Type":"application/json"}`,
			Status: 200, Duration: 45.25},
	}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("record %s:\n got %+v\nwant %+v", k, g, w)
		}
	}

	// The old plaintext keys are nowhere in DATA_DIR: not in the
	// database, nor in its WAL, nor in any other file.
	noPlaintextKeys(t, dataDir)

	t.Run("AgainChangesNothing", func(t *testing.T) {
		before := dump(t, db)
		out := importSeed()
		if !strings.Contains(out, "imported 0, skipped 4 already present, failed 1 (bad timestamp: 1) in ") {
			t.Errorf("second run's output:\n%s", out)
		}
		if strings.Contains(out, "search index") {
			t.Errorf("second run speaks of new records:\n%s", out)
		}
		if after := dump(t, db); after != before {
			t.Errorf("the second run changed the database:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("SearchIndexCatchesUp", func(t *testing.T) {
		// The service's index, opened on these files as the service opens
		// it, takes the imported records from SQLite.
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		st, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "proxy_requests.db"), sqlite.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ix, err := search.Open(search.Options{Dir: filepath.Join(dataDir, "search"), Source: st, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		feed, err := st.Feed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ix.Wait(ctx, feed.MaxSeq); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			query string
			who   store.Viewer
			ids   []string
		}{
			{"lighthouse", store.Viewer{Admin: true}, []string{id(stream)}},
			{"lighthouse", store.Viewer{KeyHash: alice}, []string{id(stream)}},
			{"lighthouse", store.Viewer{KeyHash: bob}, nil},
			{"bonjour", store.Viewer{KeyHash: bob}, []string{id(whole)}},
		} {
			pq, err := search.Parse(c.query)
			if err != nil {
				t.Fatal(err)
			}
			res, err := ix.Search(ctx, search.Request{Query: pq, Viewer: c.who, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.IDs, c.ids) {
				t.Errorf("search %q as %+v: %v, want %v", c.query, c.who, res.IDs, c.ids)
			}
		}
		noPlaintextKeys(t, dataDir)
	})

	t.Run("StatsCountThemOnce", func(t *testing.T) {
		app := startApp(t, vars)
		var out bytes.Buffer
		err := run(context.Background(), []string{"import-seed", seedPath}, env, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "in use by another process (is the service running?)") {
			t.Errorf("import-seed beside the running service: %v\n%s", err, out.String())
		}
		for _, c := range []struct {
			key  string
			want map[string]float64
		}{
			{admin, map[string]float64{"total_requests": 4, "success_count": 3, "error_count": 1,
				"prompt_tokens": 19, "completion_tokens": 5, "total_cost": 0.00142}},
			{seedAlice, map[string]float64{"total_requests": 2, "success_count": 1, "error_count": 1,
				"prompt_tokens": 12, "completion_tokens": 3, "total_cost": 0.00042}},
		} {
			resp := app.doWeb("GET", "/api/stats", map[string]string{"Authorization": "Bearer " + c.key})
			var stats map[string]any
			err := json.NewDecoder(resp.Body).Decode(&stats)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("/api/stats: %d, %v", resp.StatusCode, err)
			}
			for k, w := range c.want {
				if g, _ := stats[k].(float64); fmt.Sprintf("%.6g", g) != fmt.Sprintf("%.6g", w) {
					t.Errorf("%s's %s = %v, want %v", capture.Mask(c.key), k, stats[k], w)
				}
			}
		}
	})
}

// noPlaintextKeys fails if a file under dir holds one of the old system's
// plaintext keys.
func noPlaintextKeys(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, key := range []string{seedAlice, seedBob} {
			if bytes.Contains(b, []byte(key)) {
				t.Errorf("%s holds a plaintext key", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dump returns every row of every table of db as text, in a fixed order.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	tables, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	tables.Close()
	var out strings.Builder
	for _, n := range names {
		rows, err := db.Query(`SELECT * FROM "` + n + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%q", vals))
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&out, "%s: %d rows %x\n", n, len(lines), sha256.Sum256([]byte(strings.Join(lines, "\n"))))
	}
	return out.String()
}

// TestImportSeedRefusesOtherFiles: a file that is not a database of the
// original system gets one clear line, and nothing is created.
func TestImportSeedRefusesOtherFiles(t *testing.T) {
	dataDir := t.TempDir()
	env := func(k string) string { return map[string]string{"DATA_DIR": dataDir, "LOG_LEVEL": "warn"}[k] }
	notes := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notes, []byte("just some notes, not SQLite at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import-seed", notes}, "import-seed: seed: " + notes + ": not a database of the original system: file is not a database"},
		{[]string{"import-seed", filepath.Join(dataDir, "missing.db")}, "no such file or directory"},
		{[]string{"import-seed"}, "import-seed: want the path of the original system's database"},
		{[]string{"import-seed", "-tz", "Mars/Olympus", notes}, `import-seed: -tz "Mars/Olympus": not a time zone`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), c.args, env, &out, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line with %q", c.args, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("DATA_DIR holds %d entries after refused imports, want none", len(entries))
	}
}
