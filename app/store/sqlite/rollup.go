package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// writerDriver is the driver of the writer's connection: SQLite with the
// hist_merge function, which the rollups' upsert merges histograms with,
// and the hist_sum aggregate, which migrations build rollups with.
const writerDriver = "sqlite3_store_writer"

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			if err := c.RegisterFunc("hist_merge", store.MergeHists, true); err != nil {
				return err
			}
			return c.RegisterAggregator("hist_sum", func() *histSum { return &histSum{} }, true)
		},
	})
}

// histSum is the SQL aggregate hist_sum(blob): the stored sum of stored
// histograms, which migrations use to build coarser rollups from finer
// ones.
type histSum struct{ h store.Hist }

// Step adds one stored histogram.
func (s *histSum) Step(b []byte) { s.h.MergeEncoded(b) }

// Done returns the stored sum.
func (s *histSum) Done() []byte { return s.h.Encode() }

// upsertRows is how many rows one upsert statement adds: a statement per
// row would cost its fixed overhead (database/sql, the driver, a step and
// a reset) once per row, and an import touches a few rows per record.
const upsertRows = 32

// upsertSQL adds n aggregated rows to the rollup table t. The driver
// returns an empty blob from a Go function as NULL, hence the COALESCE; an
// empty histogram added costs no call.
func upsertSQL(t rollup.Table, n int) string {
	key, cols := t.KeyCols(), t.Cols()
	var set []string
	for _, c := range rollup.SumCols {
		set = append(set, c+" = "+c+" + excluded."+c)
	}
	for _, h := range rollup.HistCols {
		set = append(set, h+" = CASE WHEN length(excluded."+h+") = 0 THEN "+h+
			" ELSE COALESCE(hist_merge("+h+", excluded."+h+"), X'') END")
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	return "INSERT INTO " + t.Name + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + " ON CONFLICT (" + strings.Join(key, ", ") +
		") DO UPDATE SET " + strings.Join(set, ", ")
}

// rollupTable is one of the rollup tables the writer upserts into.
type rollupTable struct {
	rollup.Table
	one, many string // upsertSQL of 1 and of upsertRows rows
}

// newRollupTable prepares the upserts of t.
func newRollupTable(t rollup.Table) rollupTable {
	return rollupTable{Table: t, one: upsertSQL(t, 1), many: upsertSQL(t, upsertRows)}
}

// rollupTables are the rollup tables' statements, by name.
var rollupTables = rollup.PerTable(newRollupTable)

// upsertKeySQL adds a batch's requests of one key to api_keys, keeping the
// newest record's mask.
const upsertKeySQL = `
	INSERT INTO api_keys (key_hash, key_mask, requests, last_seen) VALUES (?, ?, ?, ?)
	ON CONFLICT (key_hash) DO UPDATE SET
		requests = requests + excluded.requests,
		key_mask = CASE WHEN excluded.last_seen >= last_seen THEN excluded.key_mask ELSE key_mask END,
		last_seen = max(last_seen, excluded.last_seen)`

// writeBatch upserts the batch's rows, rows summed over the keys, totals
// and keys in tx.
func writeBatch(ctx context.Context, tx *sql.Tx, b *rollup.Batch) error {
	for _, t := range b.ByTable() {
		if err := upsertAll(ctx, tx, rollupTables[t.Name], t.Rows); err != nil {
			return err
		}
	}
	if len(b.Keys) > 0 {
		stmt, err := tx.PrepareContext(ctx, upsertKeySQL)
		if err != nil {
			return fmt.Errorf("rollups: prepare keys: %w", err)
		}
		defer stmt.Close()
		for hash, k := range b.Keys {
			if _, err := stmt.ExecContext(ctx, hash, k.Mask, k.Requests, k.Last); err != nil {
				return fmt.Errorf("rollups: upsert key: %w", err)
			}
		}
	}
	return nil
}

// upsertAll upserts rows into t, in primary key order, upsertRows rows a
// statement and the rest one by one.
func upsertAll(ctx context.Context, tx *sql.Tx, t rollupTable, rows map[rollup.Key]*rollup.Sums) error {
	keys := rollup.SortedKeys(rows)
	full := len(keys) / upsertRows * upsertRows
	if err := t.upsert(ctx, tx, t.many, upsertRows, keys[:full], rows); err != nil {
		return err
	}
	return t.upsert(ctx, tx, t.one, 1, keys[full:], rows)
}

// upsert runs query, which adds per rows, for each run of per keys.
func (t rollupTable) upsert(ctx context.Context, tx *sql.Tx, query string, per int, keys []rollup.Key, rows map[rollup.Key]*rollup.Sums) error {
	if len(keys) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("rollups: prepare: %w", err)
	}
	defer stmt.Close()
	args := make([]any, 0, per*len(t.Cols()))
	for i := 0; i < len(keys); i += per {
		args = args[:0]
		for _, k := range keys[i : i+per] {
			args = rows[k].AppendArgs(t.KeyArgs(args, k))
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("rollups: upsert: %w", err)
		}
	}
	return nil
}

