package sqlite

import (
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// SetEachPage makes Each read pages of at most rows records or bytes of
// MemSize until the test ends, so that a few records span many pages.
func SetEachPage(tb testing.TB, n int, bytes int64) { tb.Cleanup(rows.SetEachPage(n, bytes)) }
