// Package rollup is what the SQLite and PostgreSQL stores share about the
// rollups: the grains and how long each is kept, the sums a rollup row
// holds and how a batch of records adds to them, the order of the tables'
// keys, and the queries that answer Stats, Breakdown, Series and Count from
// whole buckets of the rollups plus the records of the ragged edges. The
// stores keep their SQL dialects (see Dialect), drivers and transactions.
package rollup

import (
	"context"
	"math"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// The grains of the rollups, in seconds. Every record is counted at each
// grain still kept for its time (see MinuteKeep and HourKeep).
const (
	Minute = 60
	Hour   = 60 * 60
	Day    = 24 * 60 * 60
)

// How long the finer rollups are kept. Compaction deletes minute rows once
// they are older than MinuteKeep and hour rows once older than HourKeep;
// day rows are kept for ever. Older windows are then answered at hour or
// day precision from the rollups, plus the records still stored for their
// ragged edges. CompactEvery is how often the stores compact.
const (
	MinuteKeep   = 48 * time.Hour
	HourKeep     = 60 * 24 * time.Hour
	CompactEvery = 10 * time.Minute
)

// Levels is what a writer knows of the grains it keeps: minute rows exist
// from MinuteFrom and hour rows from HourFrom (Unix seconds);
// math.MinInt64 means from the beginning.
type Levels struct {
	MinuteFrom, HourFrom int64
}

// AllLevels keeps every grain from the beginning.
var AllLevels = Levels{MinuteFrom: math.MinInt64, HourFrom: math.MinInt64}

// Kept returns the grains compaction keeps as of now.
func Kept(now time.Time) Levels {
	return Levels{
		MinuteFrom: BucketOf(now.Add(-MinuteKeep), Hour),
		HourFrom:   BucketOf(now.Add(-HourKeep), Day),
	}
}

// Thin is one grain's part of a compaction: its rows of buckets before
// Before are deleted, Step seconds of buckets at a time, oldest first.
type Thin struct {
	Grain, Before, Step int64
}

// Thinning returns what compaction deletes so that only lv's grains are
// left: the minute and hour rows below their bounds.
func (lv Levels) Thinning() []Thin {
	return []Thin{{Minute, lv.MinuteFrom, 6 * Hour}, {Hour, lv.HourFrom, 7 * Day}}
}

// FloorDiv rounds a/b down, b > 0.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// BucketOf returns the start, in Unix seconds, of the bucket of the given
// grain that t falls in.
func BucketOf(t time.Time, grain int64) int64 {
	return FloorDiv(t.Unix(), grain) * grain
}

// Sums is what a rollup row, or a set of them, knows about its records.
type Sums struct {
	Requests, OK             int64
	DurationMs               float64
	TTFBMs                   float64
	TTFBCount                int64
	TTFTMs                   float64
	TTFTCount                int64
	GenMs                    float64
	GenTokens                int64
	Prompt, Completion       int64
	Total, Cached, Reasoning int64
	Cost                     float64
	Dur, TTFT                store.Hist
}

// Add counts one record: the single definition of what the rollups hold,
// shared by the writers, the backfills and the queries that read records.
func (s *Sums) Add(r *capture.Record) {
	s.Requests++
	if r.Outcome == capture.OutcomeOK {
		s.OK++
	}
	d := rows.ToMS(r.Duration)
	s.DurationMs += d
	s.Dur.Add(d)
	if r.TTFB > 0 {
		s.TTFBMs += rows.ToMS(r.TTFB)
		s.TTFBCount++
	}
	if r.Stream && r.TTFT > 0 {
		t := rows.ToMS(r.TTFT)
		s.TTFTMs += t
		s.TTFTCount++
		s.TTFT.Add(t)
		if r.Duration > r.TTFT && r.CompletionTokens > 0 {
			s.GenMs += rows.ToMS(r.Duration - r.TTFT)
			s.GenTokens += r.CompletionTokens
		}
	}
	s.Prompt += r.PromptTokens
	s.Completion += r.CompletionTokens
	s.Total += r.TotalTokens
	s.Cached += r.CachedTokens
	s.Reasoning += r.ReasoningTokens
	s.Cost += r.Cost
}

// Merge adds o into s.
func (s *Sums) Merge(o *Sums) {
	s.Requests += o.Requests
	s.OK += o.OK
	s.DurationMs += o.DurationMs
	s.TTFBMs += o.TTFBMs
	s.TTFBCount += o.TTFBCount
	s.TTFTMs += o.TTFTMs
	s.TTFTCount += o.TTFTCount
	s.GenMs += o.GenMs
	s.GenTokens += o.GenTokens
	s.Prompt += o.Prompt
	s.Completion += o.Completion
	s.Total += o.Total
	s.Cached += o.Cached
	s.Reasoning += o.Reasoning
	s.Cost += o.Cost
	s.Dur.Merge(&o.Dur)
	s.TTFT.Merge(&o.TTFT)
}

// SumCols are the rollup tables' sums, in the order AppendArgs gives them
// and a Dialect's SumsSelect sums them (with ok's count second there).
var SumCols = []string{"requests", "duration_ms", "ttfb_ms", "ttfb_count", "ttft_ms", "ttft_count", "gen_ms", "gen_tokens",
	"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens", "cost"}

// HistCols are the rollup tables' histograms, after the sums.
var HistCols = []string{"duration_hist", "ttft_hist"}

// AppendArgs appends s's sums (SumCols) and encoded histograms (HistCols)
// to args, as an upsert takes them after the key.
func (s *Sums) AppendArgs(args []any) []any {
	return append(args, s.Requests, s.DurationMs, s.TTFBMs, s.TTFBCount, s.TTFTMs, s.TTFTCount, s.GenMs, s.GenTokens,
		s.Prompt, s.Completion, s.Total, s.Cached, s.Reasoning, s.Cost, s.Dur.Encode(), s.TTFT.Encode())
}

// sumsDests returns the scan targets of a Dialect's SumsSelect.
func (s *Sums) sumsDests() []any {
	return []any{&s.Requests, &s.OK, &s.DurationMs, &s.TTFBMs, &s.TTFBCount, &s.TTFTMs, &s.TTFTCount,
		&s.GenMs, &s.GenTokens, &s.Prompt, &s.Completion, &s.Total, &s.Cached, &s.Reasoning, &s.Cost}
}

// Summary returns s as a Summary.
func (s *Sums) Summary() store.Summary {
	out := store.Summary{
		Requests: s.Requests, Errors: s.Requests - s.OK,
		PromptTokens: s.Prompt, CompletionTokens: s.Completion, TotalTokens: s.Total,
		CachedTokens: s.Cached, ReasoningTokens: s.Reasoning, Cost: s.Cost,
	}
	if s.Requests > 0 {
		out.ErrorRate = 100 * float64(out.Errors) / float64(s.Requests)
		out.AvgDurationMs = s.DurationMs / float64(s.Requests)
	}
	if s.TTFTCount > 0 {
		out.AvgTTFTMs = s.TTFTMs / float64(s.TTFTCount)
	}
	if s.GenMs > 0 {
		out.TokensPerSecond = float64(s.GenTokens) / (s.GenMs / 1000)
	}
	if !s.Dur.Empty() {
		q := s.Dur.Quantiles(0.50, 0.95, 0.99)
		out.P50DurationMs, out.P95DurationMs, out.P99DurationMs = q[0], q[1], q[2]
	}
	if !s.TTFT.Empty() {
		q := s.TTFT.Quantiles(0.50, 0.95)
		out.P50TTFTMs, out.P95TTFTMs = q[0], q[1]
	}
	return out
}

// StatsOf returns the Stats of a Summary.
func StatsOf(s store.Summary, recent int64) store.Stats {
	st := store.Stats{
		TotalRequests: s.Requests, SuccessCount: s.Requests - s.Errors, ErrorCount: s.Errors,
		ErrorRate:     s.ErrorRate,
		AvgDurationMs: s.AvgDurationMs, P50DurationMs: s.P50DurationMs, P95DurationMs: s.P95DurationMs, P99DurationMs: s.P99DurationMs,
		AvgTTFTMs: s.AvgTTFTMs, P50TTFTMs: s.P50TTFTMs, P95TTFTMs: s.P95TTFTMs,
		TokensPerSecond: s.TokensPerSecond,
		RecentRequests:  recent,
		PromptTokens:    s.PromptTokens, CompletionTokens: s.CompletionTokens, TotalTokens: s.TotalTokens,
		CachedTokens: s.CachedTokens, ReasoningTokens: s.ReasoningTokens,
		TotalCost: s.Cost,
	}
	if s.Requests > 0 {
		st.SuccessRate = 100 - s.ErrorRate
	}
	return st
}

// Schedule runs a store's maintenance until ctx is done or a step returns
// false: compact every CompactEvery and, when pruneEvery is positive,
// prune (a retention round) every pruneEvery.
func Schedule(ctx context.Context, pruneEvery time.Duration, compact, prune func() bool) {
	compactTick := time.NewTicker(CompactEvery)
	defer compactTick.Stop()
	var pruneTick <-chan time.Time
	if pruneEvery > 0 {
		t := time.NewTicker(pruneEvery)
		defer t.Stop()
		pruneTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-compactTick.C:
			if !compact() {
				return
			}
		case <-pruneTick:
			if !prune() {
				return
			}
		}
	}
}
