package postgres

import (
	"context"
	"fmt"
)

// Existing returns which of ids are already stored, so that an import of
// history can skip what an earlier run brought in. Records still waiting
// in the pipeline are not seen.
func (s *Postgres) Existing(ctx context.Context, ids []string) (_ map[string]bool, err error) {
	defer func() { err = unavailable(err) }()
	found := make(map[string]bool)
	if len(ids) == 0 {
		return found, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM requests WHERE id = ANY($1)`, validTexts(ids))
	if err != nil {
		return nil, fmt.Errorf("store: existing ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: existing ids: %w", err)
		}
		found[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: existing ids: %w", err)
	}
	return found, nil
}
