package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
)

// TestMain shares one throwaway PostgreSQL cluster between the tests that
// ask for it, and removes it at the end.
func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// scaleAdmin is the dashboard's admin key in the scale-out tests.
const scaleAdmin = "sk-or-v1-scale-admin-0123456789abcdef0123456789abcdef"

// markerRE finds an exchange's marker in a stored request body: "mk", a
// letter for the load it belongs to, five digits. Bleve keeps it one token.
var markerRE = regexp.MustCompile(`\bmk[a-z][0-9]{5}\b`)

// sent is one exchange of a load, as its client saw it.
type sent struct {
	marker string
	proxy  string // the process it went through
	stream bool
	genID  string // the completion's id, which the record keeps as generation_id
	err    error  // nil: the client saw the whole exchange
	// afterKill says B's worker saw the failure once B was being killed.
	afterKill bool
	phase     int32 // TestOutage: the database's state when it ended
}

// sentLog collects the exchanges of concurrent workers.
type sentLog struct {
	mu   sync.Mutex
	list []sent
}

func (l *sentLog) add(s sent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, s)
}

func (l *sentLog) all() []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sent(nil), l.list...)
}

// testApp returns a testApp for the helpers that only talk to the process
// over HTTP (client, get, login, waitHealth).
func (b *binApp) testApp() *testApp {
	return &testApp{t: b.t, proxyURL: b.proxyURL, webURL: b.webURL}
}

// scaleClient is an SDK client of the proxy at proxyURL, whose streams the
// mock paces at delayMs between events.
func scaleClient(proxyURL string, delayMs int) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(proxyURL+"/v1/"),
		option.WithAPIKey(testKey),
		option.WithMaxRetries(0),
		option.WithHeader("X-Mock-Delay-Ms", fmt.Sprint(delayMs)),
	)
}

// converse sends one chat completion carrying marker, streamed or not, and
// returns the completion's id once the client has seen all of it: a
// finish reason and the reply, which echoes the marker. A stream cut short
// is an error even when the SDK reports none.
func converse(ctx context.Context, client openai.Client, marker string, stream bool) (string, error) {
	params := chatParams("mock/slow", "scale out "+marker+" please")
	if !stream {
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			return "", err
		}
		if len(resp.Choices) != 1 || resp.Choices[0].FinishReason == "" || !strings.Contains(resp.Choices[0].Message.Content, marker) {
			return "", fmt.Errorf("incomplete reply: %s", resp.RawJSON())
		}
		return resp.ID, nil
	}
	s := client.Chat.Completions.NewStreaming(ctx, params)
	defer s.Close()
	var id, finish string
	var content strings.Builder
	for s.Next() {
		c := s.Current()
		id = c.ID
		for _, ch := range c.Choices {
			content.WriteString(ch.Delta.Content)
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	if finish == "" || !strings.Contains(content.String(), marker) {
		return "", fmt.Errorf("stream ended early: %q, finish reason %q", content.String(), finish)
	}
	return id, nil
}

// apiGet GETs path from the dashboard at webURL with the admin key and,
// on a 200, decodes the JSON answer into v. It returns the status and body.
func apiGet(t *testing.T, webURL, path string, v any) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", webURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+scaleAdmin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
	}
	return resp.StatusCode, string(body)
}

// apiList is the part of GET /api/requests the tests read.
type apiList struct {
	Requests []struct {
		ID           string `json:"id"`
		GenerationID string `json:"generation_id"`
	} `json:"requests"`
	Total   int64  `json:"total_count"`
	Backend string `json:"search_backend"`
}

