package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Options is what the contract suite asks of a store it opens, in terms
// every backend understands. The zero value asks for the backend's
// defaults.
type Options struct {
	// MaxHistory is how many of the newest records retention keeps;
	// 0 keeps everything.
	MaxHistory int
	// PruneEvery is how often retention runs on its own; 0 means the
	// backend's default. Tests that prune by hand set it long.
	PruneEvery time.Duration
	// PruneBatch is the most records one retention step deletes; 0 means
	// the backend's default.
	PruneBatch int
	// AfterPrune, when set, is called with the ids of the records
	// retention deleted, as store.Hook.AfterPrune is.
	AfterPrune func(ids []string)
	// EachPageRows and EachPageBytes, when set (both or neither), bound
	// the pages Each reads to that many records or bytes of
	// capture.Record.MemSize, so that a few records span many pages.
	EachPageRows  int
	EachPageBytes int64
}

// Opener opens a store on a fresh, empty database with opts for the test
// t, and closes it when t ends.
type Opener func(t *testing.T, opts Options) store.Store

// Pruner is what a backend's store offers besides store.Store for the
// contract's retention tests: a retention round run now, after every
// record queued before the call is committed, returning how many records
// it deleted. Every backend's store must implement it.
type Pruner interface {
	Prune(ctx context.Context) (int, error)
}

// Run runs the contract every store.Store backend must meet, against
// stores that open returns: records, Get, List, filters, visibility,
// statistics and rollups, sessions, login failures, secrets, retention and the commit-sequence
// feed. It uses only store.Store, Pruner and what the stores return, so
// it runs unchanged against each backend.
func Run(t *testing.T, open Opener) {
	t.Run("Get", func(t *testing.T) { testGet(t, open) })
	t.Run("List", func(t *testing.T) { testList(t, open) })
	t.Run("Visibility", func(t *testing.T) { testVisibility(t, open) })
	t.Run("Filter", func(t *testing.T) { testFilter(t, open) })
	t.Run("FilterMatchesAgreesWithList", func(t *testing.T) { testFilterMatchesAgreesWithList(t, open) })
	t.Run("FilterMatchesPendingOnly", func(t *testing.T) { testFilterMatchesPendingOnly(t, open) })
	t.Run("Each", func(t *testing.T) { testEach(t, open) })
	t.Run("EachCancelled", func(t *testing.T) { testEachCancelled(t, open) })
	t.Run("Existing", func(t *testing.T) { testExisting(t, open) })
	t.Run("LastID", func(t *testing.T) { testLastID(t, open) })
	t.Run("ProviderStored", func(t *testing.T) { testProviderStored(t, open) })

	t.Run("Stats", func(t *testing.T) { testStats(t, open) })
	t.Run("RollupStats", func(t *testing.T) { testRollupStats(t, open) })
	t.Run("Breakdown", func(t *testing.T) { testBreakdown(t, open) })
	t.Run("Series", func(t *testing.T) { testSeries(t, open) })
	t.Run("ModelsMethodsKeysOutliveRetention", func(t *testing.T) { testModelsMethodsKeysOutliveRetention(t, open) })

	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("LoginFailed", func(t *testing.T) { testLoginFailed(t, open) })
	t.Run("Secret", func(t *testing.T) { testSecret(t, open) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open) })

	t.Run("FeedFollowsCommitOrder", func(t *testing.T) { testFeedFollowsCommitOrder(t, open) })
	t.Run("FeedAfterRetention", func(t *testing.T) { testFeedAfterRetention(t, open) })
	t.Run("TextsFollowVisibility", func(t *testing.T) { testTextsFollowVisibility(t, open) })
}

// The viewers of the suite: an admin, and two users by their key hashes.
var (
	admin = store.Viewer{Admin: true}
	alice = store.Viewer{KeyHash: "alice"}
	bob   = store.Viewer{KeyHash: "bob"}
)

// prune runs a retention round on s, failing the test when s is no
// Pruner or the round fails, and returns how many records it deleted.
func prune(t *testing.T, s store.Store) int {
	t.Helper()
	p, ok := s.(Pruner)
	if !ok {
		t.Fatalf("%T does not implement storetest.Pruner", s)
	}
	n, err := p.Prune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
