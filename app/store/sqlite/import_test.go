package sqlite_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

func TestExisting(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
	var stored []string
	for range 3 {
		rec := storetest.NewRecord(t, "")
		stored = append(stored, rec.ID)
		storetest.MustRecord(t, s, rec)
	}
	storetest.MustFlush(t, s)

	t.Run("SomePresent", func(t *testing.T) {
		ask := []string{storetest.NewID(t), stored[0], stored[2], storetest.NewID(t), stored[0]}
		got, err := s.Existing(context.Background(), ask)
		if err != nil {
			t.Fatal(err)
		}
		if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, slices.Sorted(slices.Values([]string{stored[0], stored[2]}))) {
			t.Errorf("Existing = %v, want %v and %v", keys, stored[0], stored[2])
		}
	})

	t.Run("MoreThanOneQueryHolds", func(t *testing.T) {
		// 2 500 ids take three queries; the stored ones sit in the first,
		// second and third of them.
		ask := make([]string, 2500)
		for i := range ask {
			ask[i] = storetest.NewID(t)
		}
		ask[10], ask[1500], ask[2499] = stored[0], stored[1], stored[2]
		got, err := s.Existing(context.Background(), ask)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !got[stored[0]] || !got[stored[1]] || !got[stored[2]] {
			t.Errorf("Existing = %v, want the 3 stored ids", got)
		}
	})

	t.Run("NoIDs", func(t *testing.T) {
		got, err := s.Existing(context.Background(), nil)
		if err != nil || len(got) != 0 {
			t.Errorf("Existing(nil) = %v, %v; want empty, nil", got, err)
		}
	})
}
