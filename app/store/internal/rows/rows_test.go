package rows_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

func TestTime(t *testing.T) {
	at := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.FixedZone("X", 3600))
	s := rows.FormatTime(at)
	if s != "2026-02-03T03:05:06.000007Z" {
		t.Fatalf("FormatTime = %q", s)
	}
	for _, in := range []string{s, "2026-02-03T03:05:06.000007", "2026-02-03 03:05:06.000007", "2026-02-03T04:05:06.000007+01:00"} {
		got, err := rows.ParseTime(in)
		if err != nil || !got.Equal(at) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v in UTC", in, got, err, at)
		}
	}
	if _, err := rows.ParseTime("yesterday"); err == nil {
		t.Error("ParseTime(yesterday) did not fail")
	}
}

func TestMS(t *testing.T) {
	d := 1500*time.Millisecond + 3
	if got := rows.FromMS(rows.ToMS(d)); got != d {
		t.Fatalf("FromMS(ToMS(%v)) = %v", d, got)
	}
	if rows.NullMS(0) != nil || rows.NullMS(time.Millisecond) != 1.0 {
		t.Fatal("NullMS")
	}
	if rows.NullInt(0) != nil || rows.NullInt(200) != int64(200) || rows.NullString("") != nil || rows.NullString("x") != "x" {
		t.Fatal("NullInt or NullString")
	}
}

func TestColumns(t *testing.T) {
	names := rows.Names()
	if len(names) != len(rows.Columns) || names[0] != "id" || names[1] != "timestamp" {
		t.Fatalf("Names = %v", names)
	}
	full, light := rows.SelectList(true), rows.SelectList(false)
	if !strings.HasPrefix(full, "id, timestamp, ") || !strings.HasSuffix(full, "COALESCE(provider, '')") {
		t.Fatalf("SelectList(true) = %s", full)
	}
	if strings.Contains(light, "response_body") || !strings.Contains(full, "response_body") {
		t.Fatalf("SelectList(false) = %s", light)
	}
}

// filters is a dialect of the tests, marking what it was asked for.
var filters = rows.Filters{
	True: "T", False: "F",
	Text:     strings.ToUpper,
	Method:   func(m string) (string, any) { return "method ~ ?", m },
	Search:   func(s string) (string, []any) { return "search(?)", []any{s} },
	AnyOf:    func(col string, vals []string) (string, any) { return col + " IN ?", strings.Join(vals, ",") },
	Requests: rows.StatusCols{OK: "ok", NotOK: "not ok", Status: "st"},
}

func TestFiltersWhere(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		f     store.Filter
		where string
		args  []any
		err   error
	}{
		{"nobody", store.Filter{}, "F", nil, nil},
		{"admin", store.Filter{Viewer: store.Viewer{Admin: true}}, "T", nil, nil},
		{"user", store.Filter{Viewer: store.Viewer{KeyHash: "k"}, Status: store.Status4xx}, "key_hash = ? AND st BETWEEN 400 AND 499", []any{"K"}, nil},
		{"everything", store.Filter{Viewer: store.Viewer{Admin: true}, KeyHash: "k", Status: store.StatusError, Model: "m",
			Provider: "p", Method: "get", Search: "s", From: from, To: from.Add(time.Hour), IDs: []string{"a", "b"}},
			"T AND key_hash = ? AND not ok AND (model = ? OR model_requested = ?) AND provider = ? AND method ~ ? AND search(?) AND timestamp >= ? AND timestamp < ? AND id IN ?",
			[]any{"K", "M", "M", "P", "get", "s", "2026-01-01T00:00:00.000000Z", "2026-01-01T01:00:00.000000Z", "a,b"}, nil},
		{"no ids", store.Filter{Viewer: store.Viewer{Admin: true}, IDs: []string{}}, "T AND F", nil, nil},
		{"unknown status", store.Filter{Status: "3xx"}, "", nil, store.ErrInvalid},
		{"negative limit", store.Filter{Limit: -1}, "", nil, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			where, args, err := filters.Where(tc.f)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if where != tc.where || !reflect.DeepEqual(args, tc.args) {
				t.Errorf("Where =\n%s %v\nwant\n%s %v", where, args, tc.where, tc.args)
			}
		})
	}
}
