package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Commit writes batch in one transaction: the rows, the rollups and
// api_keys, and last each record's commit sequence (setting rec.Seq),
// following migration 0003's protocol. On error nothing of the batch is
// kept. It is the pipeline's Backend; concurrent calls, from this replica
// or others, are safe.
//
// The transaction runs at READ COMMITTED, which the sequence needs: the
// counter's UPDATE waits for the writer that holds it to commit, then
// reads what that writer committed. Every lock a batch takes (its rollup
// rows, in primary key order, table after table in one order) comes before
// the counter's, and none after it, so writers cannot deadlock.
func (s *Postgres) Commit(ctx context.Context, batch []*capture.Record) error {
	if len(batch) == 0 {
		return nil
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback(ctx)

	_, err = tx.CopyFrom(ctx, pgx.Identifier{"requests"}, columnNames, pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
		row := make([]any, len(rows.Columns))
		for j, c := range rows.Columns {
			v := c.Arg(batch[i])
			if str, ok := v.(string); ok {
				v = validText(str)
			}
			row[j] = v
		}
		return row, nil
	}))
	if err != nil {
		return fmt.Errorf("store: insert: %w", err)
	}

	// The rollups count the batch in its own transaction, so they never
	// disagree with the rows.
	b := rollup.NewBatch(validText)
	lv := *s.levels.Load()
	for _, r := range batch {
		b.Add(r, lv)
	}
	if err := writeBatch(ctx, tx, b); err != nil {
		return fmt.Errorf("store: insert: %w", err)
	}

	// The commit sequence, last: the counter's row lock is held from here
	// to COMMIT, so seqs are handed out in commit order.
	var last int64
	if err := tx.QueryRow(ctx, `UPDATE request_seq_counter SET seq = seq + $1 RETURNING seq`, len(batch)).Scan(&last); err != nil {
		return fmt.Errorf("store: insert: sequence: %w", err)
	}
	seqs, ids := make([]int64, len(batch)), make([]string, len(batch))
	for i, r := range batch {
		seqs[i], ids[i] = last-int64(len(batch)-1-i), validText(r.ID)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO request_seq (seq, id) SELECT * FROM unnest($1::bigint[], $2::text[])`, seqs, ids); err != nil {
		return fmt.Errorf("store: insert: sequence: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	for i, r := range batch {
		r.Seq = seqs[i]
	}
	return nil
}
