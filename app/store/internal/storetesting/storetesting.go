// Package storetesting holds what the tests of the SQLite and PostgreSQL
// stores share. Only tests import it.
package storetesting

import (
	"io"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// MustOpen returns the store open opens, failing tb if it cannot, and
// closes it when the test ends, failing tb if that fails.
func MustOpen[S io.Closer](tb testing.TB, open func() (S, error)) S {
	tb.Helper()
	s, err := open()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Contract does what o asks of a store that its options do not say: it
// makes Each read pages of o's sizes, when set, until the test ends. It
// returns the hooks o asks for: the store's options set the rest.
func Contract(tb testing.TB, o storetest.Options) []store.Hook {
	if o.EachPageRows > 0 || o.EachPageBytes > 0 {
		tb.Cleanup(rows.SetEachPage(o.EachPageRows, o.EachPageBytes))
	}
	if o.AfterPrune == nil {
		return nil
	}
	return []store.Hook{{AfterPrune: o.AfterPrune}}
}
