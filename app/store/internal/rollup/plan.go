package rollup

import (
	"math"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Unbounded window ends, in Unix microseconds.
const (
	MinMicro = math.MinInt64
	MaxMicro = math.MaxInt64
)

// Part is a piece of a query's window: whole buckets of one grain read
// from the rollups (Grain > 0), or records read from requests (Grain 0).
// From and To are Unix microseconds, To exclusive; MinMicro and MaxMicro
// mean unbounded.
type Part struct {
	Grain    int64 // seconds
	From, To int64
	// Ragged marks the records' parts of a plan: short spans of time, read
	// through the timestamp index whatever else the filter names.
	Ragged bool
}

// Level is one grain a plan may use: its rows are complete from From
// (Unix microseconds).
type Level struct {
	Grain int64 // seconds
	From  int64
}

// LevelsFor returns the grains, coarsest first, that a query may read
// whole buckets of, as far as they divide step (0: any).
func LevelsFor(lv Levels, step int64) []Level {
	var out []Level
	for _, l := range []Level{{Day, MinMicro}, {Hour, micro(lv.HourFrom)}, {Minute, micro(lv.MinuteFrom)}} {
		if step == 0 || step%l.Grain == 0 {
			out = append(out, l)
		}
	}
	return out
}

// Plan splits [a, b) into the coarsest whole buckets the levels hold, and
// the ragged rest, which no level holds whole, into parts read from the
// records, and appends them to out. A query answered this way is exact at
// any edge for as long as the records of its ragged parts are stored.
func Plan(a, b int64, lv []Level, out []Part) []Part {
	if a >= b {
		return out
	}
	if len(lv) == 0 {
		return append(out, Part{From: a, To: b, Ragged: true})
	}
	g := lv[0].Grain * 1e6
	lo, hi := a, b
	if a != MinMicro {
		lo = -FloorDiv(-a, g) * g // rounded up
	}
	if b != MaxMicro {
		hi = FloorDiv(b, g) * g
	}
	lo = max(lo, lv[0].From)
	if lo >= hi {
		return Plan(a, b, lv[1:], out)
	}
	out = append(out, Part{Grain: lv[0].Grain, From: lo, To: hi})
	out = Plan(a, lo, lv[1:], out)
	return Plan(hi, b, lv[1:], out)
}

// Window returns f's From and To in Unix microseconds, as stored
// timestamps compare with them.
func Window(f store.Filter) (int64, int64) {
	a, b := int64(MinMicro), int64(MaxMicro)
	if !f.From.IsZero() {
		a = f.From.Truncate(time.Microsecond).UnixMicro()
	}
	if !f.To.IsZero() {
		b = f.To.Truncate(time.Microsecond).UnixMicro()
	}
	return a, b
}

// FromMicro is the inverse of Window for one bound: zero when unbounded.
func FromMicro(us int64) time.Time {
	if us == MinMicro || us == MaxMicro {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// UsesRollups reports whether f can be answered from the rollups: a text
// search or a list of ids selects records the rollups cannot tell apart.
func UsesRollups(f store.Filter) bool { return f.Search == "" && f.IDs == nil }