// writeRollups counts batch in the rollups and api_keys, in the batch's
// transaction.
func (s *SQLite) writeRollups(ctx context.Context, tx *sql.Tx, batch []*capture.Record) error {
	b := rollup.NewBatch(nil)
	for _, r := range batch {
		b.Add(r, s.levels)
	}
	return writeBatch(ctx, tx, b)
}

// setState sets a rollup_state value.
func setState(ctx context.Context, tx *sql.Tx, name, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO rollup_state (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// compact deletes the minute rows older than rollup.MinuteKeep and the
// hour rows older than rollup.HourKeep before now: the hour and day rows
// hold the same records. It first moves the coverage bounds, so that
// neither the writer nor a query uses a grain while its old rows are being
// deleted.
func (s *SQLite) compact(ctx context.Context, now time.Time) error {
	want := rollup.Kept(now)
	if want.MinuteFrom > s.levels.MinuteFrom || want.HourFrom > s.levels.HourFrom {
		tx, err := s.wdb.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		defer tx.Rollback()
		lv := rollup.Levels{MinuteFrom: max(want.MinuteFrom, s.levels.MinuteFrom), HourFrom: max(want.HourFrom, s.levels.HourFrom)}
		if err := setBounds(ctx, tx, lv); err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		s.levels = lv
	}
	for _, g := range s.levels.Thinning() {
		for _, table := range rollup.TableNames {
			for {
				// A step of buckets at a time, oldest first.
				var oldest sql.NullInt64
				if err := s.wdb.QueryRowContext(ctx, `SELECT MIN(bucket) FROM `+table+` WHERE grain = ?`, g.Grain).Scan(&oldest); err != nil {
					return fmt.Errorf("store: compact: %w", err)
				}
				if !oldest.Valid || oldest.Int64 >= g.Before {
					break
				}
				if _, err := s.wdb.ExecContext(ctx, `DELETE FROM `+table+` WHERE grain = ? AND bucket < ?`,
					g.Grain, min(g.Before, oldest.Int64+g.Step)); err != nil {
					return fmt.Errorf("store: compact: %w", err)
				}
			}
		}
	}
	return nil
}

// setBounds records lv's grains in rollup_state.
func setBounds(ctx context.Context, tx *sql.Tx, lv rollup.Levels) error {
	if err := setState(ctx, tx, rollup.StateMinuteFrom, strconv.FormatInt(lv.MinuteFrom, 10)); err != nil {
		return err
	}
	return setState(ctx, tx, rollup.StateHourFrom, strconv.FormatInt(lv.HourFrom, 10))
}

// backfillBatch is how many records the backfill counts per transaction;
// a variable for tests.
var backfillBatch = 20000

// backfillRollups builds the rollups of a database written before they
// existed: it reads every record in start order, in batches, and counts
// each batch in its own transaction together with its resume point, so
// that a crash loses nothing and the next Open continues where it stopped.
// The last transaction marks the rollups built. progress, if not nil, is
// told how many records are counted of how many.
func backfillRollups(ctx context.Context, db *sql.DB, now time.Time, progress func(done, total int64)) error {
	built, err := rollup.GetState(ctx, querier{db}, rollup.StateBuilt)
	if err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	}
	if built != "" {
		return nil
	}
	var total int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`).Scan(&total); err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	}
	at := resumePoint{Resume: rollup.NewResume(now), Rowid: -1}
	if err := rollup.ReadResume(ctx, querier{db}, &at); err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	}
	if progress != nil {
		progress(at.Done, total)
	}
	for {
		n, err := backfillStep(ctx, db, &at)
		if err != nil {
			return fmt.Errorf("store: rollups: backfill: %w", err)
		}
		if progress != nil {
			progress(at.Done, max(total, at.Done))
		}
		if n < backfillBatch {
			return nil
		}
	}
}

// resumePoint is where an interrupted backfill continues: after the record
// at (Timestamp, Rowid).
type resumePoint struct {
	rollup.Resume
	Rowid int64 `json:"rowid"`
}

// backfillStep counts the next batch of records after the resume point
// and moves it past them, in one transaction; when the batch is the last,
// it marks the rollups built. It returns how many it counted.
func backfillStep(ctx context.Context, db *sql.DB, at *resumePoint) (int, error) {
	lv := at.Levels()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.QueryContext(ctx, `SELECT rowid, `+rows.StatSelect+` FROM requests
		WHERE (timestamp, rowid) > (?, ?) ORDER BY timestamp, rowid LIMIT ?`, at.Timestamp, at.Rowid, backfillBatch)
	if err != nil {
		return 0, err
	}
	b := rollup.NewBatch(nil)
	n, err := b.AddRows(sqlRows{res}, lv, &at.Timestamp, &at.Rowid)
	res.Close()
	if err != nil {
		return 0, err
	}
	if err := writeBatch(ctx, tx, b); err != nil {
		return 0, err
	}
	at.Done += int64(n)
	if n < backfillBatch {
		if err := setState(ctx, tx, rollup.StateBuilt, "1"); err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM rollup_state WHERE name = ?`, rollup.StateBackfill); err != nil {
			return 0, err
		}
		if err := setBounds(ctx, tx, lv); err != nil {
			return 0, err
		}
	} else {
		resume, err := json.Marshal(at)
		if err != nil {
			return 0, err
		}
		if err := setState(ctx, tx, rollup.StateBackfill, string(resume)); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}
