package web

import "testing"

// SetExportSearchPages makes an export answered by the search index ask it
// for page ids at a time, and the store for fetch of them at a time, until
// the test ends, so that a few matches span many pages.
func SetExportSearchPages(tb testing.TB, page, fetch int) {
	oldPage, oldFetch := exportSearchPage, exportFetch
	exportSearchPage, exportFetch = page, fetch
	tb.Cleanup(func() { exportSearchPage, exportFetch = oldPage, oldFetch })
}
