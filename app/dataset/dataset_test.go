package dataset_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/dataset"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// raw is what the generator makes of one record, in a comparable form.
func raw(r *capture.Record) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s %s %s %s %q %s %d %v %v %d %v %q %v\n", r.ID, r.Start.Format(time.RFC3339Nano), r.Method, r.URL,
		r.Path, r.APIKey, r.ClientAddr, r.Status, r.TTFB, r.Duration, r.Attempts, r.Cancelled, r.ProxyErr, r.Marks)
	for _, h := range []map[string][]string{r.ReqHeader, r.RespHeader} {
		keys := make([]string, 0, len(h))
		for k := range h {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s: %q\n", k, h[k])
		}
	}
	sb.Write(r.ReqBody.Head)
	sb.WriteString("\n")
	sb.Write(r.RespBody.Head)
	return sb.String()
}

func TestDeterministic(t *testing.T) {
	a, b := dataset.New(7, dataset.Options{}), dataset.New(7, dataset.Options{})
	other := dataset.New(8, dataset.Options{})
	differ := 0
	filled := b.Fill(3000)
	for i := range 3000 {
		ra, rb, ro := a.Next(), filled[i], other.Next()
		if x, y := raw(ra), raw(rb); x != y {
			t.Fatalf("record %d differs with the same seed:\n%s\n---\n%s", i, x, y)
		}
		if raw(ra) != raw(ro) {
			differ++
		}
	}
	if differ < 2990 {
		t.Errorf("seeds 7 and 8 made %d identical records of 3000", 3000-differ)
	}
	if !slices.Equal(a.Keys(), b.Keys()) || a.Keys()[0].Secret == other.Keys()[0].Secret {
		t.Error("keys: the same seed must give the same keys, another seed others")
	}
}

// golden is the SHA-256 of the first 500 records of seed 1, as raw
// formats them. It changes exactly when the generator's output does.
const golden = "b88ce06519ad33b6b40067146518b991260d74d4dcfb649d2e98df69c6b83a63"

func TestGolden(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		// Other architectures may fuse float operations, moving a
		// generated duration by a nanosecond.
		t.Skip("golden sum recorded on amd64")
	}
	g := dataset.New(1, dataset.Options{})
	h := sha256.New()
	for range 500 {
		io.WriteString(h, raw(g.Next()))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != golden {
		t.Errorf("the generator's output changed (sum %s).\nBump dataset.Version, so that Build does not reuse databases of the old output, and update golden.", got)
	}
}

// message is one message of a chat, Messages or Responses request.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// lastUser returns the last user message of a generative request.
func lastUser(t *testing.T, r *capture.Record) string {
	t.Helper()
	var req struct {
		Messages []message `json:"messages"`
		Input    []message `json:"input"`
	}
	if err := json.Unmarshal(r.ReqBody.Head, &req); err != nil {
		t.Fatalf("%s %s: request body: %v\n%s", r.ID, r.Path, err, r.ReqBody.Head)
	}
	msgs := append(req.Messages, req.Input...)
	if len(msgs) == 0 || msgs[len(msgs)-1].Role != "user" {
		t.Fatalf("%s: the request does not end with a user message:\n%s", r.ID, r.ReqBody.Head)
	}
	return msgs[len(msgs)-1].Content
}

func generative(r *capture.Record) bool {
	return r.Path == "/chat/completions" || r.Path == "/responses" || r.Path == "/messages"
}

func TestSizes(t *testing.T) {
	g := dataset.New(3, dataset.Options{})
	var total, chats int
	pairs := map[int]int{}
	for range 20000 {
		r := g.Next()
		if !generative(r) {
			continue
		}
		size := len(r.ReqBody.Head) + len(r.RespBody.Head)
		if size < 2048 || size > 4096 {
			t.Fatalf("%s %s: request %d + response %d bytes, want 2–4 KiB\n%s\n%s", r.ID, r.Path,
				len(r.ReqBody.Head), len(r.RespBody.Head), r.ReqBody.Head, r.RespBody.Head)
		}
		total += size
		chats++
		var req struct {
			Messages []message `json:"messages"`
			Input    []message `json:"input"`
		}
		if err := json.Unmarshal(r.ReqBody.Head, &req); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range append(req.Messages, req.Input...) {
			if m.Role == "assistant" {
				n++
			}
		}
		pairs[n]++
	}
	t.Logf("%d chats, mean %d bytes; earlier turns: %v", chats, total/chats, pairs)
	for n := range pairs {
		if n < 1 || n > 6 {
			t.Errorf("%d requests carry %d earlier turns, want 1–6", pairs[n], n)
		}
	}
	if pairs[1] == 0 || pairs[3] == 0 || pairs[5] == 0 {
		t.Errorf("earlier turns %v: want conversations of many lengths", pairs)
	}
}

