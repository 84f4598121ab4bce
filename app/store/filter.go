package store

import (
	"strings"
	"time"
)

// Matches reports whether a row not yet stored, such as an exchange still in
// flight, passes f. It mirrors the stores' queries, so that such a row shows
// exactly where its stored record will: visibility first, failing closed (an
// admin sees every row, anyone else only rows of their own key, and a
// non-admin without a key sees nothing), then KeyHash, Model (exact), Method
// (ignoring ASCII case, as COLLATE NOCASE does) and From (inclusive) and To
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
	if f.Method != "" && FoldASCII(method) != FoldASCII(f.Method) {
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
		needle := FoldASCII(f.Search)
		return strings.Contains(FoldASCII(path), needle) || strings.Contains(FoldASCII(model), needle) ||
			strings.Contains(FoldASCII(method), needle)
	}
	return true
}

// FoldASCII lowers only ASCII letters, as SQLite's LIKE and NOCASE fold
// only those: "Ä" and "ä" stay different. Every store compares Method and
// Search this way.
func FoldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
