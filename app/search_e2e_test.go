package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestReindexSubcommand: `openrouter-proxy reindex` rebuilds the index from
// SQLite with a progress bar, refuses to run beside the service (which
// holds the index), and leaves an index the next start uses at once.
func TestReindexSubcommand(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	client := app.client(testKey)
	for _, word := range []string{"alpha", "bravo", "charlie"} {
		if _, err := client.Chat.Completions.New(context.Background(), chatParams("openai/gpt-4o-mini", word)); err != nil {
			t.Fatal(errorString(err))
		}
	}
	app.rows(3, "1=1")
	env := func(k string) string { return map[string]string{"DATA_DIR": app.dataDir, "LOG_LEVEL": "warn"}[k] }

	var out bytes.Buffer
	err := run(context.Background(), []string{"reindex"}, env, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("reindex beside the running service: %v", err)
	}
	if err := app.stop(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"reindex"}, env, &out, &out); err != nil {
		t.Fatalf("reindex: %v\n%s", err, out.String())
	}
	if s := out.String(); !strings.Contains(s, "indexing") || !strings.Contains(s, "100%") || !strings.Contains(s, "indexed 3 records") {
		t.Fatalf("reindex output:\n%s", s)
	}

	// Open decides before the banner, and says so when it cannot use the
	// index it finds.
	again := startApp(t, map[string]string{"OPENAI_API_BASE": base, "DATA_DIR": app.dataDir})
	if logs := again.logs.String(); strings.Contains(logs, "cannot be used") || strings.Contains(logs, "building the index") {
		t.Errorf("the service rebuilt a freshly reindexed index:\n%s", logs)
	}
}