// script tells the language of a text by its characters.
func script(s string) dataset.Lang {
	han := false
	for _, c := range s {
		switch {
		case unicode.In(c, unicode.Hiragana, unicode.Katakana):
			return dataset.Japanese
		case unicode.Is(unicode.Han, c):
			han = true
		}
	}
	if han {
		return dataset.Chinese
	}
	return dataset.English
}

func TestMix(t *testing.T) {
	const n = 40000
	g := dataset.New(4, dataset.Options{})
	langs := map[dataset.Lang]int{}
	paths := map[string]int{}
	outcomes := map[capture.Outcome]int{}
	keys := map[string]int{}
	models := map[string]int{}
	streams, chats := 0, 0
	for range n {
		r := g.Next()
		paths[r.Method+" "+r.Path]++
		if generative(r) {
			langs[script(lastUser(t, r))]++
		}
		r.Analyze()
		outcomes[r.Outcome]++
		keys[r.KeyHash]++
		if r.ModelRequested != "" {
			models[r.ModelRequested]++
		}
		if r.Path == "/chat/completions" {
			chats++
			if r.Stream {
				streams++
			}
		}
	}
	t.Logf("languages %v\npaths %v\noutcomes %v\nmodels %v", langs, paths, outcomes, models)

	total := langs[dataset.English] + langs[dataset.Chinese] + langs[dataset.Japanese]
	within := func(what string, got int, of int, lo, hi float64) {
		t.Helper()
		if share := float64(got) / float64(of); share < lo || share > hi {
			t.Errorf("%s: %.3f, want %.2f–%.2f", what, share, lo, hi)
		}
	}
	within("English", langs[dataset.English], total, 0.60, 0.70)
	within("Chinese", langs[dataset.Chinese], total, 0.21, 0.29)
	within("Japanese", langs[dataset.Japanese], total, 0.07, 0.13)
	within("chat completions", paths["POST /chat/completions"], n, 0.84, 0.88)
	within("GET /models", paths["GET /models"], n, 0.01, 0.03)
	for _, p := range []string{"POST /responses", "POST /messages", "POST /embeddings"} {
		within(p, paths[p], n, 0.03, 0.05)
	}
	within("streamed chats", streams, chats, 0.65, 0.85)
	within("upstream errors", outcomes[capture.OutcomeUpstreamError], n, 0.025, 0.045)
	within("stream errors", outcomes[capture.OutcomeStreamError], n, 0.004, 0.012)
	within("cancelled", outcomes[capture.OutcomeCancelled], n, 0.006, 0.014)
	if len(models) < 12 {
		t.Errorf("%d models requested, want 12 or more", len(models))
	}

	// 20 keys, the busiest far ahead of the quietest.
	if len(keys) != dataset.NumKeys {
		t.Errorf("%d keys, want %d", len(keys), dataset.NumKeys)
	}
	ks := g.Keys()
	first, last := keys[ks[0].Hash], keys[ks[len(ks)-1].Hash]
	within("busiest key", first, n, 0.25, 0.40)
	if last == 0 || first < 10*last {
		t.Errorf("busiest key %d records, quietest %d: want a Zipf-like skew", first, last)
	}
}

func TestIDsAndTimes(t *testing.T) {
	const n = 20000
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g := dataset.New(5, dataset.Options{End: end, Span: 48 * time.Hour, Records: n})
	var prev *capture.Record
	seen := map[string]bool{}
	for i := range n {
		r := g.Next()
		id, err := uuid.Parse(r.ID)
		if err != nil || id.Version() != 7 {
			t.Fatalf("record %d: id %q is not a UUIDv7 (%v)", i, r.ID, err)
		}
		if sec, nsec := id.Time().UnixTime(); sec != r.Start.Unix() || nsec/1e6 != int64(r.Start.Nanosecond()/1e6) {
			t.Fatalf("record %d: id %s says %v, start %v", i, r.ID, time.Unix(sec, nsec), r.Start)
		}
		if seen[r.ID] {
			t.Fatalf("record %d: id %s again", i, r.ID)
		}
		seen[r.ID] = true
		if r.Start.Before(end.Add(-48*time.Hour)) || !r.Start.Before(end) {
			t.Fatalf("record %d starts at %v, outside the span", i, r.Start)
		}
		if r.Start.Truncate(time.Microsecond) != r.Start {
			t.Fatalf("record %d starts at %v: finer than the store keeps", i, r.Start)
		}
		if prev != nil && (!r.Start.After(prev.Start) || r.ID <= prev.ID) {
			t.Fatalf("record %d (%s, %v) does not follow %s, %v", i, r.ID, r.Start, prev.ID, prev.Start)
		}
		prev = r
	}
	if prev.Start.Before(end.Add(-time.Hour)) {
		t.Errorf("the last record starts at %v, an hour or more before the end %v", prev.Start, end)
	}
}

