package rollup

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// State names in rollup_state.
const (
	StateBuilt      = "built"
	StateBackfill   = "backfill"
	StateMinuteFrom = "minute_from"
	StateHourFrom   = "hour_from"
	StatePrunedTo   = "pruned_to"
)

// GetState returns a rollup_state value, or "" when there is none.
func GetState(ctx context.Context, q rows.Querier, name string) (string, error) {
	res, err := q.Query(ctx, `SELECT value FROM rollup_state WHERE name = ?`, name)
	if err != nil {
		return "", err
	}
	defer res.Close()
	var v string
	if res.Next() {
		if err := res.Scan(&v); err != nil {
			return "", err
		}
	}
	return v, res.Err()
}

// ReadLevels returns the grains' coverage as rollup_state records it.
func ReadLevels(ctx context.Context, q rows.Querier) (Levels, error) {
	lv := AllLevels
	for name, dst := range map[string]*int64{StateMinuteFrom: &lv.MinuteFrom, StateHourFrom: &lv.HourFrom} {
		v, err := GetState(ctx, q, name)
		if err != nil {
			return lv, fmt.Errorf("rollups: state: %w", err)
		}
		if v == "" {
			continue
		}
		if *dst, err = strconv.ParseInt(v, 10, 64); err != nil {
			return lv, fmt.Errorf("rollups: state %s: %w", name, err)
		}
	}
	return lv, nil
}

// micro returns Unix seconds in Unix microseconds, math.MinInt64 as
// MinMicro.
func micro(sec int64) int64 {
	if sec == math.MinInt64 {
		return MinMicro
	}
	return sec * 1e6
}
