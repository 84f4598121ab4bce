package sqlite

import (
	"strings"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// filters is SQLite's side of the shared filter conditions (see
// rows.Filters).
var filters = rows.Filters{
	True:  "1",
	False: "0",
	Method: func(m string) (string, any) {
		return "method = ? COLLATE NOCASE", m
	},
	Search:   searchWhere,
	AnyOf:    anyOf,
	Requests: rows.StatusCols{OK: "outcome = 'ok'", NotOK: "outcome <> 'ok'", Status: "response_status"},
	Rollups:  rows.StatusCols{OK: "ok = 1", NotOK: "ok = 0", Status: "status"},
}

// visibleWhere returns the condition that keeps the records v may see.
func visibleWhere(v store.Viewer) (string, []any) { return filters.Visible(v) }

// filterWhere returns f's conditions on requests and their arguments; see
// rows.Filters.Where.
func filterWhere(f store.Filter) (string, []any, error) { return filters.Where(f) }

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

// searchWhere returns the condition of Filter.Search: s as a literal
// substring of any searched column.
func searchWhere(s string) (string, []any) {
	pattern := "%" + escapeLike(s) + "%"
	or, args := make([]string, len(searchColumns)), make([]any, len(searchColumns))
	for i, col := range searchColumns {
		or[i], args[i] = col+` LIKE ? ESCAPE '\'`, pattern
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

// likeEscaper escapes LIKE's wildcards and its escape character, for
// patterns written with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike makes s match itself literally in a LIKE pattern.
func escapeLike(s string) string { return likeEscaper.Replace(s) }
