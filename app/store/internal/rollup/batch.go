package rollup

import (
	"cmp"
	"slices"
	"strings"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Dims is the part of a rollup's key that describes the records.
type Dims struct {
	KeyHash, ModelRequested, Model, Provider, Method string
	Status                                           int
	OK, Stream                                       bool
}

// Key names one rollup row.
type Key struct {
	Grain, Bucket int64
	Dims
}

// CompareKeys orders rollup keys as the tables' primary keys do, so that
// a batch's upserts walk each table's pages in order.
func CompareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Grain, b.Grain), cmp.Compare(a.Bucket, b.Bucket), strings.Compare(a.KeyHash, b.KeyHash),
		strings.Compare(a.ModelRequested, b.ModelRequested), strings.Compare(a.Model, b.Model),
		strings.Compare(a.Provider, b.Provider), cmp.Compare(a.Status, b.Status), cmpBool(a.OK, b.OK),
		cmpBool(a.Stream, b.Stream), strings.Compare(a.Method, b.Method))
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// SortedKeys returns the keys of rows in primary key order.
func SortedKeys(rows map[Key]*Sums) []Key {
	keys := make([]Key, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, CompareKeys)
	return keys
}

// Batch aggregates records by rollup row and by key, in memory, so that a
// batch costs one upsert per row touched, not one per record.
type Batch struct {
	Rows   map[Key]*Sums // rollups
	Totals map[Key]*Sums // rollup_totals: only Grain, Bucket, KeyHash and OK set
	Keys   map[string]*KeyRow

	clean func(string) string
}

// KeyRow is one api_keys row's change: Requests more, and the mask of the
// newest record, started at Last (stored form).
type KeyRow struct {
	Mask     string
	Requests int64
	Last     string
}

// NewBatch returns an empty batch. clean, if not nil, is applied to the
// text of the dimensions, as the database can hold it.
func NewBatch(clean func(string) string) *Batch {
	return &Batch{Rows: map[Key]*Sums{}, Totals: map[Key]*Sums{}, Keys: map[string]*KeyRow{}, clean: clean}
}

// dimsOf returns the dimensions a record is counted under.
func (b *Batch) dimsOf(r *capture.Record) Dims {
	d := Dims{
		KeyHash: r.KeyHash, ModelRequested: r.ModelRequested, Model: r.Model, Provider: r.Provider,
		Method: r.Method, Status: r.Status, OK: r.Outcome == capture.OutcomeOK, Stream: r.Stream,
	}
	if b.clean != nil {
		for _, s := range []*string{&d.KeyHash, &d.ModelRequested, &d.Model, &d.Provider, &d.Method} {
			*s = b.clean(*s)
		}
	}
	return d
}

// Add counts r at every grain lv still keeps for its time.
func (b *Batch) Add(r *capture.Record, lv Levels) {
	dims := b.dimsOf(r)
	for _, g := range [...]int64{Minute, Hour, Day} {
		bucket := BucketOf(r.Start, g)
		if g == Minute && bucket < lv.MinuteFrom || g == Hour && bucket < lv.HourFrom {
			continue
		}
		k := Key{Grain: g, Bucket: bucket, Dims: dims}
		s := b.Rows[k]
		if s == nil {
			s = &Sums{}
			b.Rows[k] = s
		}
		s.Add(r)
		// The key's totals of the bucket, for queries that filter by no
		// other dimension: a few rows per bucket instead of hundreds.
		k = Key{Grain: g, Bucket: bucket, Dims: Dims{KeyHash: dims.KeyHash, OK: dims.OK}}
		if s = b.Totals[k]; s == nil {
			s = &Sums{}
			b.Totals[k] = s
		}
		s.Add(r)
	}
	if dims.KeyHash != "" {
		ts := rows.FormatTime(r.Start)
		k := b.Keys[dims.KeyHash]
		if k == nil {
			k = &KeyRow{}
			b.Keys[dims.KeyHash] = k
		}
		k.Requests++
		if ts >= k.Last {
			k.Last, k.Mask = ts, r.KeyMask
		}
	}
}

