package sqlite

import (
	"context"
	"fmt"
	"strings"
)

// existingChunk is the most ids one query asks about: well under SQLite's
// limit on bound parameters, and enough to make one query per import batch.
const existingChunk = 1000

// Existing returns which of ids are already stored, so that an import of
// history can skip what an earlier run brought in. It reads from the
// read-only pool: records still waiting for the writer are not seen.
func (s *SQLite) Existing(ctx context.Context, ids []string) (map[string]bool, error) {
	found := make(map[string]bool)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), existingChunk)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q := `SELECT id FROM requests WHERE id IN (?` + strings.Repeat(", ?", len(chunk)-1) + `)`
		rows, err := s.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("store: existing ids: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: existing ids: %w", err)
			}
			found[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: existing ids: %w", err)
		}
	}
	return found, nil
}