func TestNeedles(t *testing.T) {
	n := 110_000
	if testing.Short() {
		n = 30_000
	}
	g := dataset.New(6, dataset.Options{Records: n})
	keys := g.Keys()
	found := map[string][]int{}
	for i := range n {
		r := g.Next()
		req := string(r.ReqBody.Head)
		resp := string(r.RespBody.Head)
		r.Analyze()
		for _, nd := range dataset.Needles {
			inReq, inResp, inContent := strings.Contains(req, nd.Token), strings.Contains(resp, nd.Token), strings.Contains(r.Content, nd.Token)
			if !inReq && !inResp && !inContent {
				continue
			}
			found[nd.Token] = append(found[nd.Token], i)
			if r.Outcome != capture.OutcomeOK || r.Path != "/chat/completions" {
				t.Errorf("record %d carries %q in a %s %s exchange", i, nd.Token, r.Outcome, r.Path)
			}
			if nd.Key >= 0 && r.KeyHash != keys[nd.Key].Hash {
				t.Errorf("record %d carries %q with another key than number %d", i, nd.Token, nd.Key)
			}
			switch nd.Where {
			case dataset.InRequest:
				if !strings.Contains(lastUser(t, r), nd.Token) || inResp || inContent {
					t.Errorf("record %d: %q must be in the last user turn only (response %v, content %v)", i, nd.Token, inResp, inContent)
				}
				if script(lastUser(t, r)) != nd.Lang {
					t.Errorf("record %d: %q in a %v turn, want %v", i, nd.Token, script(lastUser(t, r)), nd.Lang)
				}
			case dataset.InReply:
				if inReq || inResp || !inContent || !r.Stream {
					t.Errorf("record %d: %q must be only in the reassembled stream (request %v, raw stream %v, content %v, stream %v)",
						i, nd.Token, inReq, inResp, inContent, r.Stream)
				}
			}
		}
	}
	for _, nd := range dataset.Needles {
		var want []int
		for i := range n {
			if nd.At(i) {
				want = append(want, i)
			}
		}
		if len(want) != nd.Count(n) {
			t.Errorf("%q: Count(%d) = %d, At says %d", nd.Token, n, nd.Count(n), len(want))
		}
		if !slices.Equal(found[nd.Token], want) {
			t.Errorf("%q found in records %v, want %v", nd.Token, found[nd.Token], want)
		}
		if got := g.Planted()[nd.Token]; !slices.Equal(got, want) {
			t.Errorf("%q: Planted says %v, want %v", nd.Token, got, want)
		}
	}
}

// streamText joins the content deltas of a chat stream, as a client would.
func streamText(t *testing.T, body []byte) string {
	var sb strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		for _, c := range ev.Choices {
			sb.WriteString(c.Delta.Content)
		}
	}
	return sb.String()
}