// DimsRows returns the batch's rollup_dims rows: its rollups rows summed
// over the keys.
func (b *Batch) DimsRows() map[Key]*Sums {
	out := make(map[Key]*Sums, len(b.Rows))
	for k, s := range b.Rows {
		k.KeyHash = ""
		d := out[k]
		if d == nil {
			d = &Sums{}
			out[k] = d
		}
		d.Merge(s)
	}
	return out
}

// Table is one of the rollup tables.
type Table struct {
	Name string
	// Dims are its dimensions, in primary key order after grain and
	// bucket.
	Dims []string
	// KeyArgs appends k's key columns to args, in order.
	KeyArgs func(args []any, k Key) []any
	// KeyDests returns the scan targets of the key columns, in order.
	KeyDests func(k *Key) []any
}

// KeyCols returns the columns of t's primary key.
func (t Table) KeyCols() []string { return append([]string{"grain", "bucket"}, t.Dims...) }

// Cols returns the columns an upsert into t sets: the key, SumCols and
// HistCols.
func (t Table) Cols() []string {
	return append(append(t.KeyCols(), SumCols...), HistCols...)
}

// The rollup tables: every dimension, the rows summed over the keys, and
// each key's totals by outcome.
var (
	RollupsTable = Table{
		Name: "rollups",
		Dims: []string{"key_hash", "model_requested", "model", "provider", "status", "ok", "stream", "method"},
		KeyArgs: func(args []any, k Key) []any {
			return append(args, k.Grain, k.Bucket, k.KeyHash, k.ModelRequested, k.Model, k.Provider, int64(k.Status), k.OK, k.Stream, k.Method)
		},
		KeyDests: func(k *Key) []any {
			return []any{&k.Grain, &k.Bucket, &k.KeyHash, &k.ModelRequested, &k.Model, &k.Provider, &k.Status, &k.OK, &k.Stream, &k.Method}
		},
	}
	DimsTable = Table{
		Name: "rollup_dims",
		Dims: RollupsTable.Dims[1:],
		KeyArgs: func(args []any, k Key) []any {
			return append(args, k.Grain, k.Bucket, k.ModelRequested, k.Model, k.Provider, int64(k.Status), k.OK, k.Stream, k.Method)
		},
		KeyDests: func(k *Key) []any {
			return []any{&k.Grain, &k.Bucket, &k.ModelRequested, &k.Model, &k.Provider, &k.Status, &k.OK, &k.Stream, &k.Method}
		},
	}
	TotalsTable = Table{
		Name: "rollup_totals",
		Dims: []string{"key_hash", "ok"},
		KeyArgs: func(args []any, k Key) []any {
			return append(args, k.Grain, k.Bucket, k.KeyHash, k.OK)
		},
		KeyDests: func(k *Key) []any {
			return []any{&k.Grain, &k.Bucket, &k.KeyHash, &k.OK}
		},
	}
)

// TableNames are the tables compaction thins out.
var TableNames = []string{"rollups", "rollup_totals", "rollup_dims"}

// Tables are the rollup tables, in the order writers upsert into them.
var Tables = []Table{RollupsTable, DimsTable, TotalsTable}

// PerTable returns prepare's result for each of Tables, by table name: a
// store's statements for each table.
func PerTable[T any](prepare func(Table) T) map[string]T {
	m := make(map[string]T, len(Tables))
	for _, t := range Tables {
		m[t.Name] = prepare(t)
	}
	return m
}

// TableRows are a batch's rows of one rollup table.
type TableRows struct {
	Table
	Rows map[Key]*Sums
}

// ByTable returns the batch's rows of each of Tables, in its order. Every
// writer upserts the tables in this one order, each in primary key order
// (SortedKeys), so that concurrent writers take their row locks in one
// order and cannot deadlock.
func (b *Batch) ByTable() []TableRows {
	return []TableRows{{RollupsTable, b.Rows}, {DimsTable, b.DimsRows()}, {TotalsTable, b.Totals}}
}
