package postgres

import (
	"strings"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// filters is PostgreSQL's side of the shared filter conditions (see
// rows.Filters).
var filters = rows.Filters{
	True:  "TRUE",
	False: "FALSE",
	Text:  textArg,
	Method: func(m string) (string, any) {
		// lower() of a COLLATE "C" column folds ASCII letters only, as
		// SQLite's NOCASE does; the argument is folded alike here.
		return "lower(method) = ?", textArg(store.FoldASCII(m))
	},
	Search:   searchWhere,
	AnyOf:    anyOf,
	Requests: rows.StatusCols{OK: "outcome = 'ok'", NotOK: "outcome <> 'ok'", Status: "response_status"},
	Rollups:  rows.StatusCols{OK: "ok", NotOK: "NOT ok", Status: "status"},
}

// visibleWhere returns the condition that keeps the records v may see.
func visibleWhere(v store.Viewer) (string, []any) { return filters.Visible(v) }

// filterWhere returns f's conditions on requests and their arguments; see
// rows.Filters.Where.
func filterWhere(f store.Filter) (string, []any, error) { return filters.Where(f) }

// searchTextColumns are the text columns Filter.Search looks in. Each is
// COLLATE "C", so lower() folds ASCII letters only, as SQLite's LIKE does.
var searchTextColumns = []string{"url", "method", "model", "model_requested", "error", "content"}

// searchBodyColumns are the bytea columns Filter.Search looks in. SQLite
// casts them to text, byte for byte, and LIKE reads that text up to its
// first NUL; here each byte becomes the character of the same number
// (LATIN1 to the database's encoding never fails but on NUL, hence the
// cut), which lower() under COLLATE "C" folds for ASCII letters only.
var searchBodyColumns = []string{"body", "response_body"}

// bodyText is the text searched for in the bytea column col.
func bodyText(col string) string {
	nul := `position('\x00'::bytea IN ` + col + `)`
	return `lower(convert_from(CASE WHEN ` + nul + ` > 0 THEN substring(` + col + ` FROM 1 FOR ` + nul + ` - 1) ELSE ` +
		col + ` END, 'LATIN1') COLLATE "C")`
}

// latin1 returns the text whose characters are the bytes of s, as
// bodyText makes of a column.
func latin1(s string) string {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

// searchWhere returns the condition of Filter.Search: s, its ASCII letters
// folded, as a literal substring of any searched column. Nothing is a
// wildcard: strpos compares literally.
func searchWhere(s string) (string, []any) {
	needle := store.FoldASCII(s)
	if strings.IndexByte(needle, 0) >= 0 {
		// No stored text holds a NUL, and SQLite's LIKE reads none.
		return "FALSE", nil
	}
	var (
		or   []string
		args []any
	)
	if utf8.ValidString(needle) {
		// Text columns hold valid UTF-8 only: an invalid needle is in none.
		for _, col := range searchTextColumns {
			or, args = append(or, "strpos(lower("+col+"), ?) > 0"), append(args, needle)
		}
	}
	for _, col := range searchBodyColumns {
		or, args = append(or, "strpos("+bodyText(col)+", ?) > 0"), append(args, latin1(needle))
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

// validTexts returns ss without the strings PostgreSQL's text cannot hold
// (invalid UTF-8, NUL), which match no stored id anyway.
func validTexts(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
			out = append(out, s)
		}
	}
	return out
}

// textArg returns s as PostgreSQL's text can hold it: invalid UTF-8 and
// NUL, which no stored value holds, become a value no stored one equals.
func textArg(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD") + "\uFFFF"
}

// validText returns s as PostgreSQL's text can store it: invalid UTF-8
// replaced by U+FFFD, NUL dropped. Text from the upstream is nearly always
// valid; a record must not be lost for a stray byte.
func validText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
