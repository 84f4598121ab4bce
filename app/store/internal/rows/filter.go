package rows

import (
	"fmt"
	"strings"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Filters is a store's SQL for the conditions of a store.Filter: the
// pieces that differ between the stores, around the logic they share.
// Conditions are written with ? placeholders.
type Filters struct {
	// True and False are the conditions every row meets and no row does.
	True, False string
	// Text, when set, returns a text argument as the store compares it
	// with its columns.
	Text func(s string) string
	// Method returns the condition that the method is m, ignoring the
	// case of ASCII letters, and its argument.
	Method func(m string) (string, any)
	// Search returns the condition of Filter.Search s, and its arguments.
	Search func(s string) (string, []any)
	// AnyOf returns the condition that col is one of vals, and its one
	// argument: one, as a search index may hand over more ids than a
	// statement takes parameters.
	AnyOf func(col string, vals []string) (string, any)
	// Requests and Rollups say how the requests table and the rollup
	// tables hold a record's outcome and status.
	Requests, Rollups StatusCols
}

// StatusCols names how a table holds a record's outcome and status, for
// Filter.Status: the conditions of an ok and of a failed outcome, and the
// status column.
type StatusCols struct {
	OK, NotOK, Status string
}

// text returns s as d.Text makes it.
func (d *Filters) text(s string) string {
	if d.Text == nil {
		return s
	}
	return d.Text(s)
}

// Visible returns the condition that keeps the records v may see. It
// fails closed: a viewer that is neither an admin nor has a key gets a
// condition no row meets.
func (d *Filters) Visible(v store.Viewer) (string, []any) {
	switch {
	case v.Admin:
		return d.True, nil
	case v.KeyHash == "":
		return d.False, nil
	default:
		return "key_hash = ?", []any{d.text(v.KeyHash)}
	}
}

// Where returns f's conditions on requests, visibility first, joined with
// AND, and their arguments, or an error wrapping ErrInvalid. Limit and
// Offset are not part of it.
func (d *Filters) Where(f store.Filter) (string, []any, error) {
	where, args, err := d.Dims(f, d.Requests)
	if err != nil {
		return "", nil, err
	}
	if f.Search != "" {
		cond, sargs := d.Search(f.Search)
		where, args = append(where, cond), append(args, sargs...)
	}
	if !f.From.IsZero() {
		where, args = append(where, "timestamp >= ?"), append(args, FormatTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "timestamp < ?"), append(args, FormatTime(f.To))
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			where = append(where, d.False)
		} else {
			cond, ids := d.AnyOf("id", f.IDs)
			where, args = append(where, cond), append(args, ids)
		}
	}
	if f.Limit < 0 || f.Offset < 0 {
		return "", nil, fmt.Errorf("%w: negative limit or offset", store.ErrInvalid)
	}
	return strings.Join(where, " AND "), args, nil
}

// Dims returns the conditions of f that the requests and rollup tables
// share, visibility first: KeyHash, Status, Model, Provider and Method.
// The tables name these columns alike but for the outcome and status,
// which c names.
func (d *Filters) Dims(f store.Filter, c StatusCols) ([]string, []any, error) {
	vis, args := d.Visible(f.Viewer)
	where := []string{vis}

	if f.KeyHash != "" {
		where, args = append(where, "key_hash = ?"), append(args, d.text(f.KeyHash))
	}
	switch f.Status {
	case "":
	case store.StatusSuccess:
		where = append(where, c.OK)
	case store.StatusError:
		where = append(where, c.NotOK)
	case store.Status2xx:
		where = append(where, c.Status+" BETWEEN 200 AND 299")
	case store.Status4xx:
		where = append(where, c.Status+" BETWEEN 400 AND 499")
	case store.Status5xx:
		where = append(where, c.Status+" BETWEEN 500 AND 599")
	default:
		return nil, nil, fmt.Errorf("%w: unknown status %q", store.ErrInvalid, f.Status)
	}
	if f.Model != "" {
		m := d.text(f.Model)
		where, args = append(where, "(model = ? OR model_requested = ?)"), append(args, m, m)
	}
	if f.Provider != "" {
		where, args = append(where, "provider = ?"), append(args, d.text(f.Provider))
	}
	if f.Method != "" {
		cond, arg := d.Method(f.Method)
		where, args = append(where, cond), append(args, arg)
	}
	return where, args, nil
}
