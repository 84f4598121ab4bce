package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// upsertRows is the most rows one upsert statement adds.
const upsertRows = 64

// upsertSQL adds n aggregated rows to a rollup table whose dimensions are
// dims, adding to the sums of the rows already there. It leaves the
// histograms of those rows alone and returns them, with their keys and
// whether the row was there (xmax is set on a row the statement updated):
// the writer merges them in Go and writes them back while the upsert's row
// lock, held until COMMIT, keeps other writers out.
func upsertSQL(t rollup.Table, n int) string {
	key, cols := t.KeyCols(), t.Cols()
	var set []string
	for _, c := range rollup.SumCols {
		set = append(set, c+" = "+t.Name+"."+c+" + excluded."+c)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + t.Name + " (" + strings.Join(cols, ", ") + ") VALUES ")
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString("$" + strconv.Itoa(p))
		}
		b.WriteString(")")
	}
	b.WriteString(" ON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ") +
		" RETURNING " + strings.Join(key, ", ") + ", xmax::text <> '0', duration_hist, ttft_hist")
	return b.String()
}

// histSQL writes back the merged histograms of one row of the rollup
// table t.
func histSQL(t rollup.Table) string {
	key := t.KeyCols()
	cond := make([]string, len(key))
	for i, c := range key {
		cond[i] = c + " = $" + strconv.Itoa(i+3)
	}
	return "UPDATE " + t.Name + " SET duration_hist = $1, ttft_hist = $2 WHERE " + strings.Join(cond, " AND ")
}

// rollupTable is one of the rollup tables the writer upserts into.
type rollupTable struct {
	rollup.Table
	upserts []string // upsertSQL of 1…upsertRows rows, at index n-1
	hist    string   // histSQL
}

// newRollupTable prepares the statements of t.
func newRollupTable(t rollup.Table) rollupTable {
	rt := rollupTable{Table: t, hist: histSQL(t)}
	for n := 1; n <= upsertRows; n++ {
		rt.upserts = append(rt.upserts, upsertSQL(t, n))
	}
	return rt
}

// rollupTables are the rollup tables' statements, by name.
var rollupTables = rollup.PerTable(newRollupTable)

// upsertKeysSQL adds a batch's requests per key to api_keys, in the order
// of the arrays (sorted by key), keeping the newest record's mask: the sum
// is commutative, and so is the newest start.
const upsertKeysSQL = `
	INSERT INTO api_keys (key_hash, key_mask, requests, last_seen)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
	ON CONFLICT (key_hash) DO UPDATE SET
		requests = api_keys.requests + excluded.requests,
		key_mask = CASE WHEN excluded.last_seen >= api_keys.last_seen THEN excluded.key_mask ELSE api_keys.key_mask END,
		last_seen = GREATEST(api_keys.last_seen, excluded.last_seen)`

// writeBatch upserts the batch's rows, rows summed over the keys, totals
// and keys in tx, each table in primary key order and the tables in one
// order (see rollup.Batch.ByTable), so that concurrent writers cannot
// deadlock.
func writeBatch(ctx context.Context, tx pgx.Tx, b *rollup.Batch) error {
	for _, t := range b.ByTable() {
		if err := upsertAll(ctx, tx, rollupTables[t.Name], t.Rows); err != nil {
			return err
		}
	}
	if len(b.Keys) == 0 {
		return nil
	}
	hashes := make([]string, 0, len(b.Keys))
	for h := range b.Keys {
		hashes = append(hashes, h)
	}
	slices.Sort(hashes)
	masks, counts, lasts := make([]string, len(hashes)), make([]int64, len(hashes)), make([]string, len(hashes))
	for i, h := range hashes {
		k := b.Keys[h]
		masks[i], counts[i], lasts[i] = validText(k.Mask), k.Requests, k.Last
	}
	if _, err := tx.Exec(ctx, upsertKeysSQL, hashes, masks, counts, lasts); err != nil {
		return fmt.Errorf("rollups: upsert keys: %w", err)
	}
	return nil
}

// upsertAll upserts rows into t, in primary key order, upsertRows rows a
// statement (a round trip each), then writes back the merged histograms of
// the rows that were there already, in one more round trip.
func upsertAll(ctx context.Context, tx pgx.Tx, t rollupTable, rows map[rollup.Key]*rollup.Sums) error {
	keys := rollup.SortedKeys(rows)
	hists := &pgx.Batch{}
	for len(keys) > 0 {
		n := min(len(keys), upsertRows)
		if err := t.upsert(ctx, tx, keys[:n], rows, hists); err != nil {
			return err
		}
		keys = keys[n:]
	}
	if hists.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, hists).Close(); err != nil {
		return fmt.Errorf("rollups: histograms: %w", err)
	}
	return nil
}

