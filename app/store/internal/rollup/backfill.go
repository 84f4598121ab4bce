package rollup

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Resume is where an interrupted backfill of the rollups continues: after
// the record started at Timestamp (stored form) and the store's own
// tie-breaker, with Done records counted, keeping the grains it began
// with. A store embeds it in the resume point it keeps in rollup_state.
type Resume struct {
	Timestamp  string `json:"timestamp"`
	Done       int64  `json:"done"`
	MinuteFrom int64  `json:"minute_from"`
	HourFrom   int64  `json:"hour_from"`
}

// NewResume returns where a backfill begins as of now: before every
// record, keeping no grain older than compaction would leave.
func NewResume(now time.Time) Resume {
	lv := Kept(now)
	return Resume{MinuteFrom: lv.MinuteFrom, HourFrom: lv.HourFrom}
}

// Levels returns the grains the backfill keeps.
func (r Resume) Levels() Levels { return Levels{MinuteFrom: r.MinuteFrom, HourFrom: r.HourFrom} }

// ReadResume decodes the resume point rollup_state holds, if any, into at,
// a store's resume point.
func ReadResume(ctx context.Context, q rows.Querier, at any) error {
	v, err := GetState(ctx, q, StateBackfill)
	if err != nil || v == "" {
		return err
	}
	if err := json.Unmarshal([]byte(v), at); err != nil {
		return fmt.Errorf("resume point %q: %w", v, err)
	}
	return nil
}

// AddRows counts the records res selects, each a store's tie-breaker
// column followed by rows.StatSelect's, at the grains lv keeps, and sets
// ts and key to the last one's timestamp and tie-breaker. It returns how
// many it counted; the caller closes res.
func (b *Batch) AddRows(res rows.Iter, lv Levels, ts *string, key any) (int, error) {
	n := 0
	for res.Next() {
		t, r, err := rows.ScanStat(rows.Prefixed{Row: res, Dests: []any{key}})
		if err != nil {
			return n, err
		}
		b.Add(r, lv)
		*ts = t
		n++
	}
	return n, res.Err()
}
