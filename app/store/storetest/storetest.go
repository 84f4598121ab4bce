// Package storetest holds the contract test suite every store.Store
// backend passes (Run), and test helpers that work with any store.Store, so
// that the tests of every backend share them. It imports no driver, and is
// imported only by tests.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// MustFlush flushes s, failing the test on error.
func MustFlush(tb testing.TB, s store.Store) {
	tb.Helper()
	if err := s.Flush(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// MustCount returns how many records s holds, as an admin sees them,
// failing the test on error.
func MustCount(tb testing.TB, s store.Store) int64 {
	tb.Helper()
	n, err := s.Count(context.Background(), store.Filter{Viewer: store.Viewer{Admin: true}})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// MustRecord queues rec, failing the test on error.
func MustRecord(tb testing.TB, s store.Store, rec *capture.Record) {
	tb.Helper()
	if err := s.Record(rec); err != nil {
		tb.Fatal(err)
	}
}

// NewID returns a fresh UUIDv7 string, as the proxy assigns.
func NewID(tb testing.TB) string {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatal(err)
	}
	return id.String()
}

// NewRecord returns an analysed record with a fresh id, started now and
// made with the key whose fingerprint is keyHash, so that the store's call
// to Analyze has nothing left to do.
func NewRecord(tb testing.TB, keyHash string) *capture.Record {
	tb.Helper()
	return &capture.Record{
		ID:             NewID(tb),
		Start:          time.Now(),
		Method:         "POST",
		URL:            "/v1/chat/completions",
		Path:           "/chat/completions",
		ReqBody:        capture.Body{Size: 2},
		ReqBodyStored:  []byte("{}"),
		Status:         200,
		Analyzed:       true,
		KeyHash:        keyHash,
		ReqHeaderJSON:  `{}`,
		RespHeaderJSON: `{}`,
		Outcome:        capture.OutcomeOK,
		Attempts:       1,
	}
}
