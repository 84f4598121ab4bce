package sqlite

import (
	"fmt"
	"strings"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// visibleWhere returns the condition that keeps the records v may see. It
// fails closed: a viewer that is neither an admin nor has a key gets a
// condition no row meets.
func visibleWhere(v store.Viewer) (string, []any) {
	switch {
	case v.Admin:
		return "1", nil
	case v.KeyHash == "":
		return "0", nil
	default:
		return "key_hash = ?", []any{v.KeyHash}
	}
}

// searchColumns are the expressions Filter.Search looks in. The bodies are
// BLOBs; LIKE needs them as text.
var searchColumns = []string{
	"url",
	"method",
	"model",
	"model_requested",
	"error",
	"content",
	"CAST(body AS TEXT)",
	"CAST(response_body AS TEXT)",
}

// filterWhere returns f's conditions, visibility first, joined with AND,
// and their arguments, or an error wrapping ErrInvalid. Limit and Offset
// are not part of it.
func filterWhere(f store.Filter) (string, []any, error) {
	where, args, err := dimsWhere(f, requestsCols)
	if err != nil {
		return "", nil, err
	}
	if f.Search != "" {
		pattern := "%" + escapeLike(f.Search) + "%"
		or := make([]string, len(searchColumns))
		for i, col := range searchColumns {
			or[i] = col + ` LIKE ? ESCAPE '\'`
			args = append(args, pattern)
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if !f.From.IsZero() {
		where, args = append(where, "timestamp >= ?"), append(args, rows.FormatTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "timestamp < ?"), append(args, rows.FormatTime(f.To))
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			where = append(where, "0")
		} else {
			cond, ids := anyOf("id", f.IDs)
			where, args = append(where, cond), append(args, ids)
		}
	}
	if f.Limit < 0 || f.Offset < 0 {
		return "", nil, fmt.Errorf("%w: negative limit or offset", store.ErrInvalid)
	}
	return strings.Join(where, " AND "), args, nil
}

// How the requests and rollups tables hold a record's outcome and status.
var (
	requestsCols = rows.StatusCols{OK: "outcome = 'ok'", NotOK: "outcome <> 'ok'", Status: "response_status"}
	rollupsCols  = rows.StatusCols{OK: "ok = 1", NotOK: "ok = 0", Status: "status"}
)

// dimsWhere returns the conditions of f that the requests and rollups
// tables share, visibility first: KeyHash, Status, Model, Provider and
// Method. Both tables name these columns alike but for the outcome.
func dimsWhere(f store.Filter, c rows.StatusCols) ([]string, []any, error) {
	vis, args := visibleWhere(f.Viewer)
	where := []string{vis}

	if f.KeyHash != "" {
		where, args = append(where, "key_hash = ?"), append(args, f.KeyHash)
	}
	if cond, err := rows.StatusCond(f.Status, c); err != nil {
		return nil, nil, err
	} else if cond != "" {
		where = append(where, cond)
	}
	if f.Model != "" {
		where, args = append(where, "(model = ? OR model_requested = ?)"), append(args, f.Model, f.Model)
	}
	if f.Provider != "" {
		where, args = append(where, "provider = ?"), append(args, f.Provider)
	}
	if f.Method != "" {
		where, args = append(where, "method = ? COLLATE NOCASE"), append(args, f.Method)
	}
	return where, args, nil
}

// likeEscaper escapes LIKE's wildcards and its escape character, for
// patterns written with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike makes s match itself literally in a LIKE pattern.
func escapeLike(s string) string { return likeEscaper.Replace(s) }