func TestAnalyze(t *testing.T) {
	g := dataset.New(9, dataset.Options{})
	keys := map[string]bool{}
	for _, k := range g.Keys() {
		keys[k.Hash] = true
	}
	okStreams := 0
	for range 5000 {
		r := g.Next()
		secret := r.APIKey
		body := slices.Clone(r.RespBody.Head)
		r.Analyze()
		if !keys[r.KeyHash] || strings.Contains(r.ReqHeaderJSON, secret) || !strings.HasPrefix(r.ReqHeaderJSON, "{") {
			t.Fatalf("%s: key %s not one of the dataset's, or headers %s not redacted", r.ID, r.KeyHash, r.ReqHeaderJSON)
		}
		if r.Outcome != capture.OutcomeOK || !generative(r) {
			continue
		}
		if r.ModelRequested == "" || r.Model == "" || r.GenerationID == "" || r.Content == "" {
			t.Errorf("%s %s: model %q served %q, generation %q, content %q", r.ID, r.Path, r.ModelRequested, r.Model, r.GenerationID, r.Content)
		}
		if !r.HasUsage || r.PromptTokens <= 0 || r.CompletionTokens <= 0 || r.TotalTokens != r.PromptTokens+r.CompletionTokens {
			t.Errorf("%s %s: usage %v: %d + %d = %d", r.ID, r.Path, r.HasUsage, r.PromptTokens, r.CompletionTokens, r.TotalTokens)
		}
		if r.Path != "/messages" && r.Cost <= 0 {
			t.Errorf("%s %s: no cost", r.ID, r.Path)
		}
		if r.FinishReason == "" {
			t.Errorf("%s %s: no finish reason", r.ID, r.Path)
		}
		if r.Path == "/chat/completions" && r.Stream {
			okStreams++
			if want := streamText(t, body); r.Content != want {
				t.Errorf("%s: content %q, the stream says %q", r.ID, r.Content, want)
			}
			if r.TTFT <= 0 || r.TTFT < r.TTFB || r.TTFT > r.Duration {
				t.Errorf("%s: TTFB %v, TTFT %v, duration %v", r.ID, r.TTFB, r.TTFT, r.Duration)
			}
		}
	}
	if okStreams < 2500 {
		t.Errorf("%d OK chat streams of 5000 records", okStreams)
	}
}

func TestBuild(t *testing.T) {
	const n = 2000
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), dataset.FileName(11, n))
	var progress bytes.Buffer
	info, err := dataset.Build(ctx, path, n, dataset.BuildOptions{Seed: 11, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if info.Reused || info.Records != n || info.Path != path || len(info.Keys) != dataset.NumKeys {
		t.Errorf("info %+v", info)
	}
	if !strings.Contains(progress.String(), "2000/2000") {
		t.Errorf("progress %q", progress.String())
	}
	t.Logf("built %d records in %v", n, info.BuildTime)
	leftovers := func() {
		t.Helper()
		entries, err := os.ReadDir(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{filepath.Base(path), filepath.Base(path) + ".meta.json"}; !slices.Equal(names, want) {
			t.Errorf("files %q, want %q", names, want)
		}
	}
	leftovers()
	built, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Reuse", func(t *testing.T) {
		again, err := dataset.Build(ctx, path, n, dataset.BuildOptions{Seed: 11, Progress: &progress})
		if err != nil {
			t.Fatal(err)
		}
		now, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Reused || !now.ModTime().Equal(built.ModTime()) || !os.SameFile(now, built) {
			t.Errorf("the second build did not reuse the database: reused %v, modified %v then %v", again.Reused, built.ModTime(), now.ModTime())
		}
	})

	t.Run("Rows", func(t *testing.T) {
		st, err := sqlite.Open(ctx, path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		admin := store.Viewer{Admin: true}
		if got, err := st.Count(ctx, store.Filter{Viewer: admin}); err != nil || got != n {
			t.Errorf("Count = %d, %v; want %d", got, err, n)
		}
		nd := dataset.Needles[0]
		if got, err := st.Count(ctx, store.Filter{Viewer: admin, Search: nd.Token}); err != nil || got != int64(info.NeedleCount(nd)) {
			t.Errorf("search %q: %d, %v; want %d", nd.Token, got, err, info.NeedleCount(nd))
		}
		stats, err := st.Stats(ctx, store.Filter{Viewer: admin}, info.End)
		if err != nil || stats.TotalCost <= 0 || stats.SuccessRate < 90 || stats.AvgTTFTMs <= 0 {
			t.Errorf("stats %+v, %v", stats, err)
		}
	})

	t.Run("ReuseAfterOpen", func(t *testing.T) {
		again, err := dataset.Build(ctx, path, n, dataset.BuildOptions{Seed: 11})
		if err != nil {
			t.Fatal(err)
		}
		now, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Reused || !os.SameFile(now, built) {
			t.Error("a build after the store opened the database did not reuse it")
		}
		leftovers()
	})

	t.Run("RebuildOnChange", func(t *testing.T) {
		other, err := dataset.Build(ctx, path, n/2, dataset.BuildOptions{Seed: 11})
		if err != nil {
			t.Fatal(err)
		}
		if other.Reused {
			t.Error("a build of another size reused the database")
		}
		if _, err := os.Stat(path + ".building"); !os.IsNotExist(err) {
			t.Errorf("the temporary database is left: %v", err)
		}
	})
}
