package store

import (
	"encoding/json"
	"fmt"
	"strings"
)

// visibleWhere returns the condition that keeps the records v may see. It
// fails closed: a viewer that is neither an admin nor has a key gets a
// condition no row meets.
func visibleWhere(v Viewer) (string, []any) {
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
func filterWhere(f Filter) (string, []any, error) {
	vis, args := visibleWhere(f.Viewer)
	where := []string{vis}

	if f.KeyHash != "" {
		where, args = append(where, "key_hash = ?"), append(args, f.KeyHash)
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
	switch f.Status {
	case "":
	case StatusSuccess:
		where = append(where, "outcome = 'ok'")
	case StatusError:
		where = append(where, "outcome <> 'ok'")
	case Status2xx:
		where = append(where, "response_status BETWEEN 200 AND 299")
	case Status4xx:
		where = append(where, "response_status BETWEEN 400 AND 499")
	case Status5xx:
		where = append(where, "response_status BETWEEN 500 AND 599")
	default:
		return "", nil, fmt.Errorf("%w: unknown status %q", ErrInvalid, f.Status)
	}
	if f.Model != "" {
		where, args = append(where, "(model = ? OR model_requested = ?)"), append(args, f.Model, f.Model)
	}
	if f.Method != "" {
		where, args = append(where, "method = ? COLLATE NOCASE"), append(args, f.Method)
	}
	if !f.From.IsZero() {
		where, args = append(where, "timestamp >= ?"), append(args, formatTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "timestamp < ?"), append(args, formatTime(f.To))
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			where = append(where, "0")
		} else {
			// One JSON argument instead of one per id: a search index
			// may hand over more ids than SQLite allows variables.
			ids, err := json.Marshal(f.IDs)
			if err != nil {
				return "", nil, fmt.Errorf("encode ids: %w", err)
			}
			where, args = append(where, "id IN (SELECT value FROM json_each(?))"), append(args, string(ids))
		}
	}
	if f.Limit < 0 || f.Offset < 0 {
		return "", nil, fmt.Errorf("%w: negative limit or offset", ErrInvalid)
	}
	return strings.Join(where, " AND "), args, nil
}

// likeEscaper escapes LIKE's wildcards and its escape character, for
// patterns written with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike makes s match itself literally in a LIKE pattern.
func escapeLike(s string) string { return likeEscaper.Replace(s) }
