package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
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

// statusCols names how a table holds a record's outcome and status, for
// Filter.Status.
type statusCols struct {
	ok, notOK, status string
}

var (
	requestsCols = statusCols{ok: "outcome = 'ok'", notOK: "outcome <> 'ok'", status: "response_status"}
	rollupsCols  = statusCols{ok: "ok = 1", notOK: "ok = 0", status: "status"}
)

// dimsWhere returns the conditions of f that the requests and rollups
// tables share, visibility first: KeyHash, Status, Model, Provider and
// Method. Both tables name these columns alike but for the outcome.
func dimsWhere(f Filter, c statusCols) ([]string, []any, error) {
	vis, args := visibleWhere(f.Viewer)
	where := []string{vis}

	if f.KeyHash != "" {
		where, args = append(where, "key_hash = ?"), append(args, f.KeyHash)
	}
	switch f.Status {
	case "":
	case StatusSuccess:
		where = append(where, c.ok)
	case StatusError:
		where = append(where, c.notOK)
	case Status2xx:
		where = append(where, c.status+" BETWEEN 200 AND 299")
	case Status4xx:
		where = append(where, c.status+" BETWEEN 400 AND 499")
	case Status5xx:
		where = append(where, c.status+" BETWEEN 500 AND 599")
	default:
		return nil, nil, fmt.Errorf("%w: unknown status %q", ErrInvalid, f.Status)
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

// Matches reports whether a row not yet stored, such as an exchange still in
// flight, passes f. It mirrors filterWhere, so that such a row shows exactly
// where its stored record will: visibility first, failing closed (an admin
// sees every row, anyone else only rows of their own key, and a non-admin
// without a key sees nothing), then KeyHash, Model (exact), Method (ignoring
// ASCII case, as COLLATE NOCASE does) and From (inclusive) and To
// (exclusive), compared at the microsecond precision timestamps are stored
// at. Limit and Offset are ignored.
//
// A row not yet stored has only some of a record's fields, so four
// conditions differ from the query's:
//   - Search looks only in path, model and method, as a literal substring
//     ignoring ASCII case, as LIKE does;
//   - any Status matches nothing, since the row has no outcome yet (an
//     unknown Status, which List rejects, matches nothing too);
//   - any Provider matches nothing, since the answer has not named one;
//   - non-nil IDs match nothing: they name stored records found elsewhere
//     (a search index), which a row not yet stored cannot be among.
func (f Filter) Matches(keyHash, method, model, path string, start time.Time) bool {
	switch {
	case f.Viewer.Admin:
	case f.Viewer.KeyHash == "" || keyHash != f.Viewer.KeyHash:
		return false
	}
	if f.KeyHash != "" && keyHash != f.KeyHash {
		return false
	}
	if f.Status != "" || f.IDs != nil {
		return false
	}
	if f.Model != "" && model != f.Model {
		return false
	}
	if f.Provider != "" {
		return false // a row not yet stored has no provider yet
	}
	if f.Method != "" && asciiLower(method) != asciiLower(f.Method) {
		return false
	}
	// Stored timestamps are formatted at microsecond precision, which
	// truncates; compare what the query would compare.
	t := start.Truncate(time.Microsecond)
	if !f.From.IsZero() && t.Before(f.From.Truncate(time.Microsecond)) {
		return false
	}
	if !f.To.IsZero() && !t.Before(f.To.Truncate(time.Microsecond)) {
		return false
	}
	if f.Search != "" {
		needle := asciiLower(f.Search)
		return strings.Contains(asciiLower(path), needle) || strings.Contains(asciiLower(model), needle) ||
			strings.Contains(asciiLower(method), needle)
	}
	return true
}

// asciiLower lowers only ASCII letters, as SQLite's LIKE and NOCASE fold
// only those: "Ä" and "ä" stay different, as they do in the query.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// likeEscaper escapes LIKE's wildcards and its escape character, for
// patterns written with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike makes s match itself literally in a LIKE pattern.
func escapeLike(s string) string { return likeEscaper.Replace(s) }
