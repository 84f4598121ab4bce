package rollup

import (
	"cmp"
	"strconv"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Grouping says which group a rollup row or a record falls in.
type Grouping struct {
	SQL string // over rollups' columns; "''" for one group
	// GroupBy, when set, is what SQL groups by instead of SQL: the same
	// groups as columns, cheaper to sort than the text SQL makes of them.
	GroupBy string
	Rec     func(r *capture.Record) string // the same for a record
	// ByKeyOnly is set when the groups depend on the key alone, so that
	// the keys' total rows can answer them.
	ByKeyOnly bool
	// ByKey is set when the groups are keys, which rollup_dims lacks.
	ByKey bool
}

// OneGroup puts everything in the group "".
var OneGroup = Grouping{SQL: "''", Rec: func(*capture.Record) string { return "" }, ByKeyOnly: true}

// Groupings are the Breakdown dimensions' groups.
var Groupings = map[store.Dimension]Grouping{
	store.ByModel: {SQL: "CASE WHEN model <> '' THEN model ELSE model_requested END",
		Rec: func(r *capture.Record) string { return cmp.Or(r.Model, r.ModelRequested) }},
	store.ByProvider: {SQL: "provider", Rec: func(r *capture.Record) string { return r.Provider }},
	store.ByStatus:   {SQL: "CAST(status AS TEXT)", Rec: func(r *capture.Record) string { return strconv.Itoa(r.Status) }},
	store.ByStatusClass: {SQL: "CASE WHEN status BETWEEN 100 AND 599 THEN (status / 100) || 'xx' ELSE 'none' END",
		Rec: func(r *capture.Record) string {
			if r.Status >= 100 && r.Status <= 599 {
				return strconv.Itoa(r.Status/100) + "xx"
			}
			return "none"
		}},
	store.ByKey: {SQL: "key_hash", Rec: func(r *capture.Record) string { return r.KeyHash }, ByKeyOnly: true, ByKey: true},
}

// TableFor returns the rollup table answering f grouped by g:
//   - the keys' totals when f filters by nothing but the key and the
//     outcome, which they keep apart: a few rows per bucket;
//   - for an admin who names no key, the rollups summed over the keys, as
//     many rows per bucket as combinations of the other dimensions;
//   - else the rollups of every dimension, which a user's queries read
//     through their key's index.
//
// Visibility needs the key, so only an admin's query may read rollup_dims.
func TableFor(f store.Filter, g Grouping) string {
	if g.ByKeyOnly && f.Model == "" && f.Provider == "" && f.Method == "" &&
		(f.Status == "" || f.Status == store.StatusSuccess || f.Status == store.StatusError) {
		return TotalsTable.Name
	}
	if f.Viewer.Admin && f.KeyHash == "" && !g.ByKey {
		return DimsTable.Name
	}
	return RollupsTable.Name
}

// ListTable is the day rollups' table that lists what v may see: an admin
// sees every key, and the rows summed over the keys are fewer.
func ListTable(v store.Viewer) string {
	if v.Admin {
		return DimsTable.Name
	}
	return RollupsTable.Name
}
