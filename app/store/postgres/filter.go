package postgres

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// visibleWhere returns the condition that keeps the records v may see. It
// fails closed: a viewer that is neither an admin nor has a key gets a
// condition no row meets.
func visibleWhere(v store.Viewer) (string, []any) {
	switch {
	case v.Admin:
		return "TRUE", nil
	case v.KeyHash == "":
		return "FALSE", nil
	default:
		return "key_hash = ?", []any{textArg(v.KeyHash)}
	}
}

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
	needle := asciiLower(s)
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

// filterWhere returns f's conditions, visibility first, joined with AND,
// and their arguments, or an error wrapping ErrInvalid. Limit and Offset
// are not part of it.
func filterWhere(f store.Filter) (string, []any, error) {
	where, args, err := dimsWhere(f, requestsCols)
	if err != nil {
		return "", nil, err
	}
	if f.Search != "" {
		cond, sargs := searchWhere(f.Search)
		where, args = append(where, cond), append(args, sargs...)
	}
	if !f.From.IsZero() {
		where, args = append(where, "timestamp >= ?"), append(args, rows.FormatTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "timestamp < ?"), append(args, rows.FormatTime(f.To))
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			where = append(where, "FALSE")
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

// How the requests and rollups tables hold a record's outcome and status.
var (
	requestsCols = rows.StatusCols{OK: "outcome = 'ok'", NotOK: "outcome <> 'ok'", Status: "response_status"}
	rollupsCols  = rows.StatusCols{OK: "ok", NotOK: "NOT ok", Status: "status"}
)

// dimsWhere returns the conditions of f that the requests and rollups
// tables share, visibility first: KeyHash, Status, Model, Provider and
// Method. Both tables name these columns alike but for the outcome.
func dimsWhere(f store.Filter, c rows.StatusCols) ([]string, []any, error) {
	vis, args := visibleWhere(f.Viewer)
	where := []string{vis}

	if f.KeyHash != "" {
		where, args = append(where, "key_hash = ?"), append(args, textArg(f.KeyHash))
	}
	if cond, err := rows.StatusCond(f.Status, c); err != nil {
		return nil, nil, err
	} else if cond != "" {
		where = append(where, cond)
	}
	if f.Model != "" {
		m := textArg(f.Model)
		where, args = append(where, "(model = ? OR model_requested = ?)"), append(args, m, m)
	}
	if f.Provider != "" {
		where, args = append(where, "provider = ?"), append(args, textArg(f.Provider))
	}
	if f.Method != "" {
		// lower() of a COLLATE "C" column folds ASCII letters only, as
		// SQLite's NOCASE does; the argument is folded alike here.
		where, args = append(where, "lower(method) = ?"), append(args, textArg(asciiLower(f.Method)))
	}
	return where, args, nil
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

// asciiLower lowers only ASCII letters, as SQLite's LIKE and NOCASE fold
// only those.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