// apiTotals is the part of GET /api/stats the tests read.
type apiTotals struct {
	Total            int64   `json:"total_requests"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	TotalTokens      int64   `json:"total_tokens"`
	Cost             float64 `json:"total_cost"`
}

// pgRecord is a stored exchange, as SQL reads it.
type pgRecord struct{ id, genID string }

// openPG opens the PostgreSQL database at dbURL, closed when t ends.
func openPG(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// recordsByMarker reads every stored exchange from PostgreSQL, by the
// marker in its request body. A record without a marker fails the test:
// only the test's clients sent anything.
func recordsByMarker(t *testing.T, db *sql.DB) map[string][]pgRecord {
	t.Helper()
	q, err := db.Query(`SELECT id, body, coalesce(generation_id, '') FROM requests`)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out := map[string][]pgRecord{}
	for q.Next() {
		var r pgRecord
		var body []byte
		if err := q.Scan(&r.id, &body, &r.genID); err != nil {
			t.Fatal(err)
		}
		m := markerRE.Find(body)
		if m == nil {
			t.Fatalf("record %s has no marker: %.200s", r.id, body)
		}
		out[string(m)] = append(out[string(m)], r)
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRecorded checks that no exchange of list is stored twice, that
// what is stored of an exchange its client saw complete has its
// completion's id, and, if all, that every such exchange is stored. It
// returns how many of list are stored.
func checkRecorded(t *testing.T, recs map[string][]pgRecord, list []sent, all bool) int {
	t.Helper()
	stored := 0
	for _, s := range list {
		rs := recs[s.marker]
		if len(rs) > 1 {
			t.Errorf("%s (%s): recorded %d times", s.marker, s.proxy, len(rs))
		}
		if len(rs) > 0 {
			stored++
		}
		switch {
		case s.err != nil:
		case len(rs) == 0 && all:
			t.Errorf("%s (%s, stream %t): completed for its client but not recorded", s.marker, s.proxy, s.stream)
		case len(rs) > 0 && rs[0].genID != s.genID:
			t.Errorf("%s: recorded generation %q, the client saw %q", s.marker, rs[0].genID, s.genID)
		}
	}
	return stored
}

// awaitCount waits, up to a deadline, until n() reaches want; progress is
// signalled whenever n may have grown.
func awaitCount(t *testing.T, progress <-chan struct{}, n func() int32, want int32, what string) {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for n() < want {
		select {
		case <-progress:
		case <-deadline.C:
			t.Fatalf("%s: %d after 60s, want %d", what, n(), want)
		}
	}
}

// TestReplicas runs the scale-out layout as users run it: one dashboard
// and two proxy replicas, real processes on one PostgreSQL database,
// under concurrent load with streams. Proxy B is killed mid-load. Every
// exchange a client saw complete on A is recorded once; the dashboard's
// search finds every record, its stats equal SQL, and it lists a new
// exchange within 2 s.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs PostgreSQL")
	}
	start := time.Now()
	bin := buildBinary(t)
	dbURL := pgtest.Start(t).NewDatabase(t)
	_, base := startMockServer(t)
	env := func(role string) map[string]string {
		return map[string]string{"ROLE": role, "DATABASE_URL": dbURL, "OPENAI_API_BASE": base,
			"SUPER_ADMIN_APIKEY": scaleAdmin, "SHUTDOWN_GRACE": "10"}
	}
	// The dashboard first: it migrates the database.
	dash := startBinary(t, bin, env("dashboard"))
	a := startBinary(t, bin, env("proxy"))
	b := startBinary(t, bin, env("proxy"))
	if dash.proxyURL != "" || dash.webURL == "" || a.proxyURL == "" || a.webURL == "" {
		t.Fatalf("banners: dashboard proxy %q web %q; proxy A proxy %q health %q", dash.proxyURL, dash.webURL, a.proxyURL, a.webURL)
	}
	if _, health := a.testApp().get("/healthz", nil); !strings.HasPrefix(health, "ok\n") {
		t.Fatalf("proxy A /healthz:\n%s", health)
	}
	t.Logf("started in %v", time.Since(start).Round(time.Millisecond))

	// Six workers on each proxy; two exchanges in three are streamed, at
	// 3 ms between events. A does onA exchanges; B is killed once it has
	// completed killAfter, while A is still busy.
	const (
		workers   = 6
		onA       = 240
		killAfter = 60
	)
	// Ended on a failure, so that B's workers do not go on failing.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clientA, clientB := scaleClient(a.proxyURL, 3), scaleClient(b.proxyURL, 3)
	var load sentLog
	var claimedA, claimedB, doneB atomic.Int32
	busyB := make(chan struct{}) // closed once B has completed killAfter exchanges
	killing := make(chan struct{})
	loadStart := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := claimedA.Add(1)
				if i > onA {
					return
				}
				s := sent{marker: fmt.Sprintf("mka%05d", i), proxy: "A", stream: i%3 != 0}
				s.genID, s.err = converse(ctx, clientA, s.marker, s.stream)
				load.add(s)
			}
		})
		wg.Go(func() {
			for ctx.Err() == nil {
				i := claimedB.Add(1)
				s := sent{marker: fmt.Sprintf("mkb%05d", i), proxy: "B", stream: i%3 != 0}
				s.genID, s.err = converse(ctx, clientB, s.marker, s.stream)
				if s.err != nil {
					select {
					case <-killing:
						s.afterKill = true
					default:
					}
				}
				load.add(s)
				if s.afterKill {
					return
				}
				if s.err == nil && doneB.Add(1) == killAfter {
					close(busyB)
				}
			}
		})
	}
	select {
	case <-busyB:
	case <-time.After(60 * time.Second):
		t.Fatalf("B completed %d exchanges in 60s", doneB.Load())
	}
	claimedAtKill := claimedA.Load()
	close(killing)
	b.signal(syscall.SIGKILL)
	if err := b.wait(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("B exited with %v, want killed", err)
	}
	wg.Wait()
	t.Logf("load: %v; B killed when %d of A's %d exchanges had started", time.Since(loadStart).Round(time.Millisecond), claimedAtKill, onA)
	if claimedAtKill >= onA {
		t.Fatalf("A's load was over before B was killed")
	}

	exchanges := load.all()
	var ofA, ofB []sent
	streamed, cutOnB := 0, 0
	for _, s := range exchanges {
		if s.stream {
			streamed++
		}
		if s.proxy == "A" {
			ofA = append(ofA, s)
			if s.err != nil {
				t.Errorf("%s through A, the survivor, failed: %s", s.marker, errorString(s.err))
			}
			continue
		}
		ofB = append(ofB, s)
		switch {
		case s.afterKill:
			cutOnB++
		case s.err != nil:
			t.Errorf("%s through B failed before B was killed: %s", s.marker, errorString(s.err))
		}
	}
	if len(ofA) != onA || streamed*2 < len(exchanges) {
		t.Fatalf("%d exchanges through A, want %d; %d of %d streamed", len(ofA), onA, streamed, len(exchanges))
	}
	if cutOnB == 0 {
		t.Error("no exchange was in flight on B when it was killed: the kill was not mid-load")
	}

	// Live: one more exchange through A; the dashboard lists it, and its
	// search (fed by following the database) finds it, within 2 s.
	live := sent{marker: "mkl00001", proxy: "A", stream: true}
	live.genID, live.err = converse(ctx, clientA, live.marker, true)
	seen := time.Now()
	if live.err != nil {
		t.Fatal(errorString(live.err))
	}
	listed := awaitAPI(t, seen, 2*time.Second, dash.webURL, "/api/requests?page_size=10", func(l apiList) bool {
		return len(l.Requests) > 0 && l.Requests[0].GenerationID == live.genID
	})
	found := awaitAPI(t, seen, 2*time.Second, dash.webURL, "/api/requests?search="+exact(live.marker), func(l apiList) bool {
		return l.Backend == "index" && l.Total == 1 && len(l.Requests) == 1 && l.Requests[0].GenerationID == live.genID
	})
	t.Logf("live: listed %v and found by search %v after its client saw it complete",
		listed.Round(time.Millisecond), found.Round(time.Millisecond))
	ofA = append(ofA, live)

	// SIGTERM flushes A's queue.
	a.signal(syscall.SIGTERM)
	if err := a.wait(30 * time.Second); err != nil {
		t.Fatalf("A exited with %v after SIGTERM, want status 0\n%s", err, a.stderr)
	}

	db := openPG(t, dbURL)
	recs := recordsByMarker(t, db)
	storedA := checkRecorded(t, recs, ofA, true)
	storedB := checkRecorded(t, recs, ofB, false)
	completedB, lostB := 0, 0
	for _, s := range ofB {
		if s.err == nil {
			completedB++
			if len(recs[s.marker]) == 0 {
				lostB++
			}
		}
	}
	if n := len(recs); n != storedA+storedB {
		t.Errorf("%d markers recorded, %d of the exchanges sent", n, storedA+storedB)
	}
	t.Logf("A: %d exchanges, %d recorded; B: %d completed before the kill, %d of them lost with its queue; %d cut by the kill, %d of those recorded",
		len(ofA), storedA, completedB, lostB, cutOnB, storedB-(completedB-lostB))

	// The dashboard's search finds every stored exchange by its marker,
	// through its index, once the index has followed the database.
	pending := map[string]string{} // marker → record id
	for m, rs := range recs {
		pending[m] = rs[0].id
	}
	searchStart := time.Now()
	for deadline := time.Now().Add(20 * time.Second); ; {
		for m, id := range pending {
			var l apiList
			status, body := apiGet(t, dash.webURL, "/api/requests?search="+exact(m), &l)
			if status != http.StatusOK {
				t.Fatalf("search %s: status %d: %s", m, status, body)
			}
			if l.Backend == "index" && l.Total == 1 && len(l.Requests) == 1 && l.Requests[0].ID == id {
				delete(pending, m)
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s on, search does not find %d of %d records, e.g. %v", len(pending), len(recs), firstKey(pending))
		}
		time.Sleep(50 * time.Millisecond) // the index offers no event to await
	}
	t.Logf("search found all %d records in %v", len(recs), time.Since(searchStart).Round(time.Millisecond))

	// Stats equal SQL. Nothing is being written any more.
	var want apiTotals
	if err := db.QueryRow(`SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),
		coalesce(sum(total_tokens), 0), coalesce(sum(cost), 0) FROM requests`).Scan(
		&want.Total, &want.PromptTokens, &want.CompletionTokens, &want.TotalTokens, &want.Cost); err != nil {
		t.Fatal(err)
	}
	if want.Total != int64(len(recs)) || want.PromptTokens == 0 || want.CompletionTokens == 0 {
		t.Fatalf("SQL: %+v for %d records", want, len(recs))
	}
	var got apiTotals
	if status, body := apiGet(t, dash.webURL, "/api/stats", &got); status != http.StatusOK {
		t.Fatalf("/api/stats: status %d: %s", status, body)
	}
	if got.Total != want.Total || got.PromptTokens != want.PromptTokens || got.CompletionTokens != want.CompletionTokens ||
		got.TotalTokens != want.TotalTokens || math.Abs(got.Cost-want.Cost) > 1e-9*math.Max(1, want.Cost) {
		t.Errorf("/api/stats %+v, SQL %+v", got, want)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// awaitAPI polls GET path on the dashboard until ok accepts the listing,
// and returns how long after since that was. It fails the test once
// within has passed since since.
func awaitAPI(t *testing.T, since time.Time, within time.Duration, webURL, path string, ok func(apiList) bool) time.Duration {
	t.Helper()
	for {
		var l apiList
		status, body := apiGet(t, webURL, path, &l)
		if status != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", path, status, body)
		}
		if ok(l) {
			return time.Since(since)
		}
		if d := time.Since(since); d > within {
			t.Fatalf("GET %s: not there %v after the client saw the exchange complete; last answer:\n%s", path, d, body)
		}
		time.Sleep(10 * time.Millisecond) // the follower offers no event to await
	}
}

// exact is the search for marker alone: quoted, a phrase matches exactly,
// where a bare word also matches words within one edit of it (mka00001
// would find mkb00001).
func exact(marker string) string { return url.QueryEscape(`"` + marker + `"`) }

// firstKey returns one key of m, for a message.
func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// TestOutage stops PostgreSQL for 5 s under load on a process running
// both roles. The proxy keeps answering meanwhile, /healthz says degraded
// and the dashboard says the database is unreachable with a 503; once the
// database is back, every exchange a client saw complete is recorded once.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs PostgreSQL")
	}
	start := time.Now()
	bin := buildBinary(t)
	c := pgtest.New(t)
	dbURL := c.NewDatabase(t)
	_, base := startMockServer(t)
	p := startBinary(t, bin, map[string]string{"DATABASE_URL": dbURL, "OPENAI_API_BASE": base,
		"SUPER_ADMIN_APIKEY": scaleAdmin, "SHUTDOWN_GRACE": "10"})
	web := p.testApp()
	cookie := web.login(scaleAdmin)
	web.waitHealth("ok")
	t.Logf("started in %v", time.Since(start).Round(time.Millisecond))

	// Four workers; two exchanges in three are streamed, at 10 ms between
	// events. phase is the database's state: 0 up, 1 down, 2 back.
	const workers = 4
	client := scaleClient(p.proxyURL, 10)
	var phase atomic.Int32
	var completed [3]atomic.Int32 // by the phase they ended in
	var whileDown atomic.Int32    // begun and ended while the database was down
	var stop atomic.Bool
	progress := make(chan struct{}, 1)
	var load sentLog
	var wg sync.WaitGroup
	var claimed atomic.Int32
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				i := claimed.Add(1)
				s := sent{marker: fmt.Sprintf("mko%05d", i), proxy: "all", stream: i%3 != 0}
				began := phase.Load()
				s.genID, s.err = converse(context.Background(), client, s.marker, s.stream)
				s.phase = phase.Load()
				load.add(s)
				if s.err == nil {
					completed[s.phase].Add(1)
					if began == 1 && s.phase == 1 {
						whileDown.Add(1)
					}
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	defer func() { // on a failure, before the processes are killed
		stop.Store(true)
		wg.Wait()
	}()
	awaitCount(t, progress, completed[0].Load, 20, "exchanges before the outage")

	c.Stop(t)
	phase.Store(1)
	outage := time.NewTimer(5 * time.Second)
	down := time.Now()
	health := web.waitHealth("degraded")
	if !strings.Contains(health, "database_failing true\n") || !strings.Contains(health, "records_lost 0\n") {
		t.Errorf("/healthz during the outage:\n%s", health)
	}
	t.Logf("degraded %v after the database stopped", time.Since(down).Round(time.Millisecond))
	var apiErr struct {
		Error struct{ Type string } `json:"error"`
	}
	status, body := apiGet(t, p.webURL, "/api/stats", nil)
	if err := json.Unmarshal([]byte(body), &apiErr); status != http.StatusServiceUnavailable || err != nil || apiErr.Error.Type != "database_unavailable" {
		t.Errorf("/api/stats during the outage: status %d: %s", status, body)
	}
	status, page := web.get("/", cookie)
	if status != http.StatusServiceUnavailable || !strings.Contains(page, `data-testid="db-unavailable"`) {
		t.Errorf("dashboard during the outage: status %d:\n%.2000s", status, page)
	}
	<-outage.C // the rest of the 5 s
	phase.Store(2)
	during := whileDown.Load()
	c.Restart(t)
	t.Logf("the database was down %v", time.Since(down).Round(time.Millisecond))

	web.waitHealth("ok")
	if status, body := apiGet(t, p.webURL, "/api/stats", nil); status != http.StatusOK {
		t.Errorf("/api/stats after the outage: status %d: %s", status, body)
	}
	awaitCount(t, progress, completed[2].Load, 20, "exchanges after the outage")
	stop.Store(true)
	wg.Wait()

	p.signal(syscall.SIGTERM)
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("exit %v after SIGTERM, want status 0\n%s", err, p.stderr)
	}

	exchanges := load.all()
	for _, s := range exchanges {
		if s.err != nil {
			t.Errorf("%s (phase %d) failed: %s", s.marker, s.phase, errorString(s.err))
		}
	}
	if during == 0 {
		t.Error("no exchange completed while the database was down")
	}
	recs := recordsByMarker(t, openPG(t, dbURL))
	stored := checkRecorded(t, recs, exchanges, true)
	if len(recs) != stored {
		t.Errorf("%d markers recorded, %d of the exchanges sent", len(recs), stored)
	}
	t.Logf("%d exchanges: ended %d before the outage, %d during it (%d begun and ended then), %d after; %d recorded; total %v",
		len(exchanges), completed[0].Load(), completed[1].Load(), during, completed[2].Load(), stored, time.Since(start).Round(time.Millisecond))
}