// upsert adds the rows of keys (upsertRows at most) in one statement, and
// queues in hists the histogram updates of the rows that existed.
func (t rollupTable) upsert(ctx context.Context, tx pgx.Tx, keys []rollup.Key, rows map[rollup.Key]*rollup.Sums, hists *pgx.Batch) error {
	args := make([]any, 0, len(keys)*len(t.Cols()))
	for _, k := range keys {
		args = rows[k].AppendArgs(t.KeyArgs(args, k))
	}
	res, err := tx.Query(ctx, t.upserts[len(keys)-1], args...)
	if err != nil {
		return fmt.Errorf("rollups: upsert: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var (
			k         rollup.Key
			updated   bool
			dur, ttft []byte
		)
		if err := res.Scan(append(t.KeyDests(&k), &updated, &dur, &ttft)...); err != nil {
			return fmt.Errorf("rollups: upsert: %w", err)
		}
		if !updated {
			continue // inserted: its histograms are the batch's
		}
		s := rows[k]
		if s == nil {
			return fmt.Errorf("rollups: upsert returned a row the batch lacks: %+v", k)
		}
		if s.Dur.Empty() && s.TTFT.Empty() {
			continue
		}
		if !s.Dur.Empty() {
			dur = store.MergeHists(dur, s.Dur.Encode())
		}
		if !s.TTFT.Empty() {
			ttft = store.MergeHists(ttft, s.TTFT.Encode())
		}
		hists.Queue(t.hist, append([]any{dur, ttft}, t.KeyArgs(nil, k)...)...)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("rollups: upsert: %w", err)
	}
	return nil
}

// raiseState sets a rollup_state value to the greater of the stored one
// and value, comparing as text (timestamps in the stored form): it never
// moves back, whichever replica writes it.
func raiseState(ctx context.Context, q querier, name, value string) error {
	_, err := q.Exec(ctx, `INSERT INTO rollup_state (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = GREATEST(rollup_state.value, excluded.value)`, name, value)
	return err
}

// raiseBound sets the rollup_state bound name (Unix seconds) to the
// greater of the stored one and sec.
func raiseBound(ctx context.Context, q querier, name string, sec int64) error {
	_, err := q.Exec(ctx, `INSERT INTO rollup_state (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = GREATEST(rollup_state.value::bigint, excluded.value::bigint)::text`,
		name, strconv.FormatInt(sec, 10))
	return err
}

// setState sets a rollup_state value.
func setState(ctx context.Context, q querier, name, value string) error {
	_, err := q.Exec(ctx, `INSERT INTO rollup_state (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// backfillBatch is how many records the backfill counts per transaction;
// a variable for tests.
var backfillBatch = 20000

// backfillRollups builds the rollups of a database whose records have
// none (migrations 0005 and 0006 empty them to be built again): it reads
// every record in (timestamp, id) order, in batches, and counts each batch
// in its own transaction together with its resume point, so that a crash
// loses nothing and the next Open continues where it stopped. The last
// transaction marks the rollups built. Each step holds the maintenance
// lock, waiting for it, so replicas starting together build them once: the
// others wait, then find them built. progress, if not nil, is told how
// many records are counted of how many.
func backfillRollups(ctx context.Context, begin func(context.Context) (pgx.Tx, error), now time.Time,
	progress func(done, total int64)) error {
	var total int64
	for {
		tx, err := begin(ctx)
		if err != nil {
			return fmt.Errorf("store: rollups: %w", err)
		}
		built, err := backfillStep(ctx, tx, now, &total, progress)
		if err == nil {
			err = tx.Commit(ctx)
		}
		tx.Rollback(ctx)
		if err != nil {
			return fmt.Errorf("store: rollups: backfill: %w", err)
		}
		if built {
			return nil
		}
	}
}

// resumePoint is where an interrupted backfill continues: after the record
// at (Timestamp, ID).
type resumePoint struct {
	rollup.Resume
	ID string `json:"id"`
}

// backfillStep counts, in tx and under the maintenance lock, the next
// batch of records after the resume point and moves it past them; when the
// batch is the last, it marks the rollups built. It reports whether they
// are built.
func backfillStep(ctx context.Context, tx pgx.Tx, now time.Time, total *int64, progress func(done, total int64)) (bool, error) {
	if _, err := lockMaintenance(ctx, tx, true); err != nil {
		return false, err
	}
	if built, err := rollup.GetState(ctx, shared{tx}, rollup.StateBuilt); err != nil || built != "" {
		return true, err
	}
	if *total == 0 {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM requests`).Scan(total); err != nil {
			return false, err
		}
	}
	at := resumePoint{Resume: rollup.NewResume(now)}
	if err := rollup.ReadResume(ctx, shared{tx}, &at); err != nil {
		return false, err
	}
	lv := at.Levels()
	res, err := tx.Query(ctx, `SELECT id, `+rows.StatSelect+` FROM requests
		WHERE (timestamp, id) > ($1, $2) ORDER BY timestamp, id LIMIT $3`, at.Timestamp, at.ID, backfillBatch)
	if err != nil {
		return false, err
	}
	b := rollup.NewBatch(validText)
	n, err := b.AddRows(res, lv, &at.Timestamp, &at.ID)
	res.Close()
	if err != nil {
		return false, err
	}
	if err := writeBatch(ctx, tx, b); err != nil {
		return false, err
	}
	at.Done += int64(n)
	if progress != nil {
		progress(at.Done, max(*total, at.Done))
	}
	if n == backfillBatch {
		resume, err := json.Marshal(at)
		if err != nil {
			return false, err
		}
		return false, setState(ctx, tx, rollup.StateBackfill, string(resume))
	}
	if err := setState(ctx, tx, rollup.StateBuilt, "1"); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_state WHERE name = $1`, rollup.StateBackfill); err != nil {
		return false, err
	}
	if err := raiseBound(ctx, tx, rollup.StateMinuteFrom, lv.MinuteFrom); err != nil {
		return false, err
	}
	return true, raiseBound(ctx, tx, rollup.StateHourFrom, lv.HourFrom)
}
